"""InfoNCE with in-batch negatives, embedded in length-bucketed micro-batches.

Why: the collator pads every text of a column to the column's longest, so one 250-token passage
makes 31 short ones cost 250 tokens each, and on a CPU a BERT step's time and memory grow with
rows x padded length (attention: with length squared). Here each column's rows are sorted by
length, cut into micro-batches of at most ``micro_batch_tokens`` padded tokens (rows x longest),
each micro-batch is trimmed to its own longest text and run through the model with gradients,
and the embeddings are put back in batch order before sentence-transformers'
``MultipleNegativesRankingLoss`` scores them. The pair set and the negatives are the whole
batch's, and trimming only drops padding that the attention mask already hides, so loss and
gradients are the full batch's (up to float summation order and dropout's random draws); one
backward pass runs over all micro-batches, so memory is that of the batch's real tokens, not of
its padded rectangle. If that ever is too much, sentence-transformers'
``CachedMultipleNegativesRankingLoss`` (GradCache) is the tool to bound it per micro-batch.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from torch import Tensor


def micro_batches(lengths: list[int], budget: int) -> list[tuple[int, int]]:
    """(begin, end) ranges over lengths sorted longest first, each at most ``budget`` padded tokens.

    A text longer than the budget gets a micro-batch of its own.
    """
    ranges, begin = [], 0
    while begin < len(lengths):
        end = begin + 1
        while end < len(lengths) and (end + 1 - begin) * lengths[begin] <= budget:
            end += 1
        ranges.append((begin, end))
        begin = end
    return ranges


def _rows(features: dict, index: Tensor, width: int) -> dict:
    """The rows ``index`` of a padded feature batch, token axis cut to ``width``."""
    rows = features["attention_mask"].shape[0]
    out = {}
    for key, value in features.items():
        if isinstance(value, Tensor) and value.ndim >= 1 and value.shape[0] == rows and key != "prompt_length":
            value = value.index_select(0, index)
            if value.ndim >= 2 and value.shape[1] == features["attention_mask"].shape[1]:
                value = value[:, :width]
        out[key] = value
    return out


class BucketedMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """``MultipleNegativesRankingLoss`` whose columns are embedded in length-sorted micro-batches."""

    def __init__(self, model, micro_batch_tokens: int = 1024, **kwargs) -> None:
        super().__init__(model, **kwargs)
        if micro_batch_tokens < 1:
            raise ValueError(f"micro_batch_tokens must be at least 1, got {micro_batch_tokens}")
        self.micro_batch_tokens = micro_batch_tokens

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        embeddings = [self.embed(features) for features in sentence_features]
        return self.compute_loss_from_embeddings(embeddings, labels)

    def embed(self, features: dict) -> Tensor:
        """One column's embeddings in its own row order, computed micro-batch by micro-batch."""
        mask = features.get("attention_mask")
        if not isinstance(mask, Tensor) or mask.ndim != 2:  # not a padded token batch: one forward
            return self.model(features)["sentence_embedding"]
        # last attended position + 1: right padding is trimmed, left padding (if any) is kept
        positions = torch.arange(1, mask.shape[1] + 1, device=mask.device)
        lengths = (mask.bool() * positions).amax(dim=1)
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_lengths = lengths[order].tolist()
        parts = []
        for begin, end in micro_batches(sorted_lengths, self.micro_batch_tokens):
            chunk = _rows(features, order[begin:end], max(1, sorted_lengths[begin]))
            parts.append(self.model(chunk)["sentence_embedding"])
        return torch.cat(parts).index_select(0, torch.argsort(order))

    def get_config_dict(self) -> dict:
        return {**super().get_config_dict(), "micro_batch_tokens": self.micro_batch_tokens}
