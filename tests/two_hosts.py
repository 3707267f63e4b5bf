#!/usr/bin/env python3
"""Data parallel across two hosts on one machine (docs/distributed.md, "Two hosts on one machine").

  two_hosts.py TRAIN MPIRUN

Two network namespaces joined by a veth pair with a subnet of their own are two hosts with their
own network stacks: mpirun starts in the first and starts the second's ranks through a remote-start
agent (a script that runs `ip netns exec HOST ...`, as ssh would run them), Open MPI's TCP transport
only (shared memory off), so the ranks talk real TCP through the kernel.
- mpirun -np 2 (one rank per host) and -np 4 (two each) of a short run: every step's loss within
  1e-5 relative of one process's, its grad norm within 1e-4 (tests/dist_test.py's bounds);
- the link shaped with tbf to a 10 GbE-like and a 1 GbE-like rate: its bandwidth and round trip
  measured (a TCP stream and a ping-pong between the namespaces), and the default model's allreduce
  per step (--no-overlap: the train program's "ms per step in MPI calls") printed beside
  docs/distributed.md's model, 2 (N - 1) / N x S / W + 2 (N - 1) x a, at the measured W and a.
- faults under the watchdog (--dist-timeout 10; a checkpoint every 10 steps, each fault once the first
  is written): a rank killed, host b's ranks frozen (SIGSTOP), the link down: each ends the job within
  the timeout + 10 s, non-zero, saying what happened, and its checkpoint resumes under one process with
  one process's losses; the link cut for 3 s and 30% packet loss (nft; skipped, saying so, without it):
  the run rides them out with one process's losses, or the watchdog ends it saying so. Every run has a
  hard time limit; the table of what each fault did is printed.
Needs root and `ip netns`; exits 77 (skipped) with the reason where they are missing. The default
python3; nothing beyond the standard library.
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def sh(*cmd, ns=None, check_rc=True, **kw):
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    p = subprocess.run(full, capture_output=True, text=True, **kw)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"{' '.join(full)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


class Hosts:
    """Two namespaces a and b, a veth pair between them (10.X.Y.1 and .2/24), and the agent."""

    def __init__(self, tmp):
        tag = f"nl{os.getpid() % 100000}"
        self.ns = [tag + "a", tag + "b"]
        self.dev = [tag + "va", tag + "vb"]
        x, y = random.randrange(100, 200), random.randrange(1, 250)  # a subnet nothing else here uses
        self.subnet = f"10.{x}.{y}.0/24"
        self.ip = [f"10.{x}.{y}.1", f"10.{x}.{y}.2"]
        self.agent = os.path.join(tmp, "agent")
        with open(self.agent, "w") as f:
            f.write("#!/bin/sh\n# Open MPI's remote start: agent HOST COMMAND... runs COMMAND in HOST's namespace\n"
                    f'host=$1; shift\ncase $host in {self.ip[0]}) ns={self.ns[0]} ;; {self.ip[1]}) ns={self.ns[1]} ;;\n'
                    '  *) echo "agent: no host $host" >&2; exit 1 ;;\nesac\nexec ip netns exec "$ns" sh -c "$*"\n')
        os.chmod(self.agent, 0o755)

    def __enter__(self):
        for ns in self.ns:
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", self.dev[0], "type", "veth", "peer", "name", self.dev[1])
        for ns, dev, ip in zip(self.ns, self.dev, self.ip):
            sh("ip", "link", "set", dev, "netns", ns)
            sh("ip", "addr", "add", ip + "/24", "dev", dev, ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        return self

    def __exit__(self, *exc):
        for ns in self.ns:  # removing a namespace removes its end of the veth pair, and the pair
            sh("ip", "netns", "del", ns, check_rc=False)

    def shape(self, rate):
        """tbf on both ends (None: unshaped). A burst of 1 ms of the rate, at least 64 KB."""
        for ns, dev in zip(self.ns, self.dev):
            sh("tc", "qdisc", "del", "dev", dev, "root", ns=ns, check_rc=False)
            if rate:
                burst = max(64 * 1024, int(rate / 8 / 1000))
                sh("tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", str(int(rate)), "burst", str(burst),
                   "latency", "100ms", ns=ns)

    def mpirun(self, mpirun, n, args):
        per = n // 2
        return ["ip", "netns", "exec", self.ns[0], mpirun, "--allow-run-as-root", "-np", str(n),
                "--host", f"{self.ip[0]}:{per},{self.ip[1]}:{per}", "--mca", "plm_rsh_agent", self.agent,
                "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", self.subnet,
                "--mca", "oob_tcp_if_include", self.subnet, *args]

    def measure_link(self, seconds=1.0):
        """(bytes per second a from b over one TCP stream, round trip in seconds of a 1-byte ping-pong)."""
        server = ("import socket,sys,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                  f"s.bind(('{self.ip[0]}',5999)); s.listen(1); c,_=s.accept(); c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\n"
                  "for _ in range(200):\n    c.recv(1); c.sendall(b'x')\n"
                  "n=0; t0=None\nwhile True:\n    b=c.recv(1<<20)\n    if not b: break\n    t0=t0 or time.monotonic(); n+=len(b)\n"
                  "print(n/(time.monotonic()-t0))\n")
        client = ("import socket,time\nc=socket.socket()\nfor _ in range(100):\n    try:\n"
                  f"        c.connect(('{self.ip[0]}',5999)); break\n    except OSError: time.sleep(0.05)\n"
                  "c.setsockopt(socket.IPPROTO_TCP,socket.TCP_NODELAY,1)\nrt=[]\nfor _ in range(200):\n"
                  "    t=time.monotonic(); c.sendall(b'x'); c.recv(1); rt.append(time.monotonic()-t)\n"
                  f"buf=b'0'*(1<<20); end=time.monotonic()+{seconds}\nwhile time.monotonic()<end: c.sendall(buf)\n"
                  "c.close(); rt.sort(); print(rt[len(rt)//2])\n")
        srv = subprocess.Popen(["ip", "netns", "exec", self.ns[0], sys.executable, "-c", server], stdout=subprocess.PIPE,
                               text=True)
        rtt = float(sh(sys.executable, "-c", client, ns=self.ns[1], timeout=60).stdout)
        bw = float(srv.communicate(timeout=60)[0])
        return bw, rtt


def losses(log):
    """{step: (loss, grad norm)} of the train rows."""
    out = {}
    for line in open(log).read().splitlines()[1:]:
        f = line.split(",")
        if f[1] == "train":
            out[int(f[0])] = (float(f[2]), float(f[5]))
    return out


def close(a, b, name):
    steps = sorted(a)
    check(steps == sorted(b), f"{name}: the same {len(steps)} steps logged")
    if steps != sorted(b):
        return
    rel = max(abs(a[s][0] - b[s][0]) / abs(a[s][0]) for s in steps)
    check(rel <= 1e-5, f"{name}: step losses within 1e-5 relative of one process's (largest {rel:.2e})")
    rel = max(abs(a[s][1] - b[s][1]) / abs(a[s][1]) for s in steps)
    check(rel <= 1e-4, f"{name}: grad norms within 1e-4 relative (largest {rel:.2e})")


# ---- faults: -np 2 (one rank per host) of the default model under the watchdog, a checkpoint every
# SAVE_EVERY steps; each fault comes once the first checkpoint is written.
TIMEOUT = 10  # --dist-timeout, seconds
DIST_TIMEOUT_EXIT = 124  # the watchdog's exit status (include/normlab/dist.h)
SAVE_EVERY = 10
HARD_LIMIT = TIMEOUT + 80  # a run still going this long after its fault hangs: killed, and a failure
FAULT_RUN = ["--steps", "100000", "--lr-decay-steps", "2000", "--eval-interval", "100000", "--eval-iters", "1",
             "--sample", "0", "--threads", "1", "--quiet", "--stats-every", "0"]


def train_pids(ns):
    """The train program's processes in namespace NS (its ranks there)."""
    pids = sh("ip", "netns", "pids", ns, check_rc=False).stdout.split()
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "train":
                    out.append(int(pid))
        except OSError:
            pass
    return out


def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def fault_run(hosts, mpirun, train, text, tmp, name, inject, heal=None, extra=()):
    """Runs -np 2 until its first checkpoint, calls inject(), waits for the end (at most HARD_LIMIT s);
    then heal() (the link back up). (exit status or None when it hung, seconds from the fault to the
    end, the output, the checkpoint's path)."""
    ckpt, log = os.path.join(tmp, name + ".st"), os.path.join(tmp, name + ".csv")
    for path in (ckpt, log):
        if os.path.exists(path):
            os.remove(path)
    cmd = hosts.mpirun(mpirun, 2, [train, *FAULT_RUN, "--dist-timeout", str(TIMEOUT), "--save", ckpt, "--save-every",
                                   str(SAVE_EVERY), "--log", log, *extra, text])
    out = open(os.path.join(tmp, name + ".out"), "w+")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True)
    t_start = time.monotonic()
    while not os.path.exists(ckpt) and p.poll() is None and time.monotonic() - t_start < 120:
        time.sleep(0.1)
    t_fault = time.monotonic()
    inject()
    try:
        rc = p.wait(timeout=HARD_LIMIT)
    except subprocess.TimeoutExpired:
        rc = None
        os.killpg(p.pid, 9)
        p.wait()
    took = time.monotonic() - t_fault
    rc = 128 - rc if rc is not None and rc < 0 else rc  # killed by a signal: the status a shell shows
    for ns in hosts.ns:  # whatever the end left behind (stopped ranks, a rank cut off from mpirun)
        signal_all(train_pids(ns), 9)
    if heal:
        heal()
    out.seek(0)
    return rc, took, out.read(), ckpt


def resumes(train, text, tmp, ckpt, name):
    """The checkpoint resumes under one process: 5 steps from it log the losses of one process run from
    the start to the same step (1e-5 relative)."""
    if not os.path.exists(ckpt):
        check(False, f"{name}: a checkpoint was written")
        return
    base = [*FAULT_RUN[2:], "--log"]
    r = subprocess.run([train, "--steps", "1", "--resume", ckpt, text, "--sample", "0", "--threads", "1"], capture_output=True,
                       text=True, timeout=120)
    m = re.search(r"checkpoint is at step (\d+)", r.stdout)
    if not m:
        check(False, f"{name}: the checkpoint reads back:\n{r.stdout}{r.stderr}")
        return
    at = int(m.group(1))
    logs = [os.path.join(tmp, f"{name}.{k}.csv") for k in ("resumed", "alone")]
    a = subprocess.run([train, "--steps", str(at + 5), *base, logs[0], "--resume", ckpt, text], capture_output=True,
                       text=True, timeout=300)
    b = subprocess.run([train, "--steps", str(at + 5), *base, logs[1], text], capture_output=True, text=True, timeout=300)
    if a.returncode or b.returncode:
        check(False, f"{name}: the resumed run and one process's ran:\n{a.stdout}{a.stderr}{b.stdout}{b.stderr}")
        return
    resumed, alone = losses(logs[0]), losses(logs[1])
    steps = [s for s in sorted(resumed) if s >= at]
    rel = max(abs(resumed[s][0] - alone[s][0]) / alone[s][0] for s in steps) if steps else 1.0
    check(len(steps) == 5 and rel <= 1e-5, f"{name}: the checkpoint (step {at}) resumes under one process; its 5 steps' "
          f"losses within 1e-5 of one process's from the start (largest {rel:.1e})")


def faults(hosts, train, mpirun, text, tmp):
    """Each fault: how the job ends, how long after the fault, what it says; the checkpoint resumes."""
    b_dev = ("ip", "link", "set", hosts.dev[1])
    down = lambda: sh(*b_dev, "down", ns=hosts.ns[1])
    up = lambda: (sh(*b_dev, "up", ns=hosts.ns[1]), time.sleep(0.5))
    cases = [
        ("a rank killed (SIGKILL, host b)", lambda: signal_all(train_pids(hosts.ns[1]), 9), None,
         r"exited on signal 9|killed|Killed"),
        ("host b frozen (SIGSTOP) past the timeout", lambda: signal_all(train_pids(hosts.ns[1]), 19), None,
         r"made no progress for \d+ s .*waiting for rank 1"),
        ("the link down past the timeout", down, up, r"made no progress for \d+ s .*waiting for rank 1"),
    ]
    print(f"\n| fault | exit status | time to exit (timeout {TIMEOUT} s) | message |\n|---|---|---|---|")
    table = []
    for name, inject, heal, said in cases:
        rc, took, out, ckpt = fault_run(hosts, mpirun, train, text, tmp, name.split()[1], inject, heal)
        line = next((l for l in out.splitlines() if re.search(said, l)), "")
        table.append(f"| {name} | {rc if rc is not None else 'hung (killed)'} | {took:.1f} s | {line.strip()[:160]} |")
        print(table[-1], flush=True)
        check(rc not in (None, 0), f"{name}: the job ended with a non-zero exit ({rc})")
        check(took <= TIMEOUT + 10, f"{name}: it ended within the timeout + 10 s ({took:.1f} s)")
        check(bool(line), f"{name}: it said what happened (/{said}/):\n{out[-3000:]}")
        resumes(train, text, tmp, ckpt, name)
    recovers(hosts, train, mpirun, text, tmp, "the link cut for 3 s (under the timeout)",
             lambda: (down(), time.sleep(3), up()))
    loss = ("inet", "normlab_loss")
    if not shutil.which("nft"):
        print("skipped: 30% packet loss: no netem qdisc in this kernel, and nft (netfilter) is not installed "
              "(apt-get install nftables)")
        return
    def drop(on):
        for ns in hosts.ns:  # each direction: 30% of the packets each end sends
            if on:
                sh("nft", "add", "table", *loss, ns=ns)
                sh("nft", "add", "chain", *loss, "out", "{ type filter hook output priority 0; }", ns=ns)
                sh("nft", "add", "rule", *loss, "out", "oifname", hosts.dev[hosts.ns.index(ns)], "numgen", "random",
                   "mod", "10", "<", "3", "drop", ns=ns)
            else:
                sh("nft", "delete", "table", *loss, ns=ns, check_rc=False)
    # TCP rides 30% loss out slowly (the default model: ~5 s a step here), or stalls past the timeout
    # on a retransmission's back-off: the small model, 10 steps after the fault
    recovers(hosts, train, mpirun, text, tmp, "30% of the packets dropped each way (nft; 2 layers, 64 wide)",
             lambda: drop(True), lambda: drop(False), steps=20, model=SMALL)


def recovers(hosts, train, mpirun, text, tmp, name, inject, heal=None, steps=60, model=()):
    """A fault the run must ride out: it ends (exit 0, or the watchdog's 124 saying so), never hangs; when it
    finishes, its losses are one process's."""
    tag = f"recover{len(model)}_{steps}"
    alone = os.path.join(tmp, tag + ".alone.csv")
    if not os.path.exists(alone):
        train_run([train, *FAULT_RUN, *model, "--steps", str(steps), "--log", alone, text], "one process", tmp)
    rc, took, out, ckpt = fault_run(hosts, mpirun, train, text, tmp, tag, inject, heal, extra=(*model, "--steps", str(steps)))
    wall = "finished" if rc == 0 else ""
    said = next((l for l in out.splitlines() if "made no progress" in l), "")
    print(f"| {name} | {rc if rc is not None else 'hung (killed)'} | {took:.1f} s after the fault | "
          f"{said.strip()[:160] or wall} |", flush=True)
    check(rc in (0, DIST_TIMEOUT_EXIT) and (rc == 0 or said), f"{name}: the run finished, or the watchdog ended it "
          f"saying so (exit {rc}):\n{out[-3000:] if rc else ''}")
    if rc == 0:
        close(losses(alone), losses(os.path.join(tmp, tag + ".csv")), name)


def main():
    train, mpirun = os.path.abspath(sys.argv[1]), sys.argv[2]
    if os.geteuid() != 0:
        print("skipped: network namespaces need root (CI runs this as root)")
        return SKIP
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "text.txt")
        rng = random.Random(7)
        words = "the of and to in that is was he for it with as his on be at by had not are but from or have".split()
        with open(text, "w") as f:
            for _ in range(3000):
                f.write(" ".join(rng.choice(words) for _ in range(rng.randrange(4, 12))).capitalize() + ".\n")
        hosts = Hosts(tmp)
        try:
            hosts.__enter__()
        except (RuntimeError, FileNotFoundError) as e:
            hosts.__exit__()
            print(f"skipped: network namespaces cannot be made here ({e})")
            return SKIP
        try:
            return run(hosts, train, mpirun, text, tmp)
        finally:
            hosts.__exit__()


def train_run(cmd, name, tmp):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp)
    check(p.returncode == 0, f"{name}: exit 0" + ("" if p.returncode == 0 else f" (exit {p.returncode}):\n{p.stdout}{p.stderr}"))
    return p.stdout


SMALL = ("--n-layer", "2", "--n-embd", "64", "--n-head", "4", "--block-size", "32")


def run(hosts, train, mpirun, text, tmp):
    small = [*SMALL, "--batch-size", "12", "--steps", "30", "--warmup", "5", "--lr", "1e-3", "--eval-interval", "1000",
             "--eval-iters", "2", "--sample", "0", "--threads", "1", "--stats-every", "0", "--quiet"]
    one = os.path.join(tmp, "one.csv")
    train_run([train, *small, "--log", one, text], "one process", tmp)
    for n in (2, 4):
        log = os.path.join(tmp, f"hosts{n}.csv")
        t0 = time.monotonic()
        out = train_run(hosts.mpirun(mpirun, n, [train, *small, "--log", log, text]), f"-np {n} over two hosts", tmp)
        print(f"      -np {n}: {time.monotonic() - t0:.1f} s; {next((l for l in out.splitlines() if 'data parallel' in l), '')}")
        if os.path.exists(log):
            close(losses(one), losses(log), f"-np {n} over two hosts ({n // 2} per host)")
    # the default model's allreduce against the model, at two shaped rates
    default = ["--steps", "20", "--eval-interval", "1000", "--eval-iters", "1", "--sample", "0", "--threads", "1",
               "--no-overlap"]
    print("\n| link (tbf) | measured W | measured round trip a | allreduce, model (N = 2) | allreduce, measured (N = 2) |")
    print("|---|---|---|---|---|")
    for label, rate in (("none", None), ("10 Gbit/s", 10e9), ("1 Gbit/s", 1e9)):
        hosts.shape(rate)
        bw, rtt = hosts.measure_link()
        out = train_run(hosts.mpirun(mpirun, 2, [train, *default, text]), f"default model, -np 2, {label}", tmp)
        mb = re.search(r"grads reduced: ([0-9.]+) MB", out)
        ms = re.search(r"([0-9.]+) ms per step in MPI calls", out)
        if not (mb and ms):
            check(False, f"{label}: the run printed its grads' size and its time in MPI calls:\n{out}")
            continue
        S, a = float(mb.group(1)) * 1e6, rtt / 2  # a message's latency: half a round trip
        model = 2 * (2 - 1) / 2 * S / bw + 2 * (2 - 1) * a
        print(f"| {label} | {bw * 8 / 1e9:.2f} Gbit/s | {rtt * 1e6:.0f} us | {model * 1e3:.2f} ms "
              f"(S {S / 1e6:.2f} MB) | {float(ms.group(1)):.2f} ms |", flush=True)
    hosts.shape(None)
    faults(hosts, train, mpirun, text, tmp)
    print(f"\ntwo_hosts: {'all checks passed' if not failures else f'{len(failures)} failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
