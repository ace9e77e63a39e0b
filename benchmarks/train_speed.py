"""Training speed: ``mlirbench train`` against a plain sentence-transformers loop, same batches.

Both run in their own process (peak RSS is each child's own), on the same training file, the same
pair sets (the hybrid planner's first batches for the seed), batch size, max length, prompts,
frozen token table and AdamW settings. The plain loop is what one writes from the library's
docs: tokenise each column padded to its longest text, ``MultipleNegativesRankingLoss``,
backward, step. ``mlirbench train`` differs only in embedding each column in length-sorted,
trimmed micro-batches (``training/loss.py``). Steps are timed from the first; a step's time
includes tokenisation.

    python benchmarks/train_speed.py --base e5-small --train-data train.jsonl --steps 5 -o bench.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def plain_loop(args: argparse.Namespace) -> dict:
    """The plain loop in this process; returns its step times."""
    import numpy as np
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from mlirbench.training.data import read_rows
    from mlirbench.training.samplers import plan_epoch
    from mlirbench.training.trainer import TrainConfig, prepare_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rows = read_rows(args.train_data)
    config = TrainConfig(base=args.base, batching="hybrid", train_data=args.train_data, output=Path("unused"),
                         freeze_embeddings=True, max_seq_length=args.max_seq_length)
    model, _ = prepare_model(config)
    model.train()
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-5, weight_decay=0.01)
    batches = plan_epoch([r["group"] for r in rows], [r["lang"] for r in rows], args.batch_size, args.alpha,
                         np.random.default_rng([args.seed, 0]))[:args.steps]
    seconds, cpu_seconds = [], []
    for batch in batches:
        start, cpu_start = time.perf_counter(), time.process_time()
        features = [model.preprocess([rows[q]["query"] for q, _ in batch], prompt=model.prompts["query"]),
                    model.preprocess([rows[p]["positive"] for _, p in batch], prompt=model.prompts["passage"])]
        loss = loss_fn(features, None)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    return {"step_seconds": seconds, "step_cpu_seconds": cpu_seconds, "pairs": sum(len(b) for b in batches)}


def _child(command: list[str]) -> tuple[int, float]:
    """Run a child process; its exit code and its own peak RSS in MB (Linux)."""
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024


def _load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--train-data", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-seq-length", type=int, default=512)
    ap.add_argument("--micro-batch-tokens", type=int, default=1024)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output", "-o", type=Path, required=True)
    ap.add_argument("--inner", choices=["plain"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        args.output.write_text(json.dumps(plain_loop(args)), encoding="utf-8")
        return
    env_threads = {"OMP_NUM_THREADS": str(args.threads)}
    os.environ.update(env_threads)
    with tempfile.TemporaryDirectory() as tmp:
        plain_out = Path(tmp) / "plain.json"
        load_before = _load()
        code, plain_rss = _child([sys.executable, __file__, *sys.argv[1:], "--inner", "plain", "-o", str(plain_out)])
        if code:
            sys.exit(f"plain loop failed (exit {code})")
        plain = json.loads(plain_out.read_text(encoding="utf-8"))
        model_dir = Path(tmp) / "model"
        command = [str(Path(sys.executable).with_name("mlirbench")), "train", "--base", args.base,
                   "--batching", "hybrid", "--alpha", str(args.alpha), "--train-data", str(args.train_data),
                   "--output", str(model_dir), "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
                   "--seed", str(args.seed), "--val-fraction", "0", "--patience", "-1", "--freeze-embeddings",
                   "--max-seq-length", str(args.max_seq_length), "--micro-batch-tokens", str(args.micro_batch_tokens),
                   "--eval-steps", "1000000", "--quiet"]
        load_middle = _load()
        code, ours_rss = _child(command)
        if code:
            sys.exit(f"mlirbench train failed (exit {code})")
        ours = json.loads((model_dir / "mlirbench_training.json").read_text(encoding="utf-8"))["throughput"]
    plain_pairs_s = plain["pairs"] / sum(plain["step_seconds"])
    plain_pairs_cpu_s = plain["pairs"] / sum(plain["step_cpu_seconds"])
    ours_pairs_cpu_s = ours["steps"] * args.batch_size / ours["step_cpu_seconds"]
    result = {
        "setting": {k: str(v) for k, v in vars(args).items() if k not in ("output", "inner")},
        "plain": {"pairs_per_s": plain_pairs_s, "pairs_per_cpu_s": plain_pairs_cpu_s,
                  "step_seconds": plain["step_seconds"], "step_cpu_seconds": plain["step_cpu_seconds"],
                  "peak_rss_mb": plain_rss},
        "mlirbench_train": {"pairs_per_s": ours["pairs_per_s"], "pairs_per_cpu_s": ours_pairs_cpu_s,
                            "step_seconds_total": ours["step_seconds"],
                            "step_cpu_seconds_total": ours["step_cpu_seconds"], "peak_rss_mb": ours_rss},
        "speedup_wall": ours["pairs_per_s"] / plain_pairs_s,
        "speedup_cpu": ours_pairs_cpu_s / plain_pairs_cpu_s,
        "load_average_1min": {"before_plain": load_before, "before_ours": load_middle, "after": _load()},
        "cpu_count": os.cpu_count(),
    }
    args.output.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
