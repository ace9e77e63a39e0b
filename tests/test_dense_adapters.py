"""The torch adapters (dense, mbart, laser3) on tiny random models built offline in this session."""
from __future__ import annotations

import json
import pathlib
import shutil
import sys
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
pytest.importorskip("nano_laser")

import torch  # noqa: E402
from tiny_models import build_dense_model, build_laser_dir, build_mbart_model  # noqa: E402

from mlirbench.adapters._torch_utils import (  # noqa: E402
    encode_sorted,
    folder_sha256,
    import_optional,
    length_sorted_batches,
)
from mlirbench.adapters.dense import DenseEncoder  # noqa: E402
from mlirbench.adapters.laser3 import Laser3Encoder  # noqa: E402
from mlirbench.adapters.mbart import MBartEncoder  # noqa: E402
from mlirbench.errors import MissingDependencyError, MlirbenchError  # noqa: E402
from mlirbench.retrieval.protocols import Encoder  # noqa: E402

TEXTS = [
    "the house.",
    "das Haus am Fluss ist klein und grün, und das Buch liest schnell.",
    "дом",
    "บ้าน แม่น้ำ เล็ก สีเขียว หนังสือ",
    "το σπίτι ποτάμι μικρό πράσινο βιβλίο διαβάζει γρήγορα νερό πόλη",
    "",
]


@pytest.fixture(scope="session", autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)  # the test machines share two cores between agents


@pytest.fixture(scope="session")
def dense_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_dense_model(tmp_path_factory.mktemp("dense"))


@pytest.fixture(scope="session")
def dense(dense_dir: pathlib.Path) -> DenseEncoder:
    return DenseEncoder(str(dense_dir), device="cpu", batch_size=4)


@pytest.fixture(scope="session")
def mbart_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_mbart_model(tmp_path_factory.mktemp("mbart"))


@pytest.fixture(scope="session")
def mbart(mbart_dir: pathlib.Path) -> MBartEncoder:
    return MBartEncoder(str(mbart_dir), device="cpu", normalize=False)


@pytest.fixture(scope="session")
def laser_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_laser_dir(tmp_path_factory.mktemp("laser"))


# ---------------------------------------------------------------- shared helpers


def test_length_sorted_batches_cover_every_index_longest_first() -> None:
    texts = ["a", "abcd", "ab", "abc", "abcde"]
    batches = list(length_sorted_batches(texts, 2))
    assert [len(b) for b in batches] == [2, 2, 1]
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(5))
    assert [len(texts[i]) for i in order] == [5, 4, 3, 2, 1]


def test_encode_sorted_prepares_ahead_in_one_helper_thread() -> None:
    """Preparation (tokenization) runs in one thread other than the caller's, never two at once, at
    most two batches ahead of the device half, and rows come back in input order."""
    import threading
    import time

    texts = [f"t{i}" * (i % 7 + 1) for i in range(23)]
    lock, state = threading.Lock(), {"running": 0, "prepared": 0, "embedded": 0, "threads": set(), "ahead": []}

    def prepare(batch: list[str]) -> list[str]:
        with lock:
            state["running"] += 1
            assert state["running"] == 1
            state["threads"].add(threading.get_ident())
        time.sleep(0.002)
        with lock:
            state["running"] -= 1
            state["prepared"] += 1
        return batch

    def embed(batch: list[str]) -> np.ndarray:
        assert threading.get_ident() == caller
        state["ahead"].append(state["prepared"] - state["embedded"])
        state["embedded"] += 1
        return np.array([[float(text[1:].split("t")[0]), len(text)] for text in batch], dtype=np.float32)

    caller = threading.get_ident()
    out = encode_sorted(texts, embed, prepare=prepare, dim=2, batch_size=3, show_progress=False, desc="x")
    np.testing.assert_array_equal(out[:, 0], np.arange(23))
    assert state["threads"] and caller not in state["threads"] and state["embedded"] == 8
    assert max(state["ahead"]) <= 3  # the batch being embedded + _PREPARE_AHEAD prepared after it

    def broken(batch: list[str]) -> list[str]:
        raise ValueError("bad text")

    with pytest.raises(ValueError, match="bad text"):
        encode_sorted(texts, embed, prepare=broken, dim=2, batch_size=3, show_progress=False, desc="x")


def test_missing_dependency_names_the_pip_hint(monkeypatch: pytest.MonkeyPatch, laser_dir: pathlib.Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'mlirbench\[dense\]'"):
        import_optional("surely_not_installed_pkg", "dense")
    monkeypatch.setitem(sys.modules, "nano_laser", None)  # what an absent package looks like to import
    with pytest.raises(MissingDependencyError, match=r"laser3 adapter needs nano_laser.*mlirbench\[dense\]"):
        Laser3Encoder(model_dir=laser_dir, device="cpu")


# ---------------------------------------------------------------- dense


def test_dense_shapes_normalisation_and_protocol(dense: DenseEncoder, dense_dir: pathlib.Path) -> None:
    assert isinstance(dense, Encoder)
    out = dense.encode(TEXTS, role="passage", lang="mixed")
    assert out.shape == (len(TEXTS), 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    raw = DenseEncoder(str(dense_dir), device="cpu", normalize=False).encode(TEXTS, role="passage", lang="x")
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), out, atol=1e-5)
    assert dense.encode([], role="query", lang="en").shape == (0, 32)


def test_dense_equals_sentence_transformers_encode(dense_dir: pathlib.Path) -> None:
    """The split tokenize/embed path gives what ``SentenceTransformer.encode`` gives, prompt included."""
    enc = DenseEncoder(str(dense_dir), device="cpu", batch_size=4, query_prefix="Query: ", normalize=False)
    ours = enc.encode(TEXTS, role="query", lang="x")
    reference = enc.model.encode(TEXTS, prompt="Query: ", batch_size=4, convert_to_numpy=True)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert not np.allclose(ours, enc.model.encode(TEXTS, batch_size=4, convert_to_numpy=True), atol=1e-3)


def test_dense_tokenizer_processes_give_identical_embeddings(dense_dir: pathlib.Path) -> None:
    from mlirbench.retrieval.embedding_cache import model_identity

    texts = TEXTS * 9
    plain = DenseEncoder(str(dense_dir), device="cpu", batch_size=4, query_prefix="Query: ")
    workers = DenseEncoder(str(dense_dir), device="cpu", batch_size=4, query_prefix="Query: ", tokenize_workers=2)
    for role in ("query", "passage"):
        np.testing.assert_array_equal(workers.encode(texts, role=role, lang="x"), plain.encode(texts, role=role, lang="x"))
    assert workers.metadata()["arguments"]["tokenize_workers"] == 2
    assert model_identity(workers) == model_identity(plain)  # same cache entries
    with pytest.raises(MlirbenchError, match="tokenize_workers: expected an integer >= 0"):
        DenseEncoder(str(dense_dir), device="cpu", tokenize_workers=-1)


def test_dense_tokenizer_processes_refuse_preprocessing_that_is_not_a_plain_tokenizer_call(
        dense: DenseEncoder) -> None:
    from mlirbench.adapters.dense import _plain_tokenizer

    class Extra:
        """A model whose preprocessing adds a tensor a tokenizer call does not make."""

        max_seq_length = dense.model.max_seq_length

        def __getitem__(self, i: int):
            return dense.model[i]

        def preprocess(self, texts, prompt=None):
            features = dense.model.preprocess(texts, prompt=prompt)
            return dict(features, extra=torch.zeros(len(texts)))

    tokenizer, constants = _plain_tokenizer(dense.model, {"", "Q: "}, "dense")
    assert tokenizer is dense.model[0].tokenizer and set(constants) == {"", "Q: "}
    with pytest.raises(MlirbenchError, match="needs a model whose preprocessing is a plain tokenizer call.*extra"):
        _plain_tokenizer(Extra(), {""}, "dense")


def test_dense_length_sorted_batching_keeps_input_order(dense: DenseEncoder) -> None:
    one_by_one = np.vstack([dense.encode([text], role="query", lang="x") for text in TEXTS])
    np.testing.assert_allclose(dense.encode(TEXTS, role="query", lang="x"), one_by_one, atol=1e-5)


def test_dense_prefixes_are_applied_and_recorded(dense: DenseEncoder, dense_dir: pathlib.Path) -> None:
    prefixed = DenseEncoder(str(dense_dir), device="cpu", query_prefix="Query: ", passage_prefix="Passage: ")
    plain_q = dense.encode(TEXTS[:3], role="query", lang="x")
    query = prefixed.encode(TEXTS[:3], role="query", lang="x")
    passage = prefixed.encode(TEXTS[:3], role="passage", lang="x")
    assert not np.allclose(query, plain_q, atol=1e-3)
    assert not np.allclose(query, passage, atol=1e-3)
    assert prefixed.metadata()["prefixes"] == {"query": "Query: ", "passage": "Passage: "}
    assert dense.metadata()["prefixes"] == {"query": "", "passage": ""}
    with pytest.raises(MlirbenchError, match="role"):
        dense.encode(TEXTS, role="document", lang="x")  # type: ignore[arg-type]


def test_dense_uses_the_models_own_prompts_unless_overridden(dense_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    folder = shutil.copytree(dense_dir, tmp_path / "with-prompts")
    config_file = folder / "config_sentence_transformers.json"
    config = json.loads(config_file.read_text())
    config["prompts"] = {"query": "query: ", "document": "passage: "}
    config_file.write_text(json.dumps(config))
    assert DenseEncoder(str(folder), device="cpu").prefixes == {"query": "query: ", "passage": "passage: "}
    own_off = DenseEncoder(str(folder), device="cpu", query_prefix="", passage_prefix="")
    assert own_off.prefixes == {"query": "", "passage": ""}


def test_dense_metadata_and_revision(dense: DenseEncoder, dense_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    meta = dense.metadata()
    assert meta["name"] == "dense" and meta["dim"] == 32 and meta["max_length"] == 64
    assert meta["dtype"] == "fp32" and meta["device"] == "cpu" and meta["similarity"] == "cosine"
    assert meta["arguments"]["batch_size"] == 4
    json.dumps(meta)  # goes into the result record as is
    assert meta["revision"].startswith("sha256:")
    assert DenseEncoder(str(dense_dir), device="cpu", max_length=16).metadata()["revision"] == meta["revision"]
    copy = shutil.copytree(dense_dir, tmp_path / "copy")
    assert folder_sha256(copy) == meta["revision"]  # the location does not matter, the bytes do
    with open(copy / "model.safetensors", "ab") as weights:
        weights.write(b"\0")
    assert folder_sha256(copy) != meta["revision"]
    assert DenseEncoder(str(dense_dir), device="cpu", max_length=16).metadata()["max_length"] == 16


def test_dense_unknown_hub_id_offline_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(MlirbenchError, match="not in the local Hugging Face cache.*HF_HUB_OFFLINE.*local folder"):
        DenseEncoder("nobody/no-such-model", device="cpu")
    assert time.monotonic() - start < 5
    with pytest.raises(MlirbenchError, match="does not exist"):
        DenseEncoder(str(tmp_path / "missing"), device="cpu")


def test_dense_hub_id_from_the_cache_records_the_commit(
    dense_dir: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--tiny-org--tiny-dense"
    shutil.copytree(dense_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    meta = DenseEncoder("tiny-org/tiny-dense", device="cpu").metadata()
    assert meta["revision"] == commit and meta["model"] == "tiny-org/tiny-dense"


def test_dense_rejects_bad_options(dense_dir: pathlib.Path) -> None:
    with pytest.raises(MlirbenchError, match="dtype"):
        DenseEncoder(str(dense_dir), device="cpu", dtype="fp8")
    with pytest.raises(MlirbenchError, match="batch_size"):
        DenseEncoder(str(dense_dir), device="cpu", batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(MlirbenchError, match="not available"):
            DenseEncoder(str(dense_dir), device="cuda")


# ---------------------------------------------------------------- mbart


def test_mbart_mean_pooling_matches_a_manual_mean(mbart: MBartEncoder) -> None:
    text = TEXTS[1]
    mbart.tokenizer.src_lang = "de_DE"
    ids = mbart.tokenizer([text], return_tensors="pt")
    assert ids["input_ids"][0, 0] == mbart.tokenizer.convert_tokens_to_ids("de_DE")
    with torch.inference_mode():
        expected = mbart.encoder(**ids).last_hidden_state[0].mean(dim=0).numpy()
    np.testing.assert_allclose(mbart.encode([text], role="query", lang="de")[0], expected, atol=1e-5)


def test_mbart_padding_does_not_change_the_embedding(mbart: MBartEncoder) -> None:
    alone = mbart.encode([TEXTS[0]], role="query", lang="en")
    batched = mbart.encode(TEXTS, role="query", lang="en")  # TEXTS[0] is padded to the longest text
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-5)
    assert batched.shape == (len(TEXTS), 32) and batched.dtype == np.float32


def test_mbart_language_code_changes_the_embedding(mbart: MBartEncoder) -> None:
    german = mbart.encode(TEXTS[:2], role="passage", lang="de")
    assert not np.allclose(german, mbart.encode(TEXTS[:2], role="passage", lang="ru"), atol=1e-4)
    np.testing.assert_allclose(german, mbart.encode(TEXTS[:2], role="passage", lang="de_DE"), atol=1e-6)
    assert mbart.lang_code("zh") == "zh_CN" and mbart.lang_code("th") == "th_TH"


def test_mbart_language_without_code_is_an_error_unless_mapped(mbart: MBartEncoder, mbart_dir: pathlib.Path) -> None:
    with pytest.raises(MlirbenchError, match="no mBART language code for 'el'.*lang_codes"):
        mbart.encode(TEXTS, role="query", lang="el")
    with pytest.raises(MlirbenchError, match="no mBART language code"):
        mbart.encode([], role="query", lang="el")
    mapped = MBartEncoder(str(mbart_dir), device="cpu", normalize=False, lang_codes={"el": "en_XX"})
    np.testing.assert_allclose(mapped.encode(TEXTS, role="query", lang="el"),
                               mbart.encode(TEXTS, role="query", lang="en"), atol=1e-6)
    assert mapped.metadata()["arguments"]["lang_codes"] == {"el": "en_XX"}
    with pytest.raises(MlirbenchError, match="does not know"):
        MBartEncoder(str(mbart_dir), device="cpu", lang_codes={"el": "el_GR"})


def test_mbart_prefixes_normalisation_and_metadata(mbart: MBartEncoder, mbart_dir: pathlib.Path) -> None:
    prefixed = MBartEncoder(str(mbart_dir), device="cpu", query_prefix="Query: ", max_length=16)
    query = prefixed.encode(TEXTS, role="query", lang="en")
    np.testing.assert_allclose(np.linalg.norm(query, axis=1), 1.0, rtol=1e-5)
    plain = mbart.encode(TEXTS, role="query", lang="en")
    assert not np.allclose(query, plain / np.linalg.norm(plain, axis=1, keepdims=True), atol=1e-3)
    meta = prefixed.metadata()
    assert meta["name"] == "mbart" and meta["dim"] == 32 and meta["max_length"] == 16
    assert meta["prefixes"] == {"query": "Query: ", "passage": ""}
    assert meta["revision"] == mbart.metadata()["revision"] == folder_sha256(mbart_dir)
    assert mbart.metadata()["max_length"] == 128  # capped by the model's position embeddings


# ---------------------------------------------------------------- laser3


def test_laser_chooses_laser3_when_the_language_has_one(laser_dir: pathlib.Path) -> None:
    laser = Laser3Encoder(model_dir=laser_dir, device="cpu")
    assert isinstance(laser, Encoder)
    assert laser.model_for("th") == laser.model_for("tha_Thai") == laser.model_for("thai") == "laser3-tha_Thai.v1"
    assert laser.model_for("de") == laser.model_for("xx") == "laser2"
    thai = laser.encode(TEXTS, role="query", lang="th")
    german = laser.encode(TEXTS, role="query", lang="de")
    assert thai.shape == (len(TEXTS), 16) and thai.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(thai, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(thai, german, atol=1e-4)  # two different checkpoints
    laser2_only = Laser3Encoder(model_dir=laser_dir, device="cpu", use_laser3=False)
    assert laser2_only.model_for("th") == "laser2"
    np.testing.assert_allclose(laser2_only.encode(TEXTS, role="passage", lang="th"), german, atol=1e-6)
    assert laser.metadata()["models_used"] == {"th": "laser3-tha_Thai.v1", "de": "laser2"}
    assert laser2_only.metadata()["revision"] != laser.metadata()["revision"]  # LASER3 files not involved
    with pytest.raises(MlirbenchError, match="role"):
        laser.encode(TEXTS, role="doc", lang="de")  # type: ignore[arg-type]


def test_laser_batching_keeps_input_order(laser_dir: pathlib.Path) -> None:
    laser = Laser3Encoder(model_dir=laser_dir, device="cpu", batch_size=3)
    one_by_one = np.vstack([laser.encode([text], role="query", lang="de") for text in TEXTS])
    np.testing.assert_allclose(laser.encode(TEXTS, role="query", lang="de"), one_by_one, atol=1e-5)
    assert laser.encode([], role="query", lang="de").shape == (0, 16)


def test_laser_missing_weights_name_the_fetch_command(laser_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    laser = Laser3Encoder(model_dir=laser_dir, device="cpu")
    assert laser.model_for("hi") == "laser3-hin_Deva.v1"  # LASER3 has Hindi, this folder does not
    with pytest.raises(MlirbenchError, match=r"laser3-hin_Deva\.v1\.pt.*download_laser3\('hin_Deva', spm=True\)"):
        laser.encode(TEXTS, role="query", lang="hi")
    with pytest.raises(MlirbenchError, match=r"laser2\.pt, laser2\.spm, laser2\.cvocab.*download_laser2\(\)"):
        Laser3Encoder(model_dir=tmp_path, device="cpu")
    with pytest.raises(MlirbenchError, match="ambiguous"):
        laser.encode(TEXTS, role="query", lang="kas")


def test_laser_untrusted_pickle_needs_an_explicit_opt_in(laser_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    import nano_laser.models

    folder = shutil.copytree(laser_dir, tmp_path / "laser")
    checkpoint = torch.load(folder / "laser2.pt", weights_only=True)
    checkpoint["source"] = pathlib.PurePosixPath("somewhere")  # not on torch's weights_only allow-list
    torch.save(checkpoint, folder / "laser2.pt")
    with pytest.raises(MlirbenchError, match="weights_only=True.*trust_checkpoints=True"):
        Laser3Encoder(model_dir=folder, device="cpu").encode(TEXTS, role="query", lang="de")
    safe_loader = nano_laser.models.load_checkpoint
    trusted = Laser3Encoder(model_dir=folder, device="cpu", trust_checkpoints=True)
    assert trusted.encode(TEXTS, role="query", lang="de").shape == (len(TEXTS), 16)
    assert nano_laser.models.load_checkpoint is safe_loader  # the opt-out does not leak


def test_laser_metadata(laser_dir: pathlib.Path) -> None:
    meta = Laser3Encoder(model_dir=laser_dir, device="cpu").metadata()
    assert meta["name"] == "laser3" and meta["dim"] == 16 and meta["dtype"] == "fp32"
    assert meta["path"] == str(laser_dir) and meta["revision"].startswith("sha256:")
    assert meta["revision"] == Laser3Encoder(model_dir=laser_dir, device="cpu").metadata()["revision"]
    json.dumps(meta)
    with pytest.raises(MlirbenchError, match="bf16"):
        Laser3Encoder(model_dir=laser_dir, device="cpu", dtype="bf16")
