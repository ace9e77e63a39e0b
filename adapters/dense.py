"""Any sentence-transformers model (hub id or local folder) as an ``Encoder``.

Batches go through ``SentenceTransformer.encode`` so each model keeps its own pooling,
normalisation layers and prompt handling (e.g. pooling that leaves the prompt tokens out); the
shared base adds role prefixes, device/dtype choice, length-sorted batching and provenance.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._torch_utils import HFEncoderBase, import_optional

# Prompt names under which sentence-transformers models store their own prefixes, per role.
_PROMPT_NAMES = {"query": ("query",), "passage": ("passage", "document", "corpus")}


class DenseEncoder(HFEncoderBase):
    """A sentence-transformers bi-encoder; similarity is the inner product (cosine when normalised).

    ``query_prefix`` / ``passage_prefix``: None takes the model's own prompt for the role
    (``config_sentence_transformers.json``), if any; a string (also "") overrides it. The paper's
    fine-tuned models use ``"Query: "`` / ``"Passage: "``. ``max_length`` (tokens) defaults to
    the model's ``max_seq_length``.
    """

    name = "dense"

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        normalize: bool = True,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 64,
        max_length: int | None = None,
        show_progress: bool = False,
    ) -> None:
        st = import_optional("sentence_transformers", self.name)
        super().__init__(
            model, revision=revision, normalize=normalize, device=device, dtype=dtype,
            batch_size=batch_size, show_progress=show_progress,
            arguments={"query_prefix": query_prefix, "passage_prefix": passage_prefix,
                       "normalize": normalize, "device": device, "dtype": dtype,
                       "batch_size": batch_size, "max_length": max_length, "revision": revision},
        )
        self.model = st.SentenceTransformer(str(self.folder), device=self.device, local_files_only=True,
                                            trust_remote_code=_own_modules(self.folder))
        self.model.to(self.dtype)
        self.model.eval()
        if max_length is not None:
            self.model.max_seq_length = max_length
        self.max_length = self.model.max_seq_length
        own = getattr(self.model, "prompts", None) or {}
        overrides = {"query": query_prefix, "passage": passage_prefix}
        self.prefixes = {
            role: overrides[role] if overrides[role] is not None
            else next((own[n] for n in names if own.get(n)), "")
            for role, names in _PROMPT_NAMES.items()
        }
        # renamed in sentence-transformers 5; the old name still works there, with a warning
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def metadata(self) -> dict:
        """Provenance; a model trained by ``mlirbench train`` adds its base, batching, alpha, data and split."""
        meta = super().metadata()
        if (self.folder / "mlirbench_training.json").is_file():
            from mlirbench.training.trainer import read_training_summary
            meta["training"] = read_training_summary(self.folder)
        return meta

    def _tokenize(self, batch: list[str], *, prefix: str, lang: str) -> dict:
        """sentence-transformers' own preprocessing with ``prompt=prefix`` ("" rather than None, so a
        model's ``default_prompt_name`` cannot slip in): what ``SentenceTransformer.encode`` does."""
        return self.model.preprocess(batch, prompt=prefix)

    def _embed(self, inputs: dict) -> np.ndarray:
        """The rest of ``SentenceTransformer.encode`` for one batch (a test checks they agree)."""
        import torch
        from sentence_transformers.util import batch_to_device, truncate_embeddings

        with torch.inference_mode():
            vectors = self.model(batch_to_device(inputs, self.model.device))["sentence_embedding"]
            if self.model.truncate_dim is not None:
                vectors = truncate_embeddings(vectors, self.model.truncate_dim)
        return vectors.float().cpu().numpy()


def _own_modules(folder: Path) -> bool:
    """Models saved by ``mlirbench train`` (USE-m3, mBART bases) list module classes of this package,
    which sentence-transformers >= 6 imports only with ``trust_remote_code``; nothing else is trusted."""
    if not (folder / "modules.json").is_file():
        return False
    from mlirbench.training.bases import trusted_module_types
    return trusted_module_types(folder)
