"""Published reference numbers (../shared/REFERENCE.md), shown as reference rows only.

Source: Elmahdy, Lin, Ahmad (2024), arXiv 2408.10536, Table 1 (mAP) and rank distance.
Never mixed with our results: the leaderboard marks them "published".
"""
from __future__ import annotations

SOURCE = "arXiv 2408.10536 (Table 1; rank distance)"

# task -> [(model, batching, mono mAP, cross mAP, multi mAP, rank distance)]
PUBLISHED: dict[str, list[tuple[str, str, float, float, float, float]]] = {
    "xquad-r": [
        ("XLM-R", "X-X-mono", .792, .674, .547, 410.2),
        ("XLM-R", "X-Y", .755, .700, .593, 295.4),
        ("XLM-R", "hybrid", .798, .705, .593, 286.6),
        ("LaBSE", "X-X-mono", .808, .752, .652, 261.5),
        ("LaBSE", "X-Y", .801, .762, .679, 225.2),
        ("LaBSE", "hybrid", .817, .767, .682, 221.1),
    ],
    "mlqa-r": [
        ("XLM-R", "X-X-mono", .648, .584, .473, 287.5),
        ("XLM-R", "X-Y", .626, .620, .508, 226.7),
        ("XLM-R", "hybrid", .648, .623, .512, 227.1),
        ("LaBSE", "X-X-mono", .681, .656, .550, 225.3),
        ("LaBSE", "X-Y", .671, .677, .576, 198.3),
        ("LaBSE", "hybrid", .686, .681, .579, 195.0),
    ],
}
