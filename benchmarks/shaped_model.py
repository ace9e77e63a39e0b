"""A randomly initialised sentence-transformers folder with the SHAPE of a real encoder, for speed
benchmarks where the real weights cannot be downloaded (no hub access here or on the GPU machine).

Encoding cost depends on the architecture (layers, hidden size, heads, sequence length), not on
the weight values, so a random BERT encoder with XLM-R base's sizes encodes at the speed of XLM-R
base (the paper's base model; RoBERTa is BERT's architecture; LaBSE has the same 12 x 768 encoder).
The tokenizer is a WordPiece vocabulary
trained here on the synthetic corpus (``corpus.SyntheticCorpus``), so each synthetic word is one
token and a passage of N words is N + 2 tokens: the benchmark controls the sequence length exactly.

    python benchmarks/shaped_model.py --shape xlm-roberta-base --output /tmp/xlmr-shaped
"""
from __future__ import annotations

import argparse
from pathlib import Path

SHAPES = {  # (layers, hidden, heads, intermediate, vocab): the published configs' sizes
    "xlm-roberta-base": (12, 768, 12, 3072, 250_002),
    "labse": (12, 768, 12, 3072, 501_153),
    "tiny": (2, 32, 2, 64, 1_000),
}


def build(shape: str, output: Path, max_seq_length: int = 256, seed: int = 0) -> Path:
    """Write the folder (``output``/st, loadable by the ``dense`` adapter) and return its path."""
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from mlirbench.data.corpus import SyntheticCorpus

    layers, hidden, heads, intermediate, vocab = SHAPES[shape]
    backend = Tokenizer(WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    corpus = SyntheticCorpus(("en",), size=2000)
    backend.train_from_iterator((corpus.text("en", i) for i in range(2000)),
                                trainers.WordPieceTrainer(vocab_size=1000, special_tokens=specials))
    tokenizer = BertTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                  cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, max_position_embeddings=max(512, max_seq_length))
    hf = output / "hf"
    BertModel(config).save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer
    transformer = Transformer(str(hf), max_seq_length=max_seq_length)
    st = output / "st"
    SentenceTransformer(modules=[transformer, Pooling(hidden, "mean")], device="cpu").save(str(st))
    return st


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="xlm-roberta-base")
    ap.add_argument("--output", type=Path, required=True)
    ap.add_argument("--max-seq-length", type=int, default=256)
    args = ap.parse_args()
    print(build(args.shape, args.output, args.max_seq_length))


if __name__ == "__main__":
    main()
