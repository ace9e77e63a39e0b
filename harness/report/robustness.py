"""Robustness to domain shift: a model's score per topical domain (domains.py).

Computed from the ranks file: each query's value in its view's full ranking (the corpus stays
the full pool of the view, all domains together) restricted to the queries of one domain,
aggregated like the record (mean per view, then mean over views). So a domain's score answers
"how well are questions about this domain answered", not "how well does retrieval work inside
a corpus of this domain only".
"""
from __future__ import annotations

import numpy as np

from mlirbench.records.saved_ranks import SettingRanks, view_macro


def domain_summary(ranks: SettingRanks, values: np.ndarray, domains: list[str | None],
                   order: list[str]) -> dict:
    """{"per_domain": {domain: score}, "n_queries": {domain: n}, "worst": {domain, score},
    "spread": best minus worst, "unassigned": queries without a domain}."""
    labels = np.array([d or "" for d in domains], dtype=object)
    per_domain, counts = {}, {}
    for domain in order:
        select = labels == domain
        counts[domain] = int(select.sum())
        if counts[domain]:
            per_domain[domain] = view_macro(ranks, values, select)
    worst = min(per_domain, key=per_domain.get) if per_domain else None
    return {
        "per_domain": per_domain,
        "n_queries": counts,
        "worst": {"domain": worst, "score": per_domain[worst]} if worst else None,
        "spread": max(per_domain.values()) - min(per_domain.values()) if per_domain else None,
        "unassigned": int((labels == "").sum()),
    }


def shift_summary(ranks: SettingRanks, values: np.ndarray, domains: list[str | None], held_out: str) -> dict:
    """For a model trained without ``held_out``: its score on questions of the training domains
    vs on questions of the held-out domain (same pool), and the relative drop (in - out) / in."""
    labels = np.array([d or "" for d in domains], dtype=object)
    inside, outside = (labels != held_out) & (labels != ""), labels == held_out
    score_in = view_macro(ranks, values, inside) if inside.any() else None
    score_out = view_macro(ranks, values, outside) if outside.any() else None
    drop = (score_in - score_out) / score_in if score_in and score_out is not None else None
    return {"in_domain": score_in, "held_out_domain": score_out, "relative_drop": drop,
            "n_queries": {"in_domain": int(inside.sum()), "held_out_domain": int(outside.sum())}}
