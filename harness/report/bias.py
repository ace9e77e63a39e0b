"""Language bias in the multilingual setting, beyond rank distance.

For each query of the pooled (multi) setting: the share of its top-10 (the saved TREC run) that
is in the query's own language, against the share expected from relevance alone: the share of
its relevant docs in that language (1/11 for XQuAD-R, one relevant sentence per language). A
model without language preference retrieves its own language about as often as relevance
says; a ratio well above 1 means it prefers the query's language over relevant docs in others.
Shares are means over the queries of a language (queries with an empty top-10 are skipped),
then macro-averaged over query languages, as rank distance is. Doc ids carry their language
(``<lang>:...``), so only the side files are needed.

``own_first``: the share of queries whose highest-ranked relevant doc is in their own language,
against chance (``metrics.own_language_first``; the record's ``own_language_first``), from the
ranks file, so records written before the figure existed get it too.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from mlirbench.errors import DataError
from mlirbench.evaluation.metrics import own_language_first
from mlirbench.records.record import load_record, run_file
from mlirbench.records.saved_ranks import SettingRanks, record_ranks
from mlirbench.records.side_files import read_trec


def _lang(doc_or_query_id: str) -> str:
    return doc_or_query_id.split(":", 1)[0]


def language_bias(record_path: Path, ranks: SettingRanks | None = None, depth: int = 10) -> dict:
    """{"per_language": {lang: {observed, expected, n_queries}}, "observed", "expected", "ratio"};
    ``ranks``: the record's multi-setting ranks when already read."""
    record = load_record(record_path)
    trec = run_file(record_path, record, "multi")
    if not trec.is_file():
        raise DataError(trec, "multilingual TREC run missing (needed for the language-bias report)")
    run = read_trec(trec)
    ranks = ranks if ranks is not None else record_ranks(record_path).get("multi")
    if ranks is None:
        raise DataError(record_path, "no multilingual setting in this record")
    observed: dict[str, list[float]] = defaultdict(list)
    expected: dict[str, list[float]] = defaultdict(list)
    for i, key in enumerate(ranks.keys):
        lang = ranks.query_langs[i]
        top = sorted(run.get(key, {}).items(), key=lambda kv: -kv[1])[:depth]
        if not top:
            continue
        relevant = ranks.doc_ids[ranks.offsets[i]:ranks.offsets[i + 1]]
        observed[lang].append(sum(_lang(d) == lang for d, _ in top) / len(top))
        expected[lang].append(sum(_lang(d) == lang for d in relevant) / len(relevant))
    per_language = {lang: {"observed": float(np.mean(observed[lang])), "expected": float(np.mean(expected[lang])),
                           "n_queries": len(observed[lang])} for lang in sorted(observed)}
    obs = float(np.mean([v["observed"] for v in per_language.values()])) if per_language else float("nan")
    exp = float(np.mean([v["expected"] for v in per_language.values()])) if per_language else float("nan")
    first = own_language_first(ranks.query_langs, (
        ([_lang(d) for d in ranks.doc_ids[ranks.offsets[i]:ranks.offsets[i + 1]]],
         ranks.ranks[ranks.offsets[i]:ranks.offsets[i + 1]]) for i in range(len(ranks.keys))))
    return {"depth": depth, "per_language": per_language, "observed": obs, "expected": exp,
            "ratio": obs / exp if exp else float("nan"), "own_first": first}
