"""The ``mlirbench`` command line (click). Heavy imports stay inside commands so that
``mlirbench --help`` and ``mlirbench ls`` answer at once."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import MlirbenchError


def _parse_kv(values: tuple[str, ...]) -> dict:
    """``key=value`` pairs; values are read as JSON where they parse (numbers, booleans)."""
    import json
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _langs(value: str | None) -> list[str] | None:
    return [x.strip() for x in value.replace(",", " ").split()] if value else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlirbench")
def cli() -> None:
    """Multilingual retrieval evaluation: monolingual, cross-lingual and multilingual settings."""


@cli.command("run")
@click.option("--model", "-m", required=True, help="Registry name, NAME:MODEL (hub id or folder), or a model folder.")
@click.option("--task", "-t", required=True, help="Task name (see `mlirbench ls`).")
@click.option("--data-dir", type=click.Path(), default=None, help="Local data folder (else $MLIRBENCH_<TASK>_DIR or the pinned download).")
@click.option("--langs", default=None, help="Restrict to these languages, e.g. 'en,de,zh'.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Results root folder.")
@click.option("--model-arg", "-a", multiple=True, help="Adapter argument key=value (repeatable), e.g. k1=1.2.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--no-cache", is_flag=True, help="Encode everything again (the embedding cache is neither read nor written).")
def run_cmd(model: str, task: str, data_dir: str | None, langs: str | None, output: Path,
            model_arg: tuple[str, ...], quiet: bool, no_cache: bool) -> None:
    """Evaluate MODEL on TASK in every setting and write results/<model>/<task>.json."""
    from .registry import parse_model
    from .runner import run

    spec = parse_model(model, _parse_kv(model_arg))
    path = run(spec, task, data_dir=data_dir, langs=_langs(langs), output=output, progress=not quiet,
               cache=not no_cache, argv=sys.argv)
    from .results import load_record
    agg = load_record(path)["aggregate"]
    for setting in ("mono", "cross", "multi"):
        scores = agg.get(setting, {})
        shown = "  ".join(f"{m}={v:.4f}" for m, v in scores.items() if isinstance(v, float))
        click.echo(f"{setting:>5}: {shown}")
    click.echo(f"wrote {path}")


@cli.command("ls")
def ls_cmd() -> None:
    """List models and tasks, one line each."""
    from .registry import MODELS, TASKS
    click.echo("models:")
    for name, entry in MODELS.items():
        click.echo(f"  {name:<8} {entry.summary}")
    click.echo("tasks:")
    for name, entry in TASKS.items():
        click.echo(f"  {name:<8} {entry.summary}")


@cli.command("leaderboard")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path), default=Path("LEADERBOARD.md"), show_default=True)
def leaderboard_cmd(results: Path, output: Path) -> None:
    """Regenerate LEADERBOARD.md (and its heatmaps) from result records only."""
    from .leaderboard import write_leaderboard
    click.echo(f"wrote {write_leaderboard(results, output)}")


@cli.group("cache")
def cache_group() -> None:
    """Inspect or clear the embedding cache ($MLIRBENCH_CACHE/embeddings)."""


@cache_group.command("info")
def cache_info_cmd() -> None:
    """Where the cache is, and its entries and size per model."""
    from .embedding_cache import embeddings_root
    root = embeddings_root()
    click.echo(f"embedding cache: {root}")
    for folder in sorted(p for p in root.glob("*") if p.is_dir()):
        files = list(folder.rglob("*.npy"))
        click.echo(f"  {folder.name:<24} {len(files):>5} entries {sum(f.stat().st_size for f in files) / 1e6:9.1f} MB")


@cache_group.command("clear")
@click.option("--model", default=None, help="Only this adapter's entries (e.g. use-m3).")
def cache_clear_cmd(model: str | None) -> None:
    """Delete cached embeddings."""
    from .embedding_cache import clear
    click.echo(f"removed {clear(model)} cached embedding files")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="mlirbench", standalone_mode=False)
    except MlirbenchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
