"""Small result folders for tests of the commands that read saved results (compare, bias,
domains, leaderboard): the ``random`` model on a LAReQA-format fixture, copied under several
contender names, plus a "perfect" contender whose ranks file puts every relevant doc on top."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from lareqa_fixture import WORDS, write_dataset

from mlirbench._io.hashing import sha256_file
from mlirbench.cli import main

LANGS = ["ar", "de", "en", "es", "hi", "vi", "zh"]  # MLQA-R's languages (full-language records)


def dataset(root: Path, missing: dict[str, set[str]] | None = None) -> Path:
    for lang in LANGS:
        WORDS.setdefault(lang, [f"{lang}word{i}" for i in range(10)])
    return write_dataset(root, LANGS, missing=missing, n_articles=3, n_paras=2, n_sent=4)


def run_random(data: Path, results: Path, name: str, seed: int = 0) -> Path:
    """``mlirbench run`` of the random model, moved to ``results/<name>``; returns the record."""
    tmp = results.parent / f".tmp-{name}"
    main(["run", "-m", "random", "-a", f"seed={seed}", "-t", "mlqa-r", "--data-dir", str(data),
          "-o", str(tmp), "--quiet"])
    (folder,) = [p for p in tmp.iterdir() if p.is_dir()]  # random, or random@seed=1: the slug carries arguments
    shutil.move(str(folder), str(results / name))
    shutil.rmtree(tmp)
    return results / name / "mlqa-r.json"


def make_perfect(record: Path, name: str) -> Path:
    """A copy of a record's folder whose ranks file ranks the relevant docs first (1, 2, ...)."""
    folder = record.parent.parent / name
    shutil.copytree(record.parent, folder)
    ranks = folder / "mlqa-r.ranks.tsv.gz"
    with gzip.open(ranks, "rt", encoding="utf-8") as fh:
        header, *rows = [line.rstrip("\n").split("\t") for line in fh]
    seen: dict[tuple[str, str, str], int] = {}
    for row in rows:
        key = (row[0], row[2], row[3])
        seen[key] = seen.get(key, 0) + 1
        row[6] = str(seen[key])
    with gzip.open(ranks, "wt", encoding="utf-8") as fh:
        fh.write("\n".join("\t".join(r) for r in [header, *rows]) + "\n")
    record_path = folder / "mlqa-r.json"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["run_files"]["ranks"]["sha256"] = sha256_file(ranks)  # the record names its side file
    record_path.write_text(json.dumps(record), encoding="utf-8")
    return record_path


def build_results(root: Path) -> tuple[Path, Path]:
    """(results folder, data folder): random contenders rand-a (seed 0) and rand-b (seed 1)
    on the MLQA-R-shaped fixture, plus "perfect" (a copy of rand-a that ranks relevant docs first)."""
    data = dataset(root / "data")
    res = root / "results"
    res.mkdir()
    a = run_random(data, res, "rand-a", seed=0)
    run_random(data, res, "rand-b", seed=1)
    make_perfect(a, "perfect")
    return res, data
