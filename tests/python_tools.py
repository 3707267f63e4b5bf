#!/usr/bin/env python3
"""Runs the Python package's pytest suite (tools/tests) for meson, from tools/ (where normlab_tools
imports without installing); exit 77 (a skip) when pytest is not installed."""
import subprocess
import sys

try:
    import pytest  # noqa: F401
except ImportError:
    print("skipped: pytest is not installed for python3 (python3 -m pip install pytest adds it)")
    sys.exit(77)
sys.exit(subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]).returncode)
