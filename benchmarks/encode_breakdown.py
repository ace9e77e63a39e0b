"""Where the dense adapter's encoding time goes: tokenization alone, the model's forward pass alone
(pre-tokenized batches on the device), and the adapter's ``encode`` end to end, on the same
synthetic passages. If ``encode`` is far below the forward-only rate, the harness or the CPU side
(tokenization, copies) is the bottleneck, not the accelerator. Prints one JSON object.

    python benchmarks/encode_breakdown.py --model dense:/tmp/xlmr/st -a device=cuda -a dtype=fp16 -a batch_size=512
"""
from __future__ import annotations

import argparse
import json
import time

from miracl_scale import _value, gpu_name

from mlirbench.data.corpus import SyntheticCorpus
from mlirbench.registry import build_model, parse_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="registry spec of a dense (sentence-transformers) model")
    ap.add_argument("-a", "--model-arg", action="append", default=[], help="key=value adapter argument")
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--words", type=int, default=120)
    args = ap.parse_args()
    import torch

    encoder = build_model(parse_model(args.model, {k: _value(v) for k, _, v in
                                                   (a.partition("=") for a in args.model_arg)}), progress=False)
    st, batch = encoder.model, encoder.batch_size
    corpus = SyntheticCorpus(("en",), size=args.docs, words=args.words)
    texts = next(corpus.batches("en", args.docs))[1]
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    encoder.encode(texts[:batch], role="passage", lang="en")  # warm-up (kernels, allocator)

    t0 = time.perf_counter()
    features = [st.tokenize(texts[i:i + batch]) for i in range(0, len(texts), batch)]
    tokenize_s = time.perf_counter() - t0

    sync()
    t0 = time.perf_counter()
    with torch.inference_mode():
        for f in features:
            st.forward({k: v.to(st.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in f.items()})
    sync()
    forward_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    encoder.encode(texts, role="passage", lang="en")
    sync()
    encode_s = time.perf_counter() - t0
    n = len(texts)
    print(json.dumps({"model": args.model, "batch_size": batch, "docs": n, "words": args.words,
                      "gpu": gpu_name(), "torch_threads": torch.get_num_threads(),
                      "docs_per_s": {"tokenize_only": n / tokenize_s, "forward_only": n / forward_s,
                                     "encode_end_to_end": n / encode_s}}, indent=2))


if __name__ == "__main__":
    main()
