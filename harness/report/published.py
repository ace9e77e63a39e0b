"""Published reference numbers (../shared/REFERENCE.md), shown as reference rows only.

Source: Elmahdy, Lin, Ahmad (2024), arXiv 2408.10536, Table 1 (mAP) and rank distance.
Never mixed with our results: the leaderboard marks them "published".
"""
from __future__ import annotations

from dataclasses import dataclass

SOURCE = "arXiv 2408.10536 (Table 1; rank distance)"


@dataclass(frozen=True)
class PublishedRow:
    model: str
    scores: dict[tuple[str, str], float]  # (metric, setting) -> value; the leaderboard shows "–" for others
    rank_distance: float | None = None


def _lareqa(model: str, batching: str, mono: float, cross: float, multi: float, rank_distance: float) -> PublishedRow:
    return PublishedRow(f"{model} {batching}", {("map", "mono"): mono, ("map", "cross"): cross, ("map", "multi"): multi},
                        rank_distance)


# task -> rows (model, batching, mono mAP, cross mAP, multi mAP, rank distance)
PUBLISHED: dict[str, list[PublishedRow]] = {
    "xquad-r": [
        _lareqa("XLM-R", "X-X-mono", .792, .674, .547, 410.2),
        _lareqa("XLM-R", "X-Y", .755, .700, .593, 295.4),
        _lareqa("XLM-R", "hybrid", .798, .705, .593, 286.6),
        _lareqa("LaBSE", "X-X-mono", .808, .752, .652, 261.5),
        _lareqa("LaBSE", "X-Y", .801, .762, .679, 225.2),
        _lareqa("LaBSE", "hybrid", .817, .767, .682, 221.1),
    ],
    "mlqa-r": [
        _lareqa("XLM-R", "X-X-mono", .648, .584, .473, 287.5),
        _lareqa("XLM-R", "X-Y", .626, .620, .508, 226.7),
        _lareqa("XLM-R", "hybrid", .648, .623, .512, 227.1),
        _lareqa("LaBSE", "X-X-mono", .681, .656, .550, 225.3),
        _lareqa("LaBSE", "X-Y", .671, .677, .576, 198.3),
        _lareqa("LaBSE", "hybrid", .686, .681, .579, 195.0),
    ],
}
