"""The files a train run leaves, read and written the one way every tool here uses (no matplotlib).

  read_log(path)        a --log file (.csv, .jsonl/.json) as rows of floats, and the problems found
  log_rows(data, json)  the same from a log's bytes (a part of one, as a log that grows is read)
  read_config(path)     the .config beside a log, as ./train reads it (quotes, escapes, comments)
  write_file(path, data) an output written whole, never through a symbolic link at path
  safe_name(name)       the one way a name from a log, a config or a run becomes a file name
  alone_env()           the environment for a program a tool starts (without mpirun's variables)
  ROOT                  the repository the package lives in
"""
import csv
import hashlib
import io
import json
import math
import os
import re
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_log(path):
    """(rows, problems): the log's rows as dicts of floats (NaN where empty or not a number) plus the
    kind column as a string, and a list of what was wrong with the file (a torn or truncated row, a
    line that is not a JSON object, bytes that are not UTF-8), each naming its line. Never raises on
    a malformed file."""
    with open(path, "rb") as f:
        data = f.read()
    return log_rows(data, path.endswith((".jsonl", ".json")))


def log_rows(data, json_lines, header=None, first_line=1):
    """read_log's rows and problems from a log's bytes (a whole file, or, with the CSV's header given,
    the lines after it; first_line: the number of data's first line, for the problems)."""
    problems, raw = [], []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        text = data.decode("utf-8", errors="replace")
        problems.append(f"not UTF-8 from byte {e.start} (read with replacement characters)")
    if json_lines:
        for n, line in enumerate(text.splitlines(), first_line):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                problems.append(f"line {n} is not JSON (a row cut short?): left out")
                continue
            if not isinstance(r, dict):
                problems.append(f"line {n} is not a JSON object: left out")
                continue
            raw.append(r)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
        head = header if header is not None else next(reader, None) or []
        for n, fields in enumerate(reader, first_line + (header is None)):
            if len(fields) != len(head):
                problems.append(f"line {n} has {len(fields)} fields, the header {len(head)} (a torn row?): left out")
                continue
            raw.append(dict(zip(head, fields)))
    rows = []
    for r in raw:
        d = {"kind": str(r.get("kind", ""))}
        for k, v in r.items():
            if k != "kind":
                try:
                    d[k] = float(v) if v not in ("", None) else math.nan
                except (TypeError, ValueError):
                    d[k] = math.nan
        rows.append(d)
    return rows, problems


def config_value(text):
    """A value as ./train's config reader reads it: quoted ("...", escapes \\" \\\\ \\n) or bare (up to a
    '#', trimmed; \\n and \\\\ escapes)."""
    text = text.strip()
    quoted = text.startswith('"')
    out, i = [], 1 if quoted else 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in ('n\\"' if quoted else "n\\"):
            out.append("\n" if text[i + 1] == "n" else text[i + 1])
            i += 2
            continue
        if (quoted and c == '"') or (not quoted and c == "#"):
            break
        out.append(c)
        i += 1
    value = "".join(out)
    return value if quoted else value.strip()


def read_config(path):
    """The options ./train wrote beside a log (x.config for x.csv), as strings; {} when missing."""
    cfg = {}
    if not os.path.exists(path):
        return cfg
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("--"):
                line = line[2:]
            if not line or line.startswith("#"):
                continue
            for i, c in enumerate(line):
                if c in "= \t#":
                    break
            else:
                i = len(line)
            name, rest = line[:i], line[i:].strip()
            if rest.startswith("#"):
                rest = ""
            elif rest.startswith("="):
                rest = rest[1:]
            cfg[name] = config_value(rest)
    return cfg


def safe_name(name, taken=None, limit=80):
    """NAME as a file name that stays in the folder it is joined to: letters, digits, '.', '_' and '-'
    kept, any other character '_', no leading dot, at most LIMIT characters. A name that had to change
    gets a short hash of itself, so two names never map to one file ('a/b' and 'a_b' differ); with
    TAKEN (a set, updated), a name already taken gets -2, -3, ... (one figure name saved twice)."""
    s = re.sub(r"[^A-Za-z0-9._-]", "_", str(name)).lstrip(".")
    if s != name or len(s) > limit:
        s = (s[:limit - 9] or "_") + "-" + hashlib.sha256(str(name).encode()).hexdigest()[:8]
    if taken is not None:
        base, n = s, 2
        while s in taken:
            s, n = f"{base}-{n}", n + 1
        taken.add(s)
    return s


def write_file(path, data):
    """Writes data (str or bytes) to path whole: a temp file in its folder, then a rename over path,
    which replaces a symbolic link at path and never writes through it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# The launcher's variables: a program started from a tool that runs under mpirun must not take itself
# for one of mpirun's processes.
LAUNCHER_ENV = ("OMPI_", "PMI_", "PMIX_", "HYDRA_", "MPI_LOCAL")


def alone_env():
    """os.environ without mpirun's variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_ENV)}
