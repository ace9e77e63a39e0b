"""What an adapter says about itself: its arguments and the packages that compute its results.

Each adapter class, decorated with ``@adapter``, declares ``ARGUMENTS`` (one ``Arg`` per
constructor parameter: type, range or choices, whether it changes results; the default is the
constructor's) and ``PACKAGES`` (the distributions whose version can change its scores). The
command line's ``-a key=value`` strings are parsed against the declaration before the adapter is
built, with no silent coercion (``k1=true``, ``seed=1.7``, ``threads=1.5`` are errors); values
from YAML or Python are checked the same way. Result-neutral arguments (``neutral=True``: progress
bars, worker counts, cache folders) stay out of the embedding cache key, the up-to-date key and
the record path; the packages go into provenance and the up-to-date key, so upgrading a model's
library makes its old records stale.
"""
from __future__ import annotations

import functools
import inspect
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mlirbench.errors import MlirbenchError
from mlirbench.names import unknown

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_KINDS = (bool, int, float, str, Path, dict)
T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class Arg:
    """One adapter argument. ``kind`` is bool, int, float, str, Path (a folder: non-empty text or a
    path object, passed on as text) or dict (a JSON object of strings);
    ``low``/``high`` bound numbers (inclusive); ``choices`` lists the allowed strings; ``optional``
    admits None (typed as ``null``); ``neutral`` marks an argument that never changes results."""

    name: str
    kind: type
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False
    neutral: bool = False
    empty: bool = True  # str: whether "" is allowed

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise TypeError(f"argument {self.name}: kind must be one of {_KINDS}, got {self.kind}")

    def expects(self) -> str:
        """The accepted values in words, for error messages."""
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        elif self.kind is bool:
            text = "true or false"
        elif self.kind is dict:
            text = 'a JSON object of strings, e.g. {"el": "en_XX"}'
        elif self.kind is str:
            text = "text" if self.empty else "non-empty text"
        elif self.kind is Path:
            text = "a folder path"
        else:
            text = "an integer" if self.kind is int else "a finite number"
            if self.low is not None and self.high is not None:
                text += f" in [{_num(self.low)}, {_num(self.high)}]"
            elif self.low is not None:
                text += f" >= {_num(self.low)}"
            elif self.high is not None:
                text += f" <= {_num(self.high)}"
        return text + (" or null" if self.optional else "")

    def parse(self, value: Any) -> Any:
        """The typed value of ``value`` (command-line text or a native value), or a one-line error."""
        if isinstance(value, str) and self.kind not in (str, Path):
            value = self._from_text(value)
        elif isinstance(value, str) and self.kind is str and self.optional and value == "null":
            value = None
        if value is None:
            if self.optional:
                return None
            raise self._error(value)
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            value = float(value) if ok else value
        elif self.kind is str:
            ok = isinstance(value, str) and (self.empty or value != "")
        elif self.kind is Path:
            ok = isinstance(value, (str, os.PathLike)) and os.fspath(value) != ""
            value = os.fspath(value) if ok else value
        else:
            ok = isinstance(value, dict) and all(isinstance(x, str) for kv in value.items() for x in kv)
        if ok and self.kind in (int, float):
            ok = (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        if ok and self.choices:
            ok = value in self.choices
        if not ok:
            raise self._error(value)
        return value

    def _from_text(self, text: str) -> Any:
        """Command-line text -> a value of ``kind`` (still to be range-checked); unparsable text stays text."""
        if self.optional and text == "null":
            return None
        if self.kind is bool:
            return {"true": True, "false": False}.get(text.lower(), text)
        if self.kind is int:
            return int(text) if _INT.fullmatch(text.strip()) else text
        if self.kind is float:
            return float(text) if _FLOAT.fullmatch(text.strip()) else text
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def _error(self, value: Any) -> MlirbenchError:
        return MlirbenchError(f"argument {self.name}: expected {self.expects()}, got {_show(value)}")


def adapter(cls: T) -> T:
    """Class decorator: every construction of ``cls`` (registry, Python caller, Ray worker) has its
    arguments checked against ``cls.ARGUMENTS``, which must name exactly the constructor's
    parameters; ``cls.PACKAGES`` must be declared too."""
    init = cls.__init__
    signature = inspect.signature(init)
    params = [name for name in signature.parameters if name != "self"]
    names = [arg.name for arg in cls.ARGUMENTS]
    if sorted(params) != sorted(names) or not isinstance(getattr(cls, "PACKAGES", None), tuple):
        raise TypeError(f"{cls.__name__}: ARGUMENTS {names} must name the constructor's parameters {params}, "
                        f"and PACKAGES must be a tuple of distribution names")

    @functools.wraps(init)
    def checked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        given = signature.bind(self, *args, **kwargs).arguments
        given.pop("self")
        init(self, **check_arguments(cls.name, cls, given))

    cls.__init__ = checked_init
    return cls


def declared(factory: Any) -> dict[str, Arg]:
    """The ``ARGUMENTS`` a factory declares, by name."""
    return {arg.name: arg for arg in getattr(factory, "ARGUMENTS", ())}


def defaults(factory: Any) -> dict[str, Any]:
    """The constructor's default of each parameter that has one."""
    params = inspect.signature(factory).parameters
    return {name: p.default for name, p in params.items() if p.default is not inspect.Parameter.empty}


def check_arguments(adapter: str, factory: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` parsed and checked against ``factory``'s declaration: unknown names (did you mean),
    wrong types or ranges and missing required arguments are one-line errors naming the adapter."""
    args = declared(factory)
    out = {}
    for name, value in given.items():
        if name not in args:
            raise unknown(f"{adapter} argument", name, args)
        try:
            out[name] = args[name].parse(value)
        except MlirbenchError as exc:
            raise MlirbenchError(f"model {adapter}: {exc}") from None
    missing = [name for name in args if name not in out and name not in defaults(factory)]
    if missing:
        raise MlirbenchError(f"model {adapter}: missing argument {', '.join(missing)} "
                             f"({'; '.join(f'{n}: {args[n].help}' for n in missing)})")
    return out


def neutral_names(factory: Any) -> frozenset[str]:
    """Names of the arguments that do not change results."""
    return frozenset(name for name, arg in declared(factory).items() if arg.neutral)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
