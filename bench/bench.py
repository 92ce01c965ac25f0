#!/usr/bin/env python3
"""bench.py: netc's training step against PyTorch and against the machine.

A training step is the fused forward and backward pass plus an SGD update
of every parameter, in float, on one thread. For each net of the table the
netc step (bench/step.c linked with netc's output, built with
cc -O3 -march=native) and the PyTorch step (nn.Linear layers,
F.cross_entropy or F.mse_loss, optim.SGD) are timed in the same run,
interleaved round by round, and the medians compared. The machine's limit
is OpenBLAS sgemm on one thread for the GEMMs of the same step.

Run from the top of the tree: make bench (or python3 bench/bench.py).
"""
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
BUILD = os.environ.get("BUILD", "build")
SGEMM = f"{BUILD}/bench/sgemm"


def run(cmd, env=None):
    """CMD run to its end, its output captured; a failure ends the bench."""
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"bench: '{' '.join(cmd)}' failed:\n{done.stderr}{done.stdout}")
    return done


# OpenBLAS's kernels older than AVX2, which it falls back on for a CPU newer
# than itself: Debian 12's 0.3.21 takes an Emerald Rapids Xeon for a
# Prescott and runs SSE3 code, 30 GFLOP/s where its SkylakeX kernel gives
# 105-130 (1024^3 at batch 256), in PyTorch's products as in sgemm's.
OLD_CORES = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
             "Northwood", "Banias", "Barcelona", "Opteron", "Opteron_SSE3"}
SKYLAKEX_FLAGS = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}  # what its kernels use: not a Xeon Phi's


def openblas_says(env):
    """The kernel OpenBLAS reports it loads under ENV (OPENBLAS_VERBOSE=2), or
    None where it reports none (a build for one CPU, without DYNAMIC_ARCH)."""
    probe = run([SGEMM, "1", "1", "1", "1"], env=dict(env, OPENBLAS_VERBOSE="2")).stderr
    return next((l.split(":", 1)[1].strip() for l in probe.splitlines() if l.startswith("Core:")), None)


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(l.split(":", 1)[1].split()) for l in f if l.startswith("flags")), set())
    except OSError:
        return set()


def openblas_core():
    """The kernel OpenBLAS runs here, and why. Where it picks one older than
    the CPU's flags allow, OPENBLAS_CORETYPE names the right one, for the
    sgemm limit and for PyTorch alike (it is read when the library loads,
    so before torch is imported); one set by the user is kept. What is
    reported is what OpenBLAS then says it loads."""
    os.makedirs(os.path.dirname(SGEMM), exist_ok=True)
    if not os.path.exists(SGEMM):
        run([os.environ.get("CC", "cc"), "-O2", "-o", SGEMM, "bench/sgemm.c", "-lopenblas"])
    core = openblas_says(os.environ)
    if core is None:
        return "unknown (OpenBLAS names none: not a DYNAMIC_ARCH build?)"
    if "OPENBLAS_CORETYPE" in os.environ or core not in OLD_CORES:
        return core
    flags = cpu_flags()
    best = "SkylakeX" if SKYLAKEX_FLAGS <= flags else "Haswell" if {"avx2", "fma"} <= flags else None
    if best is None:
        return core
    now = openblas_says(dict(os.environ, OPENBLAS_CORETYPE=best))
    if now != best:
        return f"{core} (it would not take OPENBLAS_CORETYPE={best}: it said {now})"
    os.environ["OPENBLAS_CORETYPE"] = best
    return f"{best} (OPENBLAS_CORETYPE; it took this CPU for a {core})"


OPENBLAS_CORE = openblas_core()

import torch  # noqa: E402  (after the thread settings and the kernel's name)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SAMPLES = 3  # per round and side

# model file, layer sizes, hidden activation, loss, batch, goal t(PyTorch) / t(netc), netc's flags.
# 2-4-1 by default runs its batch in the lanes of a vector (4 to a group, where gcc builds
# it); also with --lanes 1, one example at a time, as clang's build runs it (docs/codegen.md).
ROWS = [
    ("tiny", [2, 4, 1], "tanh", "mse_sigmoid", 4, 2000, ()),
    ("tiny", [2, 4, 1], "tanh", "mse_sigmoid", 4, 2000, ("--lanes", "1")),
    ("small", [64, 32, 10], "relu", "xent", 1, 500, ()),
    ("small", [64, 32, 10], "relu", "xent", 32, 30, ()),
    ("mnist", [784, 128, 10], "relu", "xent", 1, 20, ()),
    ("mnist", [784, 128, 10], "relu", "xent", 64, 2, ()),
    ("deep", [784, 512, 512, 10], "relu", "xent", 128, 1.25, ()),
    ("wide", [1024, 1024, 1024], "relu", "mse", 256, 1.1, ()),
]


def build_netc_step(model, classes, threads=1, sgd_step=False, extra_flags=()):
    """The step program of MODEL: m_grad and an SGD loop, or m_sgd_step."""
    out = f"{BUILD}/bench/{model}" + (f"-t{threads}" if threads > 1 else "")
    out += ("-" + "".join(f.strip("-") for f in extra_flags)) if extra_flags else ""
    os.makedirs(out, exist_ok=True)
    flags = (["--threads", str(threads)] if threads > 1 else []) + list(extra_flags)
    run([f"{BUILD}/netc", "compile", f"bench/models/{model}.net", "-o", out, "--prefix", "m"] + flags)
    cc = os.environ.get("CC", "cc")
    extra = (["-fopenmp"] if threads > 1 else []) + (["-DBENCH_SGD_STEP"] if sgd_step else [])
    exe = f"{out}/step" + ("-sgd" if sgd_step else "")
    run([cc, "-std=c99", "-O3", "-march=native", f"-DBENCH_CLASSES={classes}", f"-I{out}",
         "-o", exe, "bench/step.c", f"{out}/m.c", "-lm"] + extra)
    return exe


def netc_times(step, batch):
    line = run([step, str(batch), str(SAMPLES)]).stdout.split()
    return float(line[0]), int(line[3])


class Net(nn.Module):
    def __init__(self, sizes, act):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.act = torch.tanh if act == "tanh" else F.relu

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.layers[-1](x)


def torch_step_fn(sizes, act, loss, batch):
    torch.manual_seed(1)
    net = Net(sizes, act)
    opt = torch.optim.SGD(net.parameters(), lr=1e-4)
    x = torch.rand(batch, sizes[0])
    if loss == "xent":
        y = torch.randint(0, sizes[-1], (batch,))
        loss_fn = F.cross_entropy
    elif loss == "mse_sigmoid":
        y = torch.rand(batch, sizes[-1])
        loss_fn = lambda out, t: F.mse_loss(torch.sigmoid(out), t)  # noqa: E731
    else:
        y = torch.rand(batch, sizes[-1])
        loss_fn = F.mse_loss

    def step():
        opt.zero_grad()
        value = loss_fn(net(x), y)
        value.backward()
        opt.step()
        return value

    return step, net, x, y, loss_fn


def torch_times(step):
    reps = 1
    while True:  # about 20 ms a sample, as step.c does
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        if time.perf_counter() - t0 > 0.02 or reps > 1 << 20:
            break
        reps *= 2
    samples = []
    for _ in range(SAMPLES):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        samples.append((time.perf_counter() - t0) / reps)
    return statistics.median(samples)


def torch_bytes(net, x, y, loss_fn):
    """Bytes of the tensors autograd saves for the backward pass, plus the gradients."""
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        value = loss_fn(net(x), y)
    value.backward()
    grads = sum(p.grad.numel() * p.grad.element_size() for p in net.parameters())
    return sum(saved) + grads


def sgemm_time(sizes, batch):
    line = run([SGEMM, str(batch), "5"] + [str(s) for s in sizes]).stdout.split()
    return float(line[0]), float(line[1])


def compile_times(layers=200, width=16):
    """netc's time to compile a model of LAYERS layers, and cc's time for its output."""
    path = f"{BUILD}/bench/layers{layers}.net"
    lines = [f"input x[{width}];", f"target y[{width}];"]
    prev = "x"
    for i in range(layers):
        lines.append(f"param W{i}[{width}, {width}]; param b{i}[{width}];")
        lines.append(f"h{i} = tanh(W{i} @ {prev} + b{i});")
        prev = f"h{i}"
    lines.append(f"loss mse({prev}, y);")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    out = f"{BUILD}/bench/layers{layers}"
    netc = []
    for _ in range(5):
        t0 = time.perf_counter()
        run([f"{BUILD}/netc", "compile", path, "-o", out, "--prefix", "m"])
        netc.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    run([os.environ.get("CC", "cc"), "-std=c99", "-O2", "-c", "-o", f"{out}/m.o", f"{out}/m.c"])
    cc = time.perf_counter() - t0
    with open(f"{out}/m.c") as f:
        nlines = sum(1 for _ in f)
    return statistics.median(netc), cc, nlines


# rows of ROWS timed again with netc --threads 2; goal t(PyTorch, 1 thread) / t(netc, 2 threads)
THREADED = [(6, 1.7), (7, 1.7)]


def threaded_table():
    """netc on two threads against PyTorch on one (the goal) and on two."""
    if (os.cpu_count() or 1) < 2:
        print("\none core: no table for --threads 2")
        return
    built = {i: build_netc_step(ROWS[i][0], ROWS[i][1][-1] if ROWS[i][3] == "xent" else 0, 2, True)
             for i, _ in THREADED}
    fns = {i: torch_step_fn(ROWS[i][1], ROWS[i][2], ROWS[i][3], ROWS[i][4])[0] for i, _ in THREADED}
    t2, p1, p2 = ({i: [] for i, _ in THREADED} for _ in range(3))
    for _ in range(ROUNDS):
        for i, _ in THREADED:
            t2[i].append(netc_times(built[i], ROWS[i][4])[0])
            torch.set_num_threads(1)
            p1[i].append(torch_times(fns[i]))
            torch.set_num_threads(2)
            p2[i].append(torch_times(fns[i]))
    torch.set_num_threads(1)
    print("\nnetc --threads 2, m_sgd_step, against PyTorch on one thread (the goal) and on two\n")
    print("| net | batch | netc, 2 threads | PyTorch, 1 thread | ratio | goal | PyTorch, 2 threads | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, goal in THREADED:
        model, sizes, act, loss, batch, _, _ = ROWS[i]
        n, a, b = (statistics.median(x[i]) for x in (t2, p1, p2))
        name = "-".join(map(str, sizes))
        mark = "" if a / n >= goal else " (below)"
        print(f"| {name} | {batch} | {fmt_time(n)} | {fmt_time(a)} | {a / n:.2f}{mark} | {goal} | "
              f"{fmt_time(b)} | {b / n:.2f} |")


def fmt_time(t):
    return f"{t * 1e6:.2f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def main():
    torch.set_num_threads(1)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {cpu}; torch {torch.__version__}, 1 thread; {ROUNDS} rounds, median of medians; "
          f"OpenBLAS kernel: {OPENBLAS_CORE}\n")
    steps, fused = {}, {}
    for model, sizes, act, loss, batch, goal, flags in ROWS:
        if (model, flags) not in steps:
            classes = sizes[-1] if loss == "xent" else 0
            steps[model, flags] = build_netc_step(model, classes, extra_flags=flags)
            fused[model, flags] = build_netc_step(model, classes, sgd_step=True, extra_flags=flags)
    torch_fns = [torch_step_fn(sizes, act, loss, batch) for _, sizes, act, loss, batch, _, _ in ROWS]
    netc_t = [[] for _ in ROWS]
    fused_t = [[] for _ in ROWS]
    torch_t = [[] for _ in ROWS]
    ws_bytes = [0] * len(ROWS)
    for _ in range(ROUNDS):  # interleaved, so both sides see the same machine
        for i, (model, sizes, act, loss, batch, goal, flags) in enumerate(ROWS):
            t, ws_bytes[i] = netc_times(steps[model, flags], batch)
            netc_t[i].append(t)
            fused_t[i].append(netc_times(fused[model, flags], batch)[0])
            torch_t[i].append(torch_times(torch_fns[i][0]))
    print("netc: m_grad and an SGD loop; sgd_step: m_sgd_step, the update fused into the weights' products\n")
    print("| net | batch | netc | sgd_step | PyTorch | PyTorch / netc | PyTorch / sgd_step | goal | "
          "OpenBLAS sgemm | sgemm / netc | netc workspace | PyTorch saved + grads |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, (model, sizes, act, loss, batch, goal, flags) in enumerate(ROWS):
        n, f, p = (statistics.median(x[i]) for x in (netc_t, fused_t, torch_t))
        g, gflops = sgemm_time(sizes, batch)
        _, net, x, y, loss_fn = torch_fns[i]
        name = "-".join(map(str, sizes)) + f" ({act}, {'cross_entropy' if loss == 'xent' else 'mse'})"
        name += "".join(f", {f}" if f.startswith("--") else f" {f}" for f in flags)
        mark = "" if p / n >= goal else " (below)"
        fmark = "" if p / f >= goal else " (below)"
        print(f"| {name} | {batch} | {fmt_time(n)} | {fmt_time(f)} | {fmt_time(p)} | {p / n:.2f}{mark} | "
              f"{p / f:.2f}{fmark} | {goal} | {fmt_time(g)} ({gflops:.0f} GFLOP/s) | {g / n:.2f} | "
              f"{ws_bytes[i]} B | {torch_bytes(net, x, y, loss_fn)} B |")
    threaded_table()
    netc_s, cc_s, nlines = compile_times()
    print(f"\n200-layer model: netc compiles it in {netc_s * 1e3:.1f} ms (goal < 100 ms); "
          f"cc -O2 compiles the {nlines} lines of C in {cc_s:.2f} s (goal < 10 s)")


if __name__ == "__main__":
    sys.exit(main())
