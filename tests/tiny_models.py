"""Tiny random models in the on-disk formats the adapters read, built offline in a second or two.

The hub and the LASER download site are unreachable from the test machines, so the tests build
their own: tokenizers trained on a few hundred generated multilingual sentences, random weights.
"""
from __future__ import annotations

import random
from pathlib import Path

WORDS = {
    "en": "the house river small green book reads quickly water city old friend".split(),
    "de": "das Haus Fluss klein grün Buch liest schnell Wasser Stadt alt Freund".split(),
    "el": "το σπίτι ποτάμι μικρό πράσινο βιβλίο διαβάζει γρήγορα νερό πόλη παλιός φίλος".split(),
    "ru": "дом река маленький зелёный книга читает быстро вода город старый друг".split(),
    "th": "บ้าน แม่น้ำ เล็ก สีเขียว หนังสือ อ่าน เร็ว น้ำ เมือง เก่า เพื่อน".split(),
    "zh": "房子 河流 小 绿色 书 读 很快 水 城市 老 朋友".split(),
    "ar": "البيت النهر صغير أخضر كتاب يقرأ بسرعة ماء مدينة قديم صديق".split(),
    "hi": "घर नदी छोटा हरा किताब पढ़ता जल्दी पानी शहर पुराना दोस्त".split(),
}


def sentences(per_language: int = 40, seed: int = 0) -> list[str]:
    """Generated sentences, ``per_language`` for each language of WORDS (320 by default)."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choices(words, k=rng.randint(3, 12))) + "."
        for words in WORDS.values() for _ in range(per_language)
    ]


def _train_spm(prefix: Path, vocab_size: int, **options: object) -> Path:
    """A unigram SentencePiece model ``<prefix>.model`` trained on ``sentences()``."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences()), model_prefix=str(prefix), vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, minloglevel=2, num_threads=1, **options,
    )
    return Path(f"{prefix}.model")


def build_dense_model(folder: Path, seed: int = 0) -> Path:
    """A sentence-transformers folder: random BERT (hidden 32, 2 layers), WordPiece vocab, mean pooling."""
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, BertTokenizerFast

    backend = Tokenizer(WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend.train_from_iterator(sentences(), trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
    tokenizer = BertTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                  cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    hf = folder / "hf"
    BertModel(config).save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer

    transformer = Transformer(str(hf), max_seq_length=64)
    pooling = Pooling(32, "mean")
    out = folder / "st"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return out


def build_mbart_model(folder: Path, seed: int = 0) -> Path:
    """An mBART-50 folder: random MBartForConditionalGeneration (d_model 32, 1 layer each side) + tokenizer."""
    import torch
    from transformers import MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration

    folder.mkdir(parents=True, exist_ok=True)
    spm_dir = folder / "spm"
    spm_dir.mkdir(exist_ok=True)
    _train_spm(spm_dir / "sentencepiece.bpe", vocab_size=200)
    tokenizer = MBart50Tokenizer.from_pretrained(str(spm_dir))  # converts the spm model, adds the language codes
    torch.manual_seed(seed)
    config = MBartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2,
    )
    out = folder / "mbart"
    MBartForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_laser_dir(folder: Path, laser3_codes: tuple[str, ...] = ("tha_Thai",), hidden: int = 8) -> Path:
    """A LASER model folder: laser2.{pt,spm,cvocab} and laser3-<code>.v1.pt, random BiLSTM encoders.

    The checkpoints have the LASER2 layout nano-laser reads (``params``, ``model``, ``dictionary``;
    ten released LASER3 models are such LSTMs too); output size is ``2 * hidden``.
    """
    import sentencepiece as spm
    import torch
    from nano_laser.models import LaserLstmEncoder

    folder.mkdir(parents=True, exist_ok=True)
    model = _train_spm(folder / "laser2", vocab_size=200)
    model.rename(folder / "laser2.spm")
    model.with_suffix(".vocab").unlink()
    pieces = spm.SentencePieceProcessor(model_file=str(folder / "laser2.spm"))
    symbols = [pieces.id_to_piece(i) for i in range(3, pieces.get_piece_size())]  # after <unk> <s> </s>
    (folder / "laser2.cvocab").write_text("".join(f"{s} 1\n" for s in symbols), encoding="utf-8")
    dictionary = {s: i for i, s in enumerate(["<s>", "<pad>", "</s>", "<unk>", *symbols])}
    params = {"num_embeddings": len(dictionary), "padding_idx": 1, "embed_dim": 16, "hidden_size": hidden,
              "num_layers": 1, "bidirectional": True, "left_pad": False, "padding_value": 0.0}
    for seed, stem in enumerate(["laser2", *(f"laser3-{code}.v1" for code in laser3_codes)]):
        torch.manual_seed(seed)
        state = LaserLstmEncoder(**params).state_dict()
        torch.save({"params": params, "model": state, "dictionary": dictionary}, folder / f"{stem}.pt")
    return folder
