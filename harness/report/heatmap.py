"""PNG heatmap of a language-pair score matrix (query language x corpus language)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mlirbench._io.atomic import atomic_path


def write_heatmap(path: Path, pair_matrix: dict, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = pair_matrix["rows"], pair_matrix["cols"]
    values = np.array([[np.nan if v is None else v for v in row] for row in pair_matrix["values"]], dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(cols), 1.0 + 0.5 * len(rows)), dpi=100)
    im = ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("corpus language")
    ax.set_ylabel("query language")
    ax.set_title(title, fontsize=9)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if values[i, j] < 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.04, label=pair_matrix["metric"])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    return path
