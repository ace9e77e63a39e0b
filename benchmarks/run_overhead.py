"""Cold vs warm `mlirbench run`, and harness overhead (whole run / pure encode time).

Usage: .venv/bin/python benchmarks/run_overhead.py --model use-m3 [--data-dir ../shared/data/xquad-r]

Cold: empty embedding cache (a fresh $MLIRBENCH_CACHE). Warm: the same command again, which
finds its record up to date (same inputs) and stops. Warm, new record: the same command with
another output folder, which encodes nothing (embedding cache) but evaluates and writes. All are
measured as whole processes (start-up and imports included), in one run of this script, so the
ratios compare like with like on the same machine and load.
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

ROOT = Path(__file__).resolve().parents[1]


def timed_run(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="use-m3")
    parser.add_argument("--task", default="xquad-r")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "xquad-r"))
    opts = parser.parse_args()
    exe = str(Path(sys.executable).with_name("mlirbench"))
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MLIRBENCH_CACHE=str(Path(tmp) / "cache"))
        out = Path(tmp) / "results"
        args = [exe, "run", "--model", opts.model, "--task", opts.task, "--data-dir", opts.data_dir,
                "-o", str(out), "--quiet"]
        cold = timed_run(args, env)
        record = json.loads(next(out.glob(f"*/{opts.task}.json")).read_text())
        timings = record["provenance"]["timings"]
        warm = timed_run(args, env)
        out2 = Path(tmp) / "results-2"
        warm_new = timed_run([*args[:-3], "-o", str(out2), "--quiet"], env)
        warm_record = json.loads(next(out2.glob(f"*/{opts.task}.json")).read_text())
    encode = timings["encode_s"]
    print(f"model={opts.model} task={opts.task}")
    print(f"cold run {cold:.1f} s (encode {encode:.1f} s, evaluate {timings['evaluate_s']:.1f} s)")
    print(f"warm run, record up to date {warm:.1f} s")
    print(f"warm run, new record {warm_new:.1f} s, cache {warm_record['provenance']['embedding_cache']}")
    print(f"warm / cold = {warm / cold:.3f}; warm new record / cold = {warm_new / cold:.3f}")
    print(f"whole cold run / pure encode = {cold / encode:.3f}")


if __name__ == "__main__":
    main()
