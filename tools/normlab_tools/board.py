"""Train logs as TensorBoard event files, once or as the runs go (--follow):

  python3 tools/to_tensorboard.py runs/dyt.csv runs/ln.csv        # --logdir runs/tensorboard
  python3 tools/to_tensorboard.py --follow runs &                 # every log in runs/, as it grows
  tensorboard --logdir runs/tensorboard

Each log (a --log file, .csv or .jsonl; a folder stands for the logs in it) becomes a TensorBoard run
named after it, each column a scalar tagged <kind>/<column> (train/loss, eval_val/loss,
train/grad_norm.h0, ...) at the row's step, its wall time the run's start plus the row's elapsed_sec.
TensorBoard's own writer (the tensorboard package's tensorboard.summary.Writer) writes the files.
--follow reads each log's new complete rows every --interval seconds until interrupted; a log cut
back by a resumed run is read again from its start and only steps beyond those written are added
(a resumed run logs the same values again)."""
import argparse
import glob
import os
import sys
import time

from .files import log_rows, safe_name

try:
    from tensorboard.summary import Writer
except ImportError:
    Writer = None

LOG_ENDINGS = (".csv", ".jsonl", ".json")
NOT_SCALARS = ("step", "kind", "elapsed_sec")


class LogBoard:
    """One log read as it grows, and its TensorBoard run."""

    def __init__(self, path, logdir, taken):
        self.path, self.json = path, path.endswith((".jsonl", ".json"))
        self.run = os.path.join(logdir, safe_name(os.path.splitext(os.path.basename(path))[0], taken))
        self.writer, self.offset, self.header, self.line, self.start = None, 0, None, 1, None
        self.last = {}  # kind -> the last step written
        self.problems = []

    def _new_bytes(self):
        """The log's complete lines not read yet (from the start again when the file was cut back)."""
        if os.path.getsize(self.path) < self.offset:  # a resumed run cut its rows after the checkpoint
            self.offset, self.header, self.line = 0, None, 1
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        data = data[:data.rfind(b"\n") + 1]
        self.offset += len(data)
        if not self.json and self.header is None and data:
            first, data = data.split(b"\n", 1)
            self.header, self.line = first.decode("utf-8", "replace").strip("\r").split(","), 2
        return data

    def update(self):
        """Writes the rows added since the last call; the number of rows written."""
        data, line = self._new_bytes(), self.line
        self.line += data.count(b"\n")
        rows, problems = log_rows(data, self.json, self.header, line)
        self.problems += problems
        written = 0
        for r in rows:
            step, kind = r.get("step"), r["kind"] or "row"
            if step is None or step != step or step <= self.last.get(kind, -1):
                continue
            elapsed = r.get("elapsed_sec", float("nan"))
            if self.start is None:  # the run's start: the log's last change less the time it had run then
                ran = rows[-1].get("elapsed_sec", 0.0)
                self.start = os.stat(self.path).st_mtime - (ran if ran == ran else 0.0)
            if self.writer is None:
                self.writer = Writer(self.run)
            wall = self.start + elapsed if elapsed == elapsed else None
            for k, v in r.items():
                if k not in NOT_SCALARS and isinstance(v, float) and v == v:
                    self.writer.add_scalar(f"{kind}/{k}", v, int(step), wall_time=wall)
            self.last[kind] = step
            written += 1
        if self.writer:
            self.writer.flush()
        return written

    def close(self):
        if self.writer:
            self.writer.close()


def is_log(path):
    """A train log: its first line names the step and kind columns (a samples or confusion CSV does not)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 16).decode("utf-8", "replace")
    except OSError:
        return False
    return ("step" in first and "kind" in first) if path.endswith(LOG_ENDINGS) else False


def logs_in(args):
    """The logs the arguments name (a folder: the logs directly in it), sorted, and what was skipped."""
    out, skipped = [], []
    for a in args:
        found = sorted(p for e in LOG_ENDINGS for p in glob.glob(os.path.join(glob.escape(a), "*" + e))) \
            if os.path.isdir(a) else [a]
        for p in found:
            (out if os.path.isfile(p) and is_log(p) else skipped).append(p)
    return out, skipped


def main(argv=None):
    ap = argparse.ArgumentParser(prog="to_tensorboard.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("logs", nargs="+", metavar="LOG", help="--log files (.csv, .jsonl) or folders holding them")
    ap.add_argument("--logdir", default=os.path.join("runs", "tensorboard"),
                    help="where the event files go, a folder per log (default: runs/tensorboard)")
    ap.add_argument("--follow", action="store_true", help="keep reading the logs as they grow, until interrupted")
    ap.add_argument("--interval", type=float, default=2.0, help="--follow: seconds between reads (default: 2)")
    a = ap.parse_args(argv)
    if Writer is None:
        ap.exit(2, f"{ap.prog}: error: this needs the tensorboard package, which {sys.executable} lacks: "
                   f"{os.path.basename(sys.executable)} -m pip install tensorboard\n")
    if a.interval <= 0:
        ap.error("--interval must be above 0")
    boards, taken, told = {}, set(), set()
    try:
        while True:
            logs, skipped = logs_in(a.logs)
            for p in skipped:
                if p not in told and (not a.follow or os.path.exists(p)):
                    print(f"{p}: not a train log (no step and kind columns) or not found: skipped", file=sys.stderr)
                    told.add(p)
            for p in logs:
                if p not in boards:
                    boards[p] = LogBoard(p, a.logdir, taken)
                n = boards[p].update()
                if n or not a.follow:
                    print(f"{p}: {n} rows -> {boards[p].run}", flush=True)
                for problem in boards[p].problems:
                    print(f"{p}: {problem}", file=sys.stderr)
                boards[p].problems = []
            if not a.follow:
                break
            time.sleep(a.interval)
    except KeyboardInterrupt:
        pass
    finally:
        for b in boards.values():
            b.close()
    if not boards:
        print(f"{ap.prog}: error: no train log among {' '.join(a.logs)}", file=sys.stderr)
        return 1
    print(f"tensorboard --logdir {a.logdir}   shows them")
    return 0
