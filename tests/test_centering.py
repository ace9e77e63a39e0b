"""Per-language mean centring (retrieval/centering.py)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from lareqa_fixture import write_dataset
from miracl_fixture import write_miracl
from test_cli import invoke

from mlirbench.registry import parse_model
from mlirbench.retrieval.centering import CENTERING, CenteredEncoder, center
from mlirbench.retrieval.protocols import Encoder

TOPICS = ("river", "castle", "music")
LANGS = ("en", "de")


class OffsetEncoder:
    """Topic one-hot plus a large offset per language: a caricature of language bias."""

    name = "offset"

    def encode(self, texts: Sequence[str], *, role: str, lang: str) -> np.ndarray:
        out = np.zeros((len(texts), len(TOPICS) + len(LANGS)), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, TOPICS.index(text.split()[0])] = 1.0
            out[i, len(TOPICS) + LANGS.index(lang)] = 3.0
        return out

    def metadata(self) -> dict:
        return {"name": self.name, "dim": len(TOPICS) + len(LANGS)}


def test_center_gives_mean_zero_unit_rows() -> None:
    rows = center(np.random.default_rng(0).normal(2.0, 1.0, (50, 8)).astype(np.float32))
    assert rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
    assert np.abs(rows.mean(axis=0)).max() < 0.2  # renormalised: near, not exactly, zero
    assert not center(np.ones((1, 4), dtype=np.float32)).any()  # one text: nothing left but zeros


def test_centring_removes_the_language_offset() -> None:
    plain = OffsetEncoder()
    centred = CenteredEncoder(plain)
    assert isinstance(centred, Encoder) and centred.metadata() == {**plain.metadata(), "centering": CENTERING}
    passages = [f"{t} text" for t in TOPICS]
    queries = [f"{t} question" for t in TOPICS]
    for model, german_rank in ((plain, 4), (centred, 2)):
        q = model.encode(queries, role="query", lang="en")
        d = np.vstack([model.encode(passages, role="passage", lang=lang) for lang in LANGS])
        order = np.argsort(-(q @ d.T), axis=1, kind="stable")
        # the German passage on the query's topic: behind every English passage, or right after its English twin
        ranks = [int(np.flatnonzero(order[i] == len(TOPICS) + i)[0]) + 1 for i in range(len(TOPICS))]
        assert ranks == [german_rank] * len(TOPICS)
    np.testing.assert_array_equal(centred.encode(queries, role="query", lang="de"),
                                  center(plain.encode(queries, role="query", lang="de")))


def test_centered_model_spec_runs_on_the_cached_embeddings(tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path / "data", ["en", "de", "zh"])
    out = tmp_path / "results"
    args = ["-t", "xquad-r", "--data-dir", str(data), "--langs", "en,de,zh", "-o", str(out), "--quiet"]
    assert invoke(["run", "-m", "random", *args], capsys)[0] == 0
    code, _, err = invoke(["run", "-m", "centered:random", *args], capsys)
    assert code == 0, err
    plain = json.loads((out / "random" / "xquad-r.de-en-zh.json").read_text())
    centred = json.loads((out / "centered-random" / "xquad-r.de-en-zh.json").read_text())
    assert centred["model"]["metadata"] == {**plain["model"]["metadata"], "centering": CENTERING}
    # the centred run read the plain run's embeddings: nothing encoded again
    assert centred["provenance"]["embedding_cache"]["misses"] == 0 < centred["provenance"]["embedding_cache"]["hits"]
    assert centred["aggregate"]["multi"]["map"] != plain["aggregate"]["multi"]["map"]
    spec = parse_model("centered:dense:org/some-model")
    assert spec.centered and spec.name == "dense" and spec.slug == "centered-dense--org__some-model"


def test_centring_a_searcher_or_a_topk_task_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path / "data", ["en", "de"])
    code, _, err = invoke(["run", "-m", "centered:bm25", "-t", "xquad-r", "--data-dir", str(data),
                           "--langs", "en,de", "-o", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2 and "centring needs a dense model" in err and len(err.strip().splitlines()) == 1
    miracl = write_miracl(tmp_path / "miracl", langs=("en",))
    code, _, err = invoke(["run", "-m", "centered:random", "-t", "miracl", "--data-dir", str(miracl), "--langs", "en",
                           "-o", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2 and "full-ranking tasks only" in err
