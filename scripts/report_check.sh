#!/usr/bin/env bash
# scripts/report_check.sh REPORT.html: opens a compare_runs report in headless Chromium (Debian's
# chromium package) and checks the page as the browser built it: it loaded, nothing it references
# failed to load (it references nothing: everything is inline), no console errors, and every figure
# has data (an inline SVG with at least as many drawn paths as the lines its data-lines attribute
# announces, and at least one). Exit 0 when all hold; otherwise each failure is printed.
#   scripts/report_check.sh --self-test   also shows that the check fails on a report with an empty figure
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/deps.sh"
deps_tool chromium chromium

check() {
    local report=$1 tmp
    tmp=$(mktemp -d)
    # --dump-dom prints the DOM after load; --enable-logging writes console messages to stderr
    if ! timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --enable-logging=stderr --v=0 \
        --user-data-dir="$tmp/profile" --dump-dom "file://$(realpath "$report")" >"$tmp/dom.html" 2>"$tmp/log"; then
        echo "report_check: chromium failed on $report:" >&2
        tail -20 "$tmp/log" >&2
        rm -rf "$tmp"
        return 1
    fi
    python3 - "$tmp/dom.html" "$tmp/log" "$report" <<'PY'
import re, sys
dom, log, report = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
bad = []
if "id=\"end\"" not in dom and "id='end'" not in dom:
    bad.append("the page did not load to its end")
bad += [f"console: {l}" for l in log.splitlines() if "CONSOLE" in l]
bad += [f"a load failed: {l}" for l in log.splitlines() if "net::ERR" in l]
figures = re.findall(r'<figure id="([^"]+)" data-lines="(\d+)">(.*?)</figure>', dom, re.S)
if not figures:
    bad.append("no figures")
for name, lines, body in figures:
    paths = len(re.findall(r"<path ", body))
    if "<svg" not in body:
        bad.append(f"figure {name}: no inline SVG")
    elif int(lines) < 1:
        bad.append(f"figure {name}: no line has data")
    elif paths < int(lines):
        bad.append(f"figure {name}: {paths} paths drawn for {lines} lines")
for b in bad:
    print(f"report_check: {report}: {b}", file=sys.stderr)
if not bad:
    print(f"report_check: {report}: loaded in Chromium, {len(figures)} figures, each with data")
sys.exit(1 if bad else 0)
PY
    local rc=$?
    rm -rf "$tmp"
    return $rc
}

if [ "${1:-}" = --self-test ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    printf '<!DOCTYPE html><html><body><figure id="x" data-lines="0"><svg></svg></figure><p id="end"></p></body></html>' >"$tmp/empty.html"
    if check "$tmp/empty.html" 2>/dev/null; then
        echo "report_check: the self-test's empty figure passed: the check is broken" >&2
        exit 1
    fi
    echo "report_check: a report with an empty figure fails, as it should"
    exit 0
fi
check "$1"
