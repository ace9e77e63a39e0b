"""LEADERBOARD.md, generated from results/ only (never edited by hand; same input, same bytes).

The numbers come from the records and their side files only; what is shown comes from each
task's metadata (``TaskMetadata``, passed in by the CLI from the registry): its settings, its
``leaderboard_metrics`` (the columns), and its ``main_score`` in its ``main_setting`` (the row
order, the significance markers, the domain scores).

Per task: the main table (our models, then published reference rows), significance against
a reference model (significance.py: paired randomisation test over question groups on the main
score, Holm-Bonferroni over the models compared with it), 95% bootstrap intervals of the main
score per setting and of rank distance (resampling.py, question groups resampled), the
per-language breakdown (a heatmap of the language-pair
matrix where the task has cross-lingual settings, else a table per metric), the language-bias
report (bias.py) where it has the multilingual setting and, where the task has a committed
domain mapping (domains.py), the robustness summary (robustness.py).
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path

from tqdm.auto import tqdm

from mlirbench._io.atomic import atomic_open
from mlirbench.data.domains import load_mapping, query_domains
from mlirbench.data.task import TaskMetadata
from mlirbench.errors import DataError
from mlirbench.names import unknown
from mlirbench.records.record import EXPERIMENT, Record, is_complete, iter_records, score
from mlirbench.records.saved_ranks import per_query, rank_distances, record_ranks
from mlirbench.report.bias import language_bias
from mlirbench.report.heatmap import write_heatmap
from mlirbench.report.published import PUBLISHED, SOURCE
from mlirbench.report.resampling import LEVEL, N_BOOTSTRAP, SEED, bootstrap_interval, design_of
from mlirbench.report.robustness import domain_summary, shift_summary
from mlirbench.report.significance import GROUP_TEST, TEST_NAMES, check_paired, compare_setting
from mlirbench.report.study import study_section

TEST, ALPHA = GROUP_TEST, 0.01
BETTER, WORSE = "▲", "▼"
LABELS = {"map": "mAP", "recall": "R", "ndcg": "nDCG", "mrr": "MRR", "precision": "P"}
Entries = list[tuple[Path, Record]]


def label(metric: str) -> str:
    """Short column label of a ranx metric name: map -> mAP, recall@10 -> R@10, ndcg@10 -> nDCG@10."""
    name, sep, cut = metric.partition("@")
    return LABELS.get(name, name) + sep + cut


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), "|" + "---|" * len(header), *(_row(r) for r in rows)]


def _by_task(root: Path, tasks: Mapping[str, TaskMetadata], complete_only: bool) -> dict[str, Entries]:
    by_task: dict[str, Entries] = defaultdict(list)
    for path, record in iter_records(root):
        name = record["task"]["name"]
        if name not in tasks:
            raise DataError(path, f"record of task {name!r}, which is not registered (known: {', '.join(sorted(tasks))})")
        if is_complete(record) or not complete_only:
            by_task[name].append((path, record))
    return by_task


def _main_score_phrase(metas: list[TaskMetadata]) -> tuple[str, str]:
    """(what the markers test, the per-query values tested): the main score's label when every task
    shown has the same one."""
    labels = sorted({label(m.main_score) for m in metas})
    if len(labels) == 1:
        return labels[0], f"per-query {labels[0]}"
    named = ", ".join(f"{label(m.main_score)} on {m.name}" for m in metas)
    return f"the task's main score ({named})", "per-query main scores"


def write_leaderboard(results: Path, output: Path, tasks: Mapping[str, TaskMetadata], reference: str | None = None,
                      domains_dir: Path | None = None, progress: bool = False) -> Path:
    """``tasks``: the metadata of every task a record may belong to (registry name -> metadata).
    ``reference``: model the significance markers compare against (default: bm25 where
    a task has it); an unknown name is an error. ``domains_dir``: folder of ``<task>.json``
    domain mappings instead of the committed ones (tasks/domains)."""
    by_task = _by_task(results, tasks, complete_only=True)
    manifests = sorted(Path(results).glob(f"*/{EXPERIMENT}"))
    experiments = {manifest: _by_task(manifest.parent, tasks, complete_only=False) for manifest in manifests}
    shown = sorted({name for group in [by_task, *experiments.values()] for name in group})
    if not shown:  # a header-only board would replace a real one without a word
        subsets = sum(1 for _ in iter_records(results))
        hint = f" ({subsets} records of language subsets, --langs runs, are never shown)" if subsets else ""
        raise DataError(results, f"no result records (<model>/<task>.json) to build a leaderboard from{hint}")
    main, per_query = _main_score_phrase([tasks[name] for name in shown])
    slugs = {path.parent.name for entries in by_task.values() for path, _ in entries}
    if reference is not None and reference not in slugs:
        raise unknown("reference model", reference, slugs)
    out_dir = output.resolve().parent
    lines = [
        "# Leaderboard",
        "",
        "Generated by `mlirbench leaderboard` from the records in `results/`; do not edit by hand.",
        "Settings (LAReQA): **mono** X->X (mean over languages), **cross** X->Y with a one-language",
        "corpus (mean over ordered pairs), **multi** X->pooled corpus of all languages (mean over",
        "query languages). Rank distance (Huang et al. 2023): mean over multilingual queries of the",
        "highest minus the lowest rank among its relevant sentences, macro-averaged over query",
        "languages; lower means less language bias. Rows marked *published* are copied from",
        f"{SOURCE} and were not produced by this harness.",
        f"{BETTER} / {WORSE}: {main} significantly higher / lower than the reference model (marked *ref*):",
        f"{TEST_NAMES[TEST]} on {per_query} (queries paired by id and corpus; the translations",
        "of a question, in every view of the setting, relabelled together, since they are not independent),",
        f"Holm-Bonferroni over the models compared with the reference, p <= {ALPHA}; `mlirbench compare`",
        "gives p-values and win/tie/loss counts (and the per-query tests, which overstate significance).",
        f"Intervals: {LEVEL:.0%} percentile bootstrap over question groups ({N_BOOTSTRAP:,} resamples, seed {SEED}).",
        "Rows `centered-<model>`: the model with its embeddings centred per language (mean of the",
        "evaluated texts of each language and role subtracted, then unit length), a debiasing baseline.",
        "",
    ]
    with tqdm(total=len(by_task) + len(experiments), desc="leaderboard", unit="section",
              disable=not progress) as bar:  # significance tests and bootstraps: tens of seconds
        for task in sorted(by_task):
            mapping = load_mapping(task, Path(domains_dir) / f"{task}.json" if domains_dir else None)
            lines += _task_section(tasks[task], by_task[task], reference, mapping, out_dir)
            bar.update()
        for manifest, groups in experiments.items():
            lines += _experiment_section(manifest, groups, tasks, out_dir, domains_dir)
            bar.update()
    with atomic_open(output, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines).rstrip("\n") + "\n")
    return output


def _experiment_section(manifest: Path, by_task: dict[str, Entries], tasks: Mapping[str, TaskMetadata],
                        out_dir: Path, domains_dir: Path | None) -> list[str]:
    """An experiment folder (``results/<name>/experiment.json`` + ``<name>/<model>/<task>.json``):
    its own tables, never mixed with the full-data ones or with published rows, plus the
    experiment's description and reading kept in the manifest."""
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(manifest, f"malformed experiment manifest: {exc.msg}", line=exc.lineno) from None
    lines = [f"## Experiment: {info['title']}", "", info["description"], ""]
    for task in sorted(by_task):
        mapping = load_mapping(task, Path(domains_dir) / f"{task}.json" if domains_dir else None)
        lines += _task_section(tasks[task], by_task[task], info.get("reference"), mapping, out_dir,
                               heading=f"### {task} ({manifest.parent.name})", published=False)
        if info.get("heldout_domain") and mapping:
            lines += _shift_section(tasks[task], by_task[task], mapping, info["heldout_domain"])
        if "study" in info and info["study"].get("task") == task:  # a mlirbench.grid experiment
            lines += study_section(manifest.parent, out_dir, mapping, info.get("heldout_domain"))
    return lines + ["**Reading.** " + info["reading"], ""]


def _shift_section(meta: TaskMetadata, entries: Entries, mapping: dict, held_out: str) -> list[str]:
    """In-domain vs held-out-domain main score of an experiment whose training left one domain out."""
    if held_out not in mapping["domains"]:
        raise unknown("held-out domain", held_out, mapping["domains"])
    rows = []
    for path, _ in sorted(entries, key=lambda pr: pr[0].parent.name):
        for setting, r in record_ranks(path).items():
            keys = [k.rsplit("@", 1)[0] for k in r.keys]
            values = per_query(r, [meta.main_score])[meta.main_score]
            shift = shift_summary(r, values, query_domains(mapping, keys), held_out)
            drop = shift["relative_drop"]
            rows.append([path.parent.name, setting, _fmt(shift["in_domain"]), _fmt(shift["held_out_domain"]),
                         "–" if drop is None else f"{100 * drop:.1f}%"])
    main = label(meta.main_score)
    header = ["Model", "Setting", f"in-domain {main}", f"held-out domain ({held_out}) {main}", "relative drop"]
    return [f"### Domain shift: trained without *{held_out}*", "",
            "Questions of the training domains (in-domain test articles) vs questions of the held-out",
            "domain, same pool; relative drop = (in - out) / in. Zero-shot models show the two",
            "question sets' difference in difficulty; the trained models' extra drop is the shift.", "",
            *_table(header, rows), ""]


def _task_section(meta: TaskMetadata, entries: Entries, reference: str | None, mapping: dict | None,
                  out_dir: Path, heading: str | None = None, published: bool = True) -> list[str]:
    task, main = meta.name, meta.main_score
    entries = sorted(entries, key=lambda pr: (-(score(pr[1], meta.main_setting, main) or 0.0), pr[0].parent.name))
    names = [path.parent.name for path, _ in entries]  # the record's folder: its slug, unique
    ranks = {name: record_ranks(path) for name, (path, _) in zip(names, entries)}
    ref = reference if reference is not None else "bm25"
    ref = ref if ref in names and len(names) > 1 else None
    markers = _markers(meta, ranks, ref) if ref else {}
    values = {name: {s: per_query(r, [main])[main] for s, r in ranks[name].items()} for name in names}
    robust = {name: _robustness(mapping, ranks[name], values[name]) for name in names} if mapping else {}
    columns = [(m, s) for m in meta.leaderboard_metrics for s in meta.settings]
    pairs = len(meta.settings) > 1  # a language-pair matrix worth a heatmap (else: per-language tables)

    header = ["Model"] + [f"{label(m)} {s}" for m, s in columns]
    header += (["Rank dist."] if "multi" in meta.settings else []) + \
              ([f"Worst domain ({meta.main_setting} {label(main)})"] if mapping else []) + (["Pairs"] if pairs else [])
    rows = []
    for name, (path, rec) in zip(names, entries):
        cells = [f"[{name}]({os.path.relpath(path.resolve(), out_dir)})" + (" *ref*" if name == ref else "")]
        cells += [_fmt(score(rec, s, m)) + (markers.get((name, s), "") if m == main else "") for m, s in columns]
        if "multi" in meta.settings:
            cells.append(_fmt(score(rec, "multi", "rank_distance"), 1))
        if mapping:
            worst = (robust[name].get(meta.main_setting) or {}).get("worst")
            cells.append(f"{_fmt(worst['score'])} ({worst['domain']})" if worst else "–")
        if pairs:
            png = path.with_name(f"{path.stem}.pairs.png")
            write_heatmap(png, rec["pair_matrix"], f"{name} on {task}: {rec['pair_matrix']['metric']}")
            cells.append(f"[heatmap]({os.path.relpath(png.resolve(), out_dir)})")
        rows.append(cells)
    for row in PUBLISHED.get(task, []) if published else []:
        rows.append([f"*published: {row.model}*"] + [_fmt(row.scores.get(c)) for c in columns]
                    + ([_fmt(row.rank_distance, 1)] if "multi" in meta.settings else [])
                    + (["–"] if mapping else []) + ([""] if pairs else []))
    lines = [heading or f"## {task}", "", *_table(header, rows), ""]
    if not ref:
        lines += ["No significance markers: " + ("only one model." if len(names) == 1 else
                                                 f"reference {reference or 'bm25'} has no record for this task."), ""]
    lines += _interval_section(meta, names, ranks, values)
    if not pairs:
        lines += _per_language_section(meta, entries, names)
    lines += _bias_section(entries, names, ranks)
    if mapping:
        lines += _robustness_section(meta, mapping, names, robust)
    lines += ["Models:", ""]
    lines += [f"- **{name}**: {_describe(rec)}" for name, (_, rec) in zip(names, entries)]
    return lines + [""]


def _per_language_section(meta: TaskMetadata, entries: Entries, names: list[str]) -> list[str]:
    """One table per leaderboard metric: the score of each language's view (a one-setting task)."""
    setting = meta.settings[0]
    lines = []
    for m in meta.leaderboard_metrics:
        langs = list(dict.fromkeys(lang for _, rec in entries for lang in rec["task"]["languages"]))
        rows = [[name] + [_fmt(score(rec, setting, m, view=f"{lang}-{lang}")) for lang in langs]
                for name, (_, rec) in zip(names, entries)]
        lines += [f"### {label(m)} per language ({setting})", "", *_table(["Model", *langs], rows), ""]
    return lines


def _markers(meta: TaskMetadata, ranks: dict[str, dict], ref: str) -> dict[tuple[str, str], str]:
    check_paired(ranks, meta.name)
    out = {}
    for setting in meta.settings:
        if setting not in ranks[ref]:
            continue
        others = [n for n in ranks if n != ref]
        pairs = compare_setting({n: ranks[n][setting] for n in ranks}, meta.main_score, TEST, ALPHA,
                                pairs=[(n, ref) for n in others])
        for p in pairs:
            if p.significant:
                out[(p.a, setting)] = BETTER if p.mean_a > p.mean_b else WORSE
    return out


def _robustness(mapping: dict, ranks: dict, values: dict) -> dict:
    return {setting: domain_summary(r, values[setting], query_domains(mapping, [k.rsplit("@", 1)[0] for k in r.keys]),
                                    list(mapping["domains"]))
            for setting, r in ranks.items()}


def _interval_section(meta: TaskMetadata, names: list[str], ranks: dict, values: dict) -> list[str]:
    """Bootstrap interval (question groups resampled) of every setting's main score and of rank distance."""
    def cell(r, v, digits: int) -> str:
        low, high = bootstrap_interval(design_of(r), v)
        return f"[{_fmt(low, digits)}, {_fmt(high, digits)}]"

    main = label(meta.main_score)
    multi = "multi" in meta.settings
    header = ["Model"] + [f"{main} {s}" for s in meta.settings] + (["Rank dist."] if multi else [])
    rows = [[name] + [cell(ranks[name][s], values[name][s], 3) for s in meta.settings]
            + ([cell(ranks[name]["multi"], rank_distances(ranks[name]["multi"]), 1)] if multi else [])
            for name in names]
    return [f"### {LEVEL:.0%} intervals (bootstrap over question groups)", "", *_table(header, rows), ""]


def _bias_section(entries: Entries, names: list[str], ranks: dict) -> list[str]:
    reports = {name: language_bias(path, ranks[name].get("multi")) for name, (path, _) in zip(names, entries)
               if "multi" in ranks[name]}
    if not reports:
        return []
    langs = sorted({lang for r in reports.values() for lang in r["per_language"]})
    expected = sorted({round(v["expected"], 3) for r in reports.values() for v in r["per_language"].values()})
    rows = [[name] + [_fmt(r["per_language"].get(lang, {}).get("observed"), 2) for lang in langs]
            + [_fmt(r["observed"], 3), _fmt(r["expected"], 3), _fmt(r["ratio"], 2),
               _fmt(r["own_first"]["share"], 3), _fmt(r["own_first"]["chance"], 3)]
            for name, r in reports.items()]
    return [
        "### Language bias (multi setting, top-10)",
        "",
        "Share of each query's top-10 in the query's own language, mean per query language. *Expected*:",
        f"the share of its relevant sentences in that language, i.e. from relevance alone "
        f"({', '.join(_fmt(e) for e in expected)}",
        "here). Ratio = mean share / expected; 1 = no preference for the query's language.",
        "*Own first*: share of the queries whose highest-ranked relevant sentence is in their own language",
        "(queries with relevant sentences in two or more languages, one retrieved at least; mean per query",
        "language); *chance*: 1 / the number of languages with a relevant sentence, as often as a model",
        "without language preference would.",
        "",
        *_table(["Model"] + langs + ["mean", "expected", "ratio", "own first", "chance"], rows),
        "",
    ]


def _robustness_section(meta: TaskMetadata, mapping: dict, names: list[str], robust: dict) -> list[str]:
    domains = list(mapping["domains"])
    agree = mapping.get("agreement") or {}
    rows = []
    for name in names:
        for setting in meta.settings:
            summary = robust[name].get(setting)
            if not summary:
                continue
            rows.append([name, setting] + [_fmt(summary["per_domain"].get(d)) for d in domains]
                        + [f"{_fmt(summary['worst']['score'])} ({summary['worst']['domain']})",
                           _fmt(summary["spread"])])
    counts = Counter(mapping["groups"].values())
    rate = agree.get("rate")
    return [
        f"### Robustness across domains ({label(meta.main_score)})",
        "",
        f"Questions grouped by the topical domain of their article (`tasks/domains/{meta.name}.json`, version "
        f"{mapping['version']};",
        ("hand-checked; the automatic assignment agrees on "
         f"{agree['agree']}/{agree['articles']} = {rate:.1%} of the articles)." if rate is not None
         else "automatic assignment, not checked by hand)."),
        "Each query keeps its view's full corpus; a domain's score is the record's aggregate restricted to",
        "its questions (q. = questions per language). Spread = best minus worst domain.",
        "",
        *_table(["Model", "Setting"] + [f"{d} ({counts.get(d, 0)} q.)" for d in domains] + ["Worst", "Spread"], rows),
        "",
        "Domains: " + "; ".join(f"**{d}** {label}" for d, label in mapping["domains"].items()) + ".",
        "",
    ]


def _describe(rec: Record) -> str:
    meta = rec["model"]["metadata"]
    keep = {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool)) and k != "name"}
    parts = [f"{k}={v}" for k, v in sorted(keep.items())]
    training = meta.get("training")
    if isinstance(training, dict):  # a model trained by `mlirbench train`
        parts.insert(0, "trained: " + ", ".join(f"{k}={training.get(k)}" for k in (
            "base", "batching", "alpha", "global_step", "batch_size", "lr", "seed", "freeze_embeddings")))
    git = rec["provenance"].get("git", {})
    commit = (git.get("commit") or "unknown")[:10] + ("+dirty" if git.get("dirty") else "")
    return f"{', '.join(parts)}; code {commit}; mlirbench {rec['provenance']['mlirbench_version']}"
