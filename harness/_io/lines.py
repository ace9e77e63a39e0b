"""Numbered lines of plain or gzipped UTF-8 files, JSON objects in them and whole JSON files, every
defect one ``DataError`` naming the file and line."""
from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from mlirbench.errors import DataError


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without the line ending); ``.gz`` files are decompressed. A missing,
    truncated or non-UTF-8 file raises a DataError naming the file and, where known, the line."""
    n = 0
    gz = Path(path).suffix == ".gz"
    try:
        with (gzip.open if gz else open)(path, "rb") as fh:
            for n, raw in enumerate(fh, start=1):
                try:
                    yield n, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    raise DataError(path, f"not valid UTF-8 ({exc.reason})", line=n) from None
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (OSError, EOFError, zlib.error) as exc:  # not gzip, truncated, CRC mismatch
        raise DataError(path, f"damaged {'gzip ' if gz else ''}file after {n} line(s) ({exc})") from None


def json_object(path: Path, n: int, line: str, what: str = "a JSON object") -> dict:
    """Line ``n`` of a JSONL file parsed as an object (``what`` describes it in the error)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON: {exc.msg} (column {exc.colno})", line=n) from None
    if not isinstance(obj, dict):
        raise DataError(path, f"expected {what}", line=n)
    return obj


def read_json(path: Path) -> object:
    """Strict UTF-8 JSON; errors carry the line (of the JSON error or of the undecodable byte)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})",
                        line=raw.count(b"\n", 0, exc.start) + 1) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except RecursionError:
        raise DataError(path, "malformed JSON: nested too deeply") from None
