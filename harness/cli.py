"""The ``mlirbench`` command line (click). Heavy imports stay inside commands so that
``mlirbench --help`` and ``mlirbench ls`` answer at once."""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from mlirbench._io.cache import CACHES
from mlirbench._io.paths import check_writable
from mlirbench.cli_params import Finite, out_file, out_folder, parse_langs
from mlirbench.cli_training import make_train_data_cmd, train_cmd, translate_cmd
from mlirbench.errors import MlirbenchError

if TYPE_CHECKING:
    from mlirbench.retrieval.faiss_search import SearchConfig
    from mlirbench.retrieval.scale import ScaleOptions


def _parse_kv(values: tuple[str, ...]) -> dict[str, str]:
    """``key=value`` pairs, values as typed: the adapter's declaration parses and checks them."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"-a: expected key=value, got {item!r}")
        if key in out:
            raise click.BadParameter(f"-a: {key} is given twice")
        out[key] = value
    return out


class _FaissSpec(click.ParamType):
    name = "spec"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> SearchConfig:
        from mlirbench.retrieval.faiss_search import SearchConfig
        try:
            return SearchConfig.parse(str(value))
        except MlirbenchError as exc:
            self.fail(str(exc), param, ctx)


class _TopK(click.ParamType):
    """The type of a top-k option: its value (command line, environment or default) is kept as
    given and parsed by ``_scale_options`` only for a top-k task, so a stray $MLIRBENCH_SHARD_SIZE
    set for a MIRACL session never breaks an xquad-r run."""

    def __init__(self, inner: click.ParamType) -> None:
        self.inner, self.name = inner, inner.name

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        return value


SCALE_PARAMS = ("shard_size", "shard_dtype", "encode_batch", "faiss", "faiss_device", "ray_workers", "ray_address")


def _scale_options(ctx: click.Context, task: str) -> ScaleOptions:
    """The top-k options, parsed for a top-k task (before data and model load, so a typo fails at
    once). For a full-ranking task, flags typed on the command line would be ignored without a word,
    so they fail; their environment variables may be set for a whole shell session, so those do not."""
    from mlirbench.registry import get_task
    from mlirbench.retrieval.scale import ScaleOptions
    params = [p for p in ctx.command.params if p.name in SCALE_PARAMS]
    meta = get_task(task).metadata
    if meta.retrieval != "topk":
        given = [p.opts[0] for p in params if ctx.get_parameter_source(p.name) is ParameterSource.COMMANDLINE]
        if given:
            raise MlirbenchError(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} only to top-k tasks "
                                 f"(e.g. miracl); {meta.name} ranks its whole corpus")
        return ScaleOptions()
    values = {p.name: None if ctx.params[p.name] is None else p.type.inner.convert(ctx.params[p.name], p, ctx)
              for p in params}  # a bad value is click's one-line error, naming the option and its env var
    return ScaleOptions(shard_size=values["shard_size"], dtype=values["shard_dtype"],
                        encode_batch=values["encode_batch"],
                        search=replace(values["faiss"], device=values["faiss_device"]),
                        ray_workers=values["ray_workers"], ray_address=values["ray_address"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlirbench")
def cli() -> None:
    """Multilingual retrieval evaluation: monolingual, cross-lingual and multilingual settings."""


for _command in (make_train_data_cmd, train_cmd, translate_cmd):
    cli.add_command(_command)


@cli.command("run")
@click.option("--model", "-m", required=True, help="Registry name, NAME:MODEL (hub id or folder), or a model folder.")
@click.option("--task", "-t", required=True, help="Task name (see `mlirbench ls`).")
@click.option("--data-dir", type=click.Path(), default=None,
              help="Local data folder (else $MLIRBENCH_<TASK>_DIR or the pinned download).")
@click.option("--langs", default=None, callback=parse_langs, help="Restrict to these languages, e.g. 'en,de,zh'.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              callback=out_folder, help="Results root folder.")
@click.option("--model-arg", "-a", multiple=True, help="Adapter argument key=value (repeatable), e.g. k1=1.2.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--no-cache", is_flag=True, help="Compute everything again: the record, and every cache it uses "
              "(embeddings, shards, BM25 indexes) rebuilt, never reused.")
@click.option("--shard-size", type=_TopK(click.IntRange(min=1)), default=100_000, show_default=True, show_envvar=True,
              envvar="MLIRBENCH_SHARD_SIZE", help="Top-k tasks: docs per encoded corpus shard.")
@click.option("--shard-dtype", type=_TopK(click.Choice(["float32", "float16"])), default="float32", show_default=True,
              show_envvar=True, envvar="MLIRBENCH_SHARD_DTYPE",
              help="Top-k tasks: shard precision (float16 halves the disk; scores shift slightly).")
@click.option("--encode-batch", type=_TopK(click.IntRange(min=1)), default=1024, show_default=True, show_envvar=True,
              envvar="MLIRBENCH_ENCODE_BATCH", help="Top-k tasks: texts per encode call.")
@click.option("--faiss", metavar="SPEC", type=_TopK(_FaissSpec()), default="flat", show_default=True,
              show_envvar=True, envvar="MLIRBENCH_FAISS",
              help="Top-k tasks: FAISS index, flat (exact) | ivf:nlist=N,nprobe=N | hnsw:m=N,ef_search=N.")
@click.option("--faiss-device", type=_TopK(click.Choice(["auto", "cpu", "gpu"])), default="auto", show_default=True,
              show_envvar=True, envvar="MLIRBENCH_FAISS_DEVICE",
              help="Top-k tasks: FAISS device (auto: a GPU where faiss has GPU support and sees one).")
@click.option("--ray-workers", type=_TopK(click.IntRange(min=0)), default=0, show_default=True, show_envvar=True,
              envvar="MLIRBENCH_RAY_WORKERS", help="Top-k tasks: encode shards on this many Ray workers (0: in this process).")
@click.option("--ray-address", type=_TopK(click.STRING), default=None, show_envvar=True, envvar="MLIRBENCH_RAY_ADDRESS",
              help="Top-k tasks: address of an existing Ray cluster [default: start a local one].")
@click.pass_context
def run_cmd(ctx: click.Context, model: str, task: str, data_dir: str | None, langs: list[str] | None, output: Path,
            model_arg: tuple[str, ...], quiet: bool, no_cache: bool, **top_k: object) -> None:
    """Evaluate MODEL on TASK in every setting and write results/<model>/<task>.json."""
    from mlirbench.registry import parse_model
    from mlirbench.runner import run

    spec = parse_model(model, _parse_kv(model_arg))
    scale = _scale_options(ctx, task)  # the top-k options as parsed from ctx (``top_k`` holds them unparsed)
    check_writable(output / spec.slug, folder=True, what="record folder")
    started = time.time_ns()
    path = run(spec, task, data_dir=data_dir, langs=langs, output=output, progress=not quiet,
               cache=not no_cache, argv=sys.argv, scale=scale)
    from mlirbench.records.record import load_record, score, settings
    record = load_record(path)
    for setting in settings(record):
        values = {m: score(record, setting, m) for m in record["aggregate"][setting] if m != "n_views"}
        shown = "  ".join(f"{m}={v:.4f}" for m, v in values.items() if v is not None)
        click.echo(f"{setting:>5}: {shown}")
    if path.stat().st_mtime_ns >= started:  # not when the runner found the record up to date
        click.echo(f"wrote {path}")


@cli.command("ls")
def ls_cmd() -> None:
    """List models and tasks, one line each."""
    from mlirbench.registry import CENTERED, MODELS, TASKS
    click.echo("models:")
    for name, entry in MODELS.items():
        click.echo(f"  {name:<8} {entry.summary}")
    click.echo(f"  {CENTERED}<model>  any dense model above with its embeddings centred per language (debiasing baseline)")
    click.echo("tasks:")
    for name, entry in TASKS.items():
        click.echo(f"  {name:<8} {entry.summary}")


@cli.command("leaderboard")
@click.option("--results", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("results"),
              show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, callback=out_file,
              help="File to write [default: LEADERBOARD.md beside the --results folder].")
@click.option("--reference", default=None, help="Model the significance markers compare with [default: bm25 where present].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def leaderboard_cmd(results: Path, output: Path | None, reference: str | None, quiet: bool) -> None:
    """Regenerate LEADERBOARD.md (and its heatmaps) from result records only."""
    output = output or check_writable(results.absolute().parent / "LEADERBOARD.md", folder=False, what="--output")
    from mlirbench.records.record import is_complete, iter_records
    from mlirbench.registry import task_metadata
    from mlirbench.report.leaderboard import write_leaderboard
    records = list(iter_records(results))
    click.echo(f"wrote {write_leaderboard(results, output, task_metadata(), reference, progress=not quiet)}")
    subsets = [path for path, record in records if not is_complete(record)]
    if subsets:
        click.echo(f"not on the leaderboard ({len(subsets)} records of language subsets, --langs runs): "
                   + ", ".join(str(p.relative_to(results)) for p in subsets))


@cli.group("cache")
def cache_group() -> None:
    """Inspect or clear the caches under $MLIRBENCH_CACHE: embeddings, BM25 indexes, shards, converted models."""


@cache_group.command("info")
@click.option("--model", default=None, help="Only this model's embeddings and shards (e.g. use-m3).")
def cache_info_cmd(model: str | None) -> None:
    """Where each cache is, its files and its size."""
    from mlirbench._io.cache import cache_root, usage
    click.echo(f"cache root: {cache_root()}")
    for kind, folder, files, size in usage(model=model):
        click.echo(f"  {kind:<13} {files:>7} files {size / 1e6:10.1f} MB  {CACHES[kind]} ({folder})")


@cache_group.command("clear")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(list(CACHES)),
              help="Only this cache (repeatable) [default: all].")
@click.option("--model", default=None, help="Only this model's embeddings and shards (e.g. use-m3).")
def cache_clear_cmd(kinds: tuple[str, ...], model: str | None) -> None:
    """Delete cached results (never the downloaded data): they are computed again when needed."""
    from mlirbench._io.cache import clear
    removed = clear(kinds or CACHES, model)
    click.echo("removed " + ", ".join(f"{n} {kind} files" for kind, n in removed.items()))


@cli.command("regress")
@click.option("--condition", "-c", "names", multiple=True,
              help="Only these conditions (names or glob patterns, repeatable), e.g. 'bm25/*'.")
@click.option("--tier", type=click.Choice(["fast", "all", "miracl"]), default="all", show_default=True,
              help="fast: the conditions CI checks on every submission; all: fast and slow; "
                   "miracl: pyserini's BM25 scores on MIRACL dev (needs --data-dir miracl=DIR).")
@click.option("--update", is_flag=True, help="Rewrite the expected values with the actual ones (plus provenance).")
@click.option("--data-dir", "data_dirs", multiple=True,
              help="[TASK=]PATH: data folder instead of the file's (a plain PATH applies to every task).")
@click.option("--file", "-f", "path", type=click.Path(path_type=Path), default=None,
              help="Expectations file [default: regression/expected.yaml of this checkout].")
@click.option("--cache", is_flag=True,
              help="Reuse the embedding cache (faster; misses encoder changes that keep the adapter's metadata).")
def regress_cmd(names: tuple[str, ...], tier: str, update: bool, data_dirs: tuple[str, ...],
                path: Path | None, cache: bool) -> None:
    """Rerun the expected-score conditions; print OK / OKish / FAIL / IMPROVED; exit 1 on any miss."""
    from mlirbench.regress import regress
    passed = regress(path, names, tier, data_dirs, do_update=update, cache=cache, argv=sys.argv, echo=click.echo)
    if not passed:
        sys.exit(1)


@cli.command("compare")
@click.option("--models", "-m", required=True, multiple=True,
              help="Models (folders under --results), two or more: --models A B or -m A -m B.")
@click.argument("more", nargs=-1)
@click.option("--task", "-t", required=True, help="Task name, e.g. xquad-r.")
@click.option("--metric", default=None, help="ranx metric name, e.g. map, recall@10, ndcg@10 [default: the task's main score].")
@click.option("--test", "stat_test", default="group", show_default=True,
              help="group (randomisation over question groups: translations move together), or the per-query "
                   "student (paired t-test), fisher (randomization), tukey (Tukey's HSD).")
@click.option("--alpha", type=Finite(0, 1, min_open=True, max_open=True), default=0.01, show_default=True,
              help="Significance level (after correction).")
@click.option("--results", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("results"),
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def compare_cmd(models: tuple[str, ...], more: tuple[str, ...], task: str, metric: str | None, stat_test: str,
                alpha: float, results: Path, as_json: bool, quiet: bool) -> None:
    """Paired significance tests between models per setting, from their saved files only."""
    import json

    from mlirbench.report.significance import compare_models, format_comparison
    result = compare_models(results, list(models) + list(more), task, metric, stat_test, alpha, progress=not quiet)
    click.echo(json.dumps(result, indent=2) if as_json else format_comparison(result))


@cli.group("domains")
def domains_cmd() -> None:
    """Topical domains of articles: automatic assignment, hand-checked mappings, held-out splits."""


@domains_cmd.command("assign")
@click.argument("squad_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--task", "-t", required=True, help="Task name recorded in the mapping (see `mlirbench ls`).")
@click.option("--hand", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Earlier mapping whose hand-checked domains (by title) are kept; agreement is reported.")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path), callback=out_file)
def domains_assign_cmd(squad_file: Path, task: str, hand: Path | None, output: Path) -> None:
    """Assign every article of SQUAD_FILE (English titles and text) to a domain; write the mapping."""
    from mlirbench.data.domains import build_mapping, load_mapping, write_json_file
    from mlirbench.names import unknown
    from mlirbench.registry import TASKS
    if task not in TASKS:
        raise unknown("task", task, TASKS)
    mapping = build_mapping(squad_file, task, load_mapping(task, hand) if hand else None)
    write_json_file(output, mapping)
    agree = mapping["agreement"]
    if agree:
        click.echo(f"automatic vs hand-checked: {agree['agree']}/{agree['articles']} articles agree ({agree['rate']:.1%})")
        for line in agree["disagreements"]:
            click.echo(f"  {line}")
    click.echo(f"wrote {output}: {len(mapping['articles'])} articles, {len(mapping['groups'])} questions")


@domains_cmd.command("splits")
@click.argument("mapping_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path), callback=out_file)
def domains_splits_cmd(mapping_file: Path, output: Path) -> None:
    """Write leave-one-domain-out train/held-out splits (article titles) of a mapping."""
    from mlirbench.data.domains import build_splits, load_mapping, write_json_file
    splits = build_splits(load_mapping("", mapping_file))
    write_json_file(output, splits)
    click.echo(f"wrote {output}: {', '.join(splits['splits'])}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="mlirbench", standalone_mode=False)
    except MlirbenchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.BadParameter as exc:  # a bad option value is a user error like any other: one line
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
