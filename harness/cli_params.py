"""Click parameter types and callbacks shared by the command-line modules: checks that run when
the options are parsed, before any work."""
from __future__ import annotations

import math
from pathlib import Path

import click

from mlirbench._io.paths import check_writable


def parse_langs(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """A comma- or space-separated language list; one given without any code ('', ',') is an error,
    never 'all languages'."""
    if value is None:
        return None
    codes = value.replace(",", " ").split()
    if not codes:
        raise click.BadParameter(f"no language codes in {value!r}", ctx, param)
    return codes


class Finite(click.FloatRange):
    """A FloatRange that also refuses nan and inf (which pass every comparison)."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def out_folder(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """An output folder checked at parse time, before any work (``_io.paths.check_writable``)."""
    return None if value is None else check_writable(value, folder=True, what=param.opts[0])


def out_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    return None if value is None else check_writable(value, folder=False, what=param.opts[0])
