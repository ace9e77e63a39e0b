"""Per-language mean centring (retrieval/centering.py)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
