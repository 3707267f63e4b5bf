#!/usr/bin/env python3
"""Lists the tests meson skipped in a build's last run, each with the reason it printed (the command
that enables it is in that reason). ./run-tests runs it last, where it is seen.
  scripts/skipped.py BUILD/meson-logs/testlog.json"""
import json
import sys


def skipped(path):
    """[(test name, its reason)] for every SKIP in a meson testlog.json."""
    try:
        rows = [json.loads(line) for line in open(path) if line.strip()]
    except (OSError, ValueError):
        return []
    out = []
    for r in rows:
        if r.get("result") == "SKIP":
            why = [x for x in (r.get("stdout") or "").splitlines() if x.strip()]
            out.append((r.get("name", "?"), why[-1] if why else "no reason printed"))
    return out


if __name__ == "__main__":
    for name, why in skipped(sys.argv[1]):
        print(f"SKIPPED {name}: {why}")
