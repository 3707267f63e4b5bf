#!/usr/bin/env python3
"""The house's rules, and the table of which files each kind of change touches, counted from the
code (docs/architecture.md prints the table between <!-- house:changes --> marks).

  scripts/house.py            the rules' verdicts and the table
  scripts/house.py --check    exit 1 when a rule is broken or the doc's table is not the code's
  scripts/house.py --write    the table into docs/architecture.md

The rules: the layout the project was specified with (src/tensor, src/autograd, src/layers,
src/optim, examples with teaching programs only, data, tests); nothing under src/ includes a
program's file and nothing includes a .c; no exit() in the library; every public header pairs with
its source by name; every public function that takes a pointer is called with NULL by
tests/test_api_contract.c (the contract: a NULL aborts naming it); the train program's sources hold
no struct of more than 10 members and no function of more than 60 lines.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER_ONLY = {"check.h", "real.h", "normlab.h", "observe.h", "data.h"}  # types and macros, no functions
MAX_MEMBERS, MAX_LINES = 10, 60
NULL_ACCEPTED = {"layer_recompute_free"}  # their headers say what NULL means


def pointer_functions():
    """The public functions (declared in include/normlab/) that take a pointer."""
    out = set()
    for h in files("include/normlab/*.h"):
        for m in re.finditer(r"^(?!typedef|static)[A-Za-z_][\w \*]*?\b(\w+)\s*\(([^;{]*?)\)\s*;", code(h), re.M | re.S):
            if "*" in m.group(2):
                out.add(m.group(1))
    return out


def files(*patterns):
    return sorted(p for pat in patterns for p in glob.glob(os.path.join(ROOT, pat), recursive=True))


def rel(p):
    return os.path.relpath(p, ROOT)


def text(p):
    with open(p, errors="replace") as f:
        return f.read()


def code(p, strings=True):
    """The file without its comments (a comment's words are not code) and, strings=False, a C file
    without its string literals too (a message or help text naming a thing does not depend on it;
    Python's and meson's strings are code: names in a table, a source file's line)."""
    c = p.endswith((".c", ".h"))
    s = re.sub(r"//[^\n]*|/\*.*?\*/", "", text(p), flags=re.S) if c else re.sub(r'"""(?:.|\n)*?"""|#[^\n]*', "", text(p))
    return s if strings or not c else re.sub(r'"(?:\\.|[^"\\\n])*"', '""', s)


def structs(src):
    """(name, members) of every struct defined in src: a member per declarator (a, b, c count 3)."""
    out = []
    for m in re.finditer(r"struct\s+(\w*)\s*\{", src):
        depth, i = 1, m.end()
        while depth and i < len(src):
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        body = re.sub(r"\{[^{}]*\}", "", src[m.end():i - 1])  # nested structs count as one member
        decls = [d for d in body.split(";") if d.strip()]
        members = sum(1 + len(re.findall(r",(?![^()]*\))(?![^\[]*\])", d)) for d in decls)
        out.append((m.group(1) or re.search(r"\}\s*(\w+)", src[i - 1:i + 80] + " x").group(1), members))
    return out


def functions(src):
    """(name, lines) of every function defined at file scope."""
    out, lines = [], src.split("\n")
    for n, line in enumerate(lines):
        m = re.match(r"^(?:static\s+)?(?:inline\s+)?[\w\s\*]+?\b(\w+)\(.*\)\s*\{$", line)
        if m and not line.startswith(("typedef", "struct", "enum")):
            end = next((k for k in range(n + 1, len(lines)) if lines[k] == "}"), n)
            out.append((m.group(1), end - n + 1))
    return out


def rules():
    """[(rule, broken: [what])]"""
    r = []
    want = ["src/tensor", "src/autograd", "src/layers", "src/optim", "examples", "data", "tests"]
    r.append(("the specified layout (" + ", ".join(want) + ") exists",
              [d for d in want if not os.path.isdir(os.path.join(ROOT, d))]))
    layers = [rel(p) for p in files("src/*/*.c") if re.search(r"\bnorm_forward\b|^Tensor \*linear_forward|^Tensor \*attention_forward",
                                                           code(p), re.M) and not rel(p).startswith(("src/layers/", "src/models/"))]
    r.append(("every layer lives in src/layers/", layers))
    teaching = {"meson.build", "out_of_tree"}
    r.append(("examples/ holds teaching programs only (C, out_of_tree)",
              [rel(p) for p in files("examples/*") if os.path.basename(p) not in teaching and not p.endswith(".c")]))
    inc = []
    for p in files("src/**/*.c", "src/**/*.h", "include/**/*.h", "apps/*.c", "apps/*.h", "bench/*.c", "fuzz/*.c",
                   "tests/*.c", "examples/**/*.c"):
        for m in re.finditer(r'#include\s+"([^"]+)"', code(p)):
            name = m.group(1)
            if name.endswith(".c") or (p.startswith(os.path.join(ROOT, "src")) and ("apps/" in name or "examples/" in name)):
                inc.append(f"{rel(p)} includes {name}")
    r.append(("nothing includes a .c; nothing under src/ includes a program's file", inc))
    # the other programs, the benchmarks and the library reach the train program through nothing
    trains = [f"{rel(p)} includes {m.group(1)}" for p in files("apps/dropin*.c", "apps/outlier*.c", "bench/*.c", "src/**/*.c")
              for m in re.finditer(r'#include\s+"((?:\.\./apps/)?train[\w.]*\.h)"', code(p))]
    r.append(("dropin, outliers and the benchmarks use the library, not the train program's files", trains))
    r.append(("no exit() in the library", [rel(p) for p in files("src/**/*.c") if re.search(r"\bexit\s*\(", code(p))]))
    sources = {os.path.splitext(os.path.basename(p))[0] for p in files("src/**/*.c")}
    unpaired = [os.path.basename(h) for h in files("include/normlab/*.h") if os.path.basename(h) not in HEADER_ONLY
                and not any(s == h.split("/")[-1][:-2] or s.startswith(h.split("/")[-1][:-2] + "_") for s in sources)]
    r.append(("every public header pairs with its source by name (or is types only)", unpaired))
    listed = open(os.path.join(ROOT, "include", "normlab", "meson.build")).read()
    r.append(("every public header is installed (include/normlab/meson.build lists it)",
              [os.path.basename(h) for h in files("include/normlab/*.h") if f"'{os.path.basename(h)}'" not in listed]))
    called = set(re.findall(r"^\s*X\((\w+),", code(os.path.join(ROOT, "tests", "test_api_contract.c")), re.M))
    r.append(("every public function that takes a pointer is called with NULL in tests/test_api_contract.c",
              sorted(pointer_functions() - called - NULL_ACCEPTED)))
    big = []
    for p in files("apps/train*.c", "apps/train*.h"):
        src = code(p)
        big += [f"{rel(p)}: struct {n} has {k} members" for n, k in structs(src) if k > MAX_MEMBERS]
        big += [f"{rel(p)}: {n}() is {k} lines" for n, k in functions(src) if k > MAX_LINES]
    r.append((f"the train program: no struct over {MAX_MEMBERS} members, no function over {MAX_LINES} lines", big))
    return r


def mentions(pattern, where, own):
    """The files in `where` (globs) whose code matches pattern, less `own` (the change's own files)."""
    return [rel(p) for p in files(*where) if rel(p) not in own and re.search(pattern, code(p, strings=False))]


CODE = ["src/**/*.c", "src/**/*.h", "src/meson.build", "include/**/*.h", "apps/*.c", "apps/*.h",
        "tools/normlab_tools/*.py", "bench/*.c", "fuzz/*.c"]


def changes():
    """[(change, own files, files an existing instance is named in besides them)]: where one of each
    kind is known today, which is what a new one touches (tests aside)."""
    return [
        ("a new norm (DyISRU's softplus form as the example)", ["src/layers/norm_dyisru.c"],
         mentions(r"(?i)\bdyisrusp\b", CODE, {"src/layers/norm_dyisru.c"})),
        ("a new op (GELU's)", ["src/autograd/ops_elementwise.c"],
         mentions(r"OP_GELU|op_gelu\b", CODE, {"src/autograd/ops_elementwise.c"})),
        ("a new optimizer (SGD's)", ["src/optim/optim.c"],
         mentions(r"OPTIM_SGD|\bsgd_", CODE, {"src/optim/optim.c"})),
        ("a new model (the GPT's)", ["src/models/gpt.c", "include/normlab/gpt.h"],
         mentions(r"\bgpt_\w+\(|\bGpt\w*\b|MODEL_INFO_gpt|X\(GPT, gpt\)", CODE, {"src/models/gpt.c", "include/normlab/gpt.h"})),
        ("a new instrument column (sat2)", ["src/train/stats.c"],
         mentions(r"\bsat2\b", CODE, {"src/train/stats.c"})),
        ("a new option of the train program (--spike-factor)", ["apps/train_options.c"],
         mentions(r"spike[-_]factor", CODE, {"apps/train_options.c"})),
    ]


def table():
    rows = ["| change | its own files | also named in (counted by scripts/house.py) |", "|---|---|---|"]
    for what, own, more in changes():
        rows.append(f"| {what} | {', '.join(f'`{x}`' for x in own)} | {len(more)}: {', '.join(f'`{x}`' for x in more) or '-'} |")
    return "\n".join(rows)


MARKS = ("<!-- house:changes -->\n", "\n<!-- /house:changes -->")


def doc_with(doc, tab):
    a, b = doc.index(MARKS[0]) + len(MARKS[0]), doc.index(MARKS[1])
    return doc[:a] + tab + doc[b:]


def main():
    ok = True
    for rule, broken in rules():
        print(f"{'ok  ' if not broken else 'FAIL'} {rule}" + "".join(f"\n       {b}" for b in broken))
        ok &= not broken
    tab, path = table(), os.path.join(ROOT, "docs", "architecture.md")
    doc = text(path)
    if "--write" in sys.argv:
        with open(path, "w") as f:
            f.write(doc_with(doc, tab))
        print(f"house: wrote the table into {rel(path)}")
    elif "--check" in sys.argv:
        same = doc_with(doc, tab) == doc
        print(f"{'ok  ' if same else 'FAIL'} {rel(path)}'s table is the code's" + ("" if same else " (scripts/house.py --write)"))
        ok &= same
    else:
        print("\n" + tab)
    return 0 if ok or "--check" not in sys.argv else 1


if __name__ == "__main__":
    sys.exit(main())
