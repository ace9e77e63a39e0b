#!/usr/bin/env bash
# The MIRACL-scale benchmark (BENCHMARKS.md) on one GPU: an XLM-R-base-shaped encoder (random
# weights; benchmarks/shaped_model.py) in float16 and float32, sharded float16 corpus, FAISS on CPU.
# For a machine with torch + sentence-transformers but no network: wheels for what is missing
# (faiss-cpu, platformdirs) are read from .whl/, mlirbench is installed from this checkout.
#   bash benchmarks/gpu_scale.sh OUTDIR [DOCS]
set -euo pipefail
out=${1:?output folder}; docs=${2:-500000}
mkdir -p "$out" && out=$(cd "$out" && pwd)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --target /tmp/site .
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c 'import torch, transformers, sentence_transformers as st; print(torch.__version__, transformers.__version__, st.__version__)' | tee -a "$out/gpu.txt"
python3 benchmarks/shaped_model.py --shape xlm-roberta-base --output /tmp/xlmr
common=(--words 120 --shard-size 100000 --model dense:/tmp/xlmr/st -a device=cuda -a batch_size=512
        --encode-batch 16384 --dtype float16 --queries 1000 --k 1000 --devices 1 8 32)
python3 benchmarks/miracl_scale.py --docs 50000 "${common[@]}" -a dtype=fp32 > "$out/xlmr-fp32.json"
python3 benchmarks/miracl_scale.py --docs "$docs" "${common[@]}" -a dtype=fp16 > "$out/xlmr-fp16.json"
cd benchmarks
for w in 0 4; do
  python3 encode_breakdown.py --model dense:/tmp/xlmr/st -a device=cuda -a dtype=fp16 -a batch_size=512 \
      -a tokenize_workers=$w --docs 40000 > "$out/breakdown-workers$w.json"
done
