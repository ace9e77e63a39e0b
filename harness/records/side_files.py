"""Files written beside a result record, both gzipped and byte-reproducible (no gzip timestamp).

* ``<stem>.ranks.tsv.gz``: for every (view, query, relevant doc) the doc's rank in the view's
  full ranking (0 = not retrieved), its score, how many docs were ranked, and the query's group
  (the id its parallel translations share, ``Collection.query_groups``). Every reported
  metric and rank distance can be recomputed exactly from it (``mlirbench`` does so for
  significance tests and intervals, which resample groups) without re-running the model; it is
  small because it lists only relevant docs. Files written before the group column read the
  group from the query id (``<lang>:<group>``, how the LAReQA loaders made both).
* ``<stem>.<setting>.trec.gz``: standard TREC runs of the top ``save_depth`` docs per query
  (mono and multi settings), for inspection and fusion. Query keys are ``<query id>@<corpus>``.
Scores are float32 written in their shortest round-trip form (``float32(read value)`` is exact).
"""
from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mlirbench._io.atomic import atomic_path
from mlirbench._io.lines import numbered_lines
from mlirbench.data.collection import Collection
from mlirbench.errors import DataError
from mlirbench.evaluation.ranking import ViewRanking

RANKS_HEADER = ("setting", "query_lang", "corpus", "query_id", "doc_id", "grade", "rank", "score",
                "n_ranked", "n_docs", "group")
_UNGROUPED_HEADER = RANKS_HEADER[:-1]  # files written before the group column


def run_key(query_id: str, corpus: str) -> str:
    return f"{query_id}@{corpus}"


@contextlib.contextmanager
def _gz_text(path: Path) -> Iterator[io.TextIOWrapper]:
    with atomic_path(path) as tmp, open(tmp, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="", compresslevel=6) as gz:
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="\n")
        yield text
        text.flush()
        text.detach()


def _score(value: float) -> str:
    return repr(np.float32(value).item()) if not np.isfinite(value) else str(np.float32(value))


def write_ranks(path: Path, rankings: dict[str, list[ViewRanking]], collection: Collection) -> None:
    """One line per (view, query, relevant doc), in query order and, per query, in the order of
    ``ViewRanking.relevant``; a view's lines are built from its arrays at once and written together."""
    q_ids = np.asarray(collection.queries.ids, dtype=object)
    groups = np.asarray(collection.query_groups, dtype=object)
    d_ids = np.asarray(collection.docs.ids, dtype=object)
    with _gz_text(path) as out:
        out.write("\t".join(RANKS_HEADER) + "\n")
        for setting, vrs in rankings.items():
            for vr in vrs:
                v = vr.view
                # the relevant entries of a query are the prefix of its padded row (see ViewRanking.relevant)
                count = (vr.rel_rows >= 0).sum(axis=1)
                qi, ji = np.nonzero(np.arange(vr.rel_rows.shape[1])[None, :] < count[:, None])
                head, docs = f"{setting}\t{v.query_lang}\t{v.corpus}\t", f"\t{vr.n_docs}\t"
                rows = vr.query_rows[qi]
                out.write("".join(
                    f"{head}{q}\t{d}\t{g}\t{r}\t{_score(s)}\t{n}{docs}{group}\n"
                    for q, d, g, r, s, n, group in zip(q_ids[rows], d_ids[vr.rel_rows[qi, ji]],
                                                       vr.rel_grades[qi, ji].tolist(), vr.rel_ranks[qi, ji].tolist(),
                                                       vr.rel_scores[qi, ji], vr.n_ranked[qi].tolist(), groups[rows])))


def _int(path: Path, n: int, key: str, value: str, low: int = 0) -> int:
    try:
        out = int(value)
    except ValueError:
        raise DataError(path, f"{key} {value!r} is not an integer", line=n) from None
    if out < low:
        raise DataError(path, f"{key} {out} is below {low}", line=n)
    return out


def _float(path: Path, n: int, key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataError(path, f"{key} {value!r} is not a number", line=n) from None


def read_ranks(path: Path) -> list[dict]:
    """Rows of a ranks file as dicts with typed values (rank, grade, n_* as int; score float)."""
    rows, seen = [], set()
    lines = numbered_lines(path)
    header = next(lines, (1, ""))[1].split("\t")
    if tuple(header) not in (RANKS_HEADER, _UNGROUPED_HEADER):
        raise DataError(path, f"not a ranks file: header is not {'/'.join(RANKS_HEADER)}", line=1)
    ungrouped = tuple(header) == _UNGROUPED_HEADER
    for n, line in lines:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(path, f"expected {len(header)} tab-separated fields, got {len(fields)}", line=n)
        row = dict(zip(header, fields))
        for key in ("grade", "rank", "n_ranked", "n_docs"):
            row[key] = _int(path, n, key, row[key])
        row["score"] = _float(path, n, "score", row["score"])
        if ungrouped:
            row["group"] = row["query_id"].split(":", 1)[-1]
        if not (row["rank"] <= row["n_ranked"] <= row["n_docs"]):
            raise DataError(path, "needs rank <= n_ranked <= n_docs", line=n)
        key = (row["setting"], row["corpus"], row["query_id"], row["doc_id"])
        if key in seen:
            raise DataError(path, f"duplicate row for query {row['query_id']!r} and doc {row['doc_id']!r}", line=n)
        seen.add(key)
        rows.append(row)
    return rows


def write_trec(path: Path, rankings: list[ViewRanking], collection: Collection, tag: str) -> None:
    q_ids, d_ids = collection.queries.ids, collection.docs.ids
    with _gz_text(path) as out:
        for vr in rankings:
            for q, rows, scores in zip(vr.query_rows, vr.top_rows, vr.top_scores):
                key = run_key(q_ids[q], vr.view.corpus)
                for rank, (d, s) in enumerate(zip(rows[rows >= 0], scores), start=1):
                    out.write(f"{key} Q0 {d_ids[d]} {rank} {_score(s)} {tag}\n")


def read_trec(path: Path) -> dict[str, dict[str, float]]:
    """A TREC run ``query Q0 doc rank score tag`` as {query: {doc: score}}."""
    run: dict[str, dict[str, float]] = {}
    for n, line in numbered_lines(path):
        fields = line.split()
        if len(fields) != 6:
            raise DataError(path, f"expected 6 fields (query Q0 doc rank score tag), got {len(fields)}", line=n)
        key, _, doc, rank, score, _ = fields
        _int(path, n, "rank", rank, low=1)
        docs = run.setdefault(key, {})
        if doc in docs:
            raise DataError(path, f"duplicate doc {doc!r} for query {key!r}", line=n)
        docs[doc] = _float(path, n, "score", score)
    return run
