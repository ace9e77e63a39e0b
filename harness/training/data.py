"""Training data: the JSONL format, building it from SQuAD-format files, and the article-level split.

One JSON object per line, one line per (group, language)::

    {"group": "56beb4343aeaaa14008c925b", "lang": "de", "query": "...", "positive": "...",
     "negatives": ["...", "..."], "article": "Super_Bowl_50"}

``group`` is shared by the translations of one question (parallel rows): a batch never holds two
rows of a group, and X-Y pairs take the query of one row and the positive of another row of the
same group. ``negatives`` (hard negatives, in the row's language) and ``article`` are optional.
A (group, lang) pair appears at most once.

``make-train-data`` reads SQuAD-format files with sentence breaks (XQuAD-R / MLQA-R layout): the
positive is the sentence whose break span holds the answer start. Articles are split into train
and eval parts by a seeded shuffle of their names; an article is identified across languages by
the question ids it holds (titles may be translated), so no eval article leaks into training.
The split goes to a JSON file that is committed, and the JSONL gets a sidecar ``<file>.meta.json``
naming it, which training copies into the model's metadata.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlirbench._io.atomic import atomic_open
from mlirbench._io.hashing import sha256_file
from mlirbench._io.lines import json_object, numbered_lines, read_json
from mlirbench.data.squad import read_squad
from mlirbench.errors import DataError

REQUIRED = ("group", "lang", "query", "positive")


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a training JSONL file, validated; a problem names the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "training data file does not exist")
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        row = json_object(path, number, line)
        for key in REQUIRED:
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(path, f"field {key!r} must be a non-empty string", line=number)
        negatives = row.setdefault("negatives", [])
        if not isinstance(negatives, list) or not all(isinstance(n, str) for n in negatives):
            raise DataError(path, "field 'negatives' must be a list of strings", line=number)
        key = (row["group"], row["lang"])
        if key in seen:
            raise DataError(path, f"group {key[0]!r} has a second {key[1]!r} row", line=number)
        seen.add(key)
        rows.append(row)
    if not rows:
        raise DataError(path, "no training rows")
    return rows


def write_rows(path: Path, rows: Iterable[dict]) -> int:
    """Write rows as JSONL (atomically); returns the count."""
    rows = list(rows)
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def sidecar(path: Path) -> Path:
    """``<file>.meta.json``: where a training file's provenance (source, split) lives."""
    return path.with_name(path.name + ".meta.json")


def read_sidecar(path: Path) -> dict | None:
    side = sidecar(path)
    return json.loads(side.read_text(encoding="utf-8")) if side.is_file() else None


def load_squad(path: Path) -> list[dict]:
    """Articles of one SQuAD-format file as [{title, qids, rows}] with rows {group, query, positive, negatives},
    read by ``data.squad.read_squad``: the same checks as ``mlirbench run``.

    The negatives are the other sentences of the answer's paragraph (hard, same topic).
    """
    articles = []
    for article in read_squad(path):
        rows = [{"group": q.id, "query": q.text, "positive": para.sentences[q.sentence],
                 "negatives": [x for i, x in enumerate(para.sentences) if i != q.sentence]}
                for para in article.paragraphs for q in para.questions]
        articles.append({"title": article.title, "qids": {r["group"] for r in rows}, "rows": rows})
    return articles


def article_keys(per_lang: dict[str, list[dict]]) -> dict[str, str]:
    """Question id -> article name, with articles joined across languages through shared question ids."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_title: dict[str, str] = {}
    for lang in sorted(per_lang, key=lambda code: (code != "en", code)):  # English titles name articles
        for article in per_lang[lang]:
            qids = sorted(article["qids"])
            for q in qids:
                first_title.setdefault(q, article["title"])
                parent[find(q)] = find(qids[0])
    roots: dict[str, str] = {}
    for q in sorted(parent):
        roots.setdefault(find(q), first_title[q])
    return {q: roots[find(q)] for q in parent}


def split_articles(names: Sequence[str], eval_fraction: float, seed: int) -> dict[str, list[str]]:
    """A seeded shuffle of the sorted article names; the first ``eval_fraction`` of them is held out."""
    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must lie in (0, 1), got {eval_fraction}")
    order = sorted(set(names))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(eval_fraction * len(order)))
    return {"eval": sorted(order[:n_eval]), "train": sorted(order[n_eval:])}


def make_train_data(data_dir: Path, output: Path, split_path: Path, *, langs: Sequence[str] | None = None,
                    eval_fraction: float = 0.2, seed: int = 0, negatives: int = 0,
                    heldout_dir: Path | None = None) -> dict:
    """Build the training JSONL from ``data_dir/<lang>.json`` files, training articles only.

    An existing ``split_path`` is reused (so the committed split stays fixed); otherwise it is
    written. ``heldout_dir`` receives the SQuAD files cut to the eval articles, for
    ``mlirbench run --data-dir``. Returns the summary also written to the sidecar.
    """
    files = {p.stem: p for p in sorted(Path(data_dir).glob("*.json"))}
    if langs:
        missing = [lang for lang in langs if lang not in files]
        if missing:
            raise DataError(data_dir, f"no {', '.join(m + '.json' for m in missing)}")
        files = {lang: files[lang] for lang in langs}
    if not files:
        raise DataError(data_dir, "no <lang>.json SQuAD-format files")
    per_lang = {lang: load_squad(path) for lang, path in files.items()}
    article_of = article_keys(per_lang)
    if split_path.is_file():
        split = read_json(split_path)
        if not (isinstance(split, dict) and all(isinstance(split.get(k), list) and all(isinstance(t, str) for t in split[k])
                                                for k in ("train", "eval"))):
            raise DataError(split_path, "not an article split: expected lists of article names 'train' and 'eval'")
        known = set(split["train"]) | set(split["eval"])
        unknown = sorted(set(article_of.values()) - known)
        if unknown:
            raise DataError(split_path, f"the split does not place article {unknown[0]!r} of {data_dir}")
    else:
        split = {"source": str(data_dir), "seed": seed, "eval_fraction": eval_fraction,
                 "languages": sorted(files), "key": "article (joined across languages by question id)",
                 **split_articles(list(article_of.values()), eval_fraction, seed)}
        split_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(split_path, json.dumps(split, indent=1, ensure_ascii=False) + "\n")
    train_articles = set(split["train"])
    rows = []
    for lang, articles in per_lang.items():
        for article in articles:
            for row in article["rows"]:
                if article_of[row["group"]] in train_articles:
                    rows.append({"group": row["group"], "lang": lang, "query": row["query"],
                                 "positive": row["positive"], "negatives": row["negatives"][:negatives],
                                 "article": article_of[row["group"]]})
    write_rows(output, rows)
    summary = {"source": str(data_dir), "source_sha256": {lang: sha256_file(p) for lang, p in files.items()},
               "split": str(split_path), "split_sha256": sha256_file(split_path), "part": "train",
               "rows": len(rows), "groups": len({r["group"] for r in rows}), "languages": sorted(files),
               "train_articles": len(split["train"]), "eval_articles": len(split["eval"]),
               "negatives_per_row": negatives}
    atomic_write_text(sidecar(output), json.dumps(summary, indent=1) + "\n")
    if heldout_dir is not None:
        write_heldout(files, article_of, set(split["eval"]), heldout_dir)
    return summary


def write_heldout(files: dict[str, Path], article_of: dict[str, str], eval_articles: set[str], out: Path) -> None:
    """The SQuAD files cut to the eval articles (an article is kept when one of its questions is held out)."""
    out.mkdir(parents=True, exist_ok=True)
    for lang, path in files.items():
        data = json.loads(path.read_text(encoding="utf-8"))
        data["data"] = [
            article for article in data["data"]
            if any(article_of.get(qa["id"]) in eval_articles
                   for para in article.get("paragraphs", []) for qa in para.get("qas", []))
        ]
        atomic_write_text(out / f"{lang}.json", json.dumps(data, ensure_ascii=False))
