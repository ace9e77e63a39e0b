"""Any sentence-transformers model (hub id or local folder) as an ``Encoder``.

Batches go through sentence-transformers' own preprocessing and forward pass (what
``SentenceTransformer.encode`` does, split so that tokenization runs ahead of the device), so each
model keeps its own pooling, normalisation layers and prompt handling (e.g. pooling that leaves the
prompt tokens out); the shared base adds role prefixes, device/dtype choice, length-sorted
batching and provenance.
"""
from __future__ import annotations

import multiprocessing
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from mlirbench.adapters._torch_utils import HF_ARGUMENTS, HF_PACKAGES, HFEncoderBase, import_optional, loading
from mlirbench.adapters.use_m3 import physical_cores
from mlirbench.errors import MlirbenchError
from mlirbench.retrieval.arguments import Arg, adapter

# Prompt names under which sentence-transformers models store their own prefixes, per role.
_PROMPT_NAMES = {"query": ("query",), "passage": ("passage", "document", "corpus")}


@adapter
class DenseEncoder(HFEncoderBase):
    """A sentence-transformers bi-encoder; similarity is the inner product (cosine when normalised).

    ``query_prefix`` / ``passage_prefix``: None takes the model's own prompt for the role
    (``config_sentence_transformers.json``), if any; a string (also "") overrides it. The paper's
    fine-tuned models use ``"Query: "`` / ``"Passage: "``. ``max_length`` (tokens) defaults to
    the model's ``max_seq_length``.

    ``tokenize_workers`` > 0 tokenizes in that many processes instead of one helper thread: on a
    GPU the Python side of the tokenizer (one core) is what limits throughput (BENCHMARKS.md).
    It is allowed only where the model's preprocessing is a plain Hugging Face tokenizer call,
    which is checked when the encoder is built (same features as sentence-transformers on probe
    texts, for every prefix); it does not change the embeddings, so it is not part of the cache key.

    ``embed_threads`` > 1 embeds that many batches at once, each on its share of torch's CPU
    threads (None: one per physical core on a CPU, else 1): on the 2-core CPU machine e5-small ran
    much faster so under load (BENCHMARKS.md). The embeddings are bit-identical (tested), so it is
    not part of the cache key either.
    """

    name = "dense"
    ARGUMENTS = (*HF_ARGUMENTS,
                 Arg("query_prefix", str, "text put before every query [default: the model's prompt]", optional=True),
                 Arg("passage_prefix", str, "text put before every passage [default: the model's prompt]",
                     optional=True),
                 Arg("tokenize_workers", int, "tokenizer processes (0: one helper thread)", low=0, neutral=True),
                 Arg("embed_threads", int, "batches embedded at once, each on its share of the CPU threads "
                     "[null: one per physical core on a CPU]", low=1, optional=True, neutral=True))
    PACKAGES = (*HF_PACKAGES, "sentence-transformers")

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
        tokenize_workers: int = 0,
        embed_threads: int | None = 1,
    ) -> None:
        st = import_optional("sentence_transformers", self.name)
        super().__init__(
            model, revision=revision, normalize=normalize, device=device, dtype=dtype,
            batch_size=batch_size, show_progress=show_progress,
            arguments={"query_prefix": query_prefix, "passage_prefix": passage_prefix,
                       "normalize": normalize, "device": device, "dtype": dtype,
                       "batch_size": batch_size, "max_length": max_length, "revision": revision,
                       "tokenize_workers": tokenize_workers, "embed_threads": embed_threads},
        )
        self.embed_threads = embed_threads or (physical_cores() if self.device == "cpu" else 1)
        if not show_progress:  # transformers' own 'Loading weights' bar
            import_optional("transformers", self.name).utils.logging.disable_progress_bar()
        with loading(self.folder, self.name):
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
        self._workers: ProcessPoolExecutor | None = None
        if tokenize_workers:
            tokenizer, constants = _plain_tokenizer(self.model, set(self.prefixes.values()), self.name)
            self._workers = ProcessPoolExecutor(tokenize_workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_init_worker,
                                                initargs=(tokenizer, constants, self.max_length))
            weakref.finalize(self, self._workers.shutdown, cancel_futures=True)

    def metadata(self) -> dict:
        """Provenance; a model trained by ``mlirbench train`` adds its base, batching, alpha, data and split."""
        from mlirbench.training.trainer import METADATA_FILE, read_training_summary

        meta = super().metadata()
        if (self.folder / METADATA_FILE).is_file():
            meta["training"] = read_training_summary(self.folder)
        return meta

    def _tokenize(self, batch: list[str], *, prefix: str, lang: str) -> dict:
        """sentence-transformers' own preprocessing with ``prompt=prefix`` ("" rather than None, so a
        model's ``default_prompt_name`` cannot slip in): what ``SentenceTransformer.encode`` does."""
        return self.model.preprocess(batch, prompt=prefix)

    def _prepare(self, prefix: str, lang: str) -> tuple[Callable[[list[str]], Any], Executor | None, int]:
        if self._workers is None:
            return super()._prepare(prefix, lang)
        return partial(_worker_features, prefix=prefix), self._workers, 2 * self.arguments["tokenize_workers"]

    def _embed(self, inputs: dict) -> np.ndarray:
        """The rest of ``SentenceTransformer.encode`` for one batch (a test checks they agree)."""
        import torch
        from sentence_transformers.util import batch_to_device, truncate_embeddings

        inputs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}
        with torch.inference_mode():
            vectors = self.model(batch_to_device(inputs, self.model.device))["sentence_embedding"]
            if self.model.truncate_dim is not None:
                vectors = truncate_embeddings(vectors, self.model.truncate_dim)
        return vectors.float().cpu().numpy()


_PROBE = ["", "a short text.", "Ünïcödé, 東京 и Москва — مرحبا!", " ".join(["word"] * 2000)]
_worker_state: dict = {}


def _plain_features(tokenizer: Any, texts: list[str], prefix: str, max_length: int | None) -> dict[str, np.ndarray]:
    """What a plain Transformer module's preprocessing makes of ``texts``, as numpy arrays."""
    return dict(tokenizer([prefix + text for text in texts], padding=True, truncation="longest_first",
                          max_length=max_length, return_tensors="np"))


def _plain_tokenizer(model: Any, prefixes: set[str], adapter: str) -> tuple[Any, dict[str, dict]]:
    """The model's Hugging Face tokenizer and, per prefix, the non-tensor entries of its features
    (e.g. ``modality``, ``prompt_length``), after checking that a direct tokenizer call plus those
    gives exactly ``model.preprocess``'s features for probe texts (empty, unicode, over-long) and
    every prefix."""
    import torch

    def refuse(problem: str) -> MlirbenchError:
        return MlirbenchError(f"{adapter}: tokenize_workers needs a model whose preprocessing is a plain tokenizer "
                              f"call, but {problem}; leave tokenize_workers at 0")

    tokenizer = getattr(model[0], "tokenizer", None)
    if tokenizer is None:
        raise refuse("its first module has no tokenizer")
    constants: dict[str, dict] = {}
    for prefix in sorted(prefixes):
        reference = model.preprocess(_PROBE, prompt=prefix)
        fixed = {k: v for k, v in reference.items() if not isinstance(v, torch.Tensor)}
        ours = _plain_features(tokenizer, _PROBE, prefix, model.max_seq_length)
        if not all(isinstance(v, (str, int)) for v in fixed.values()):
            raise refuse(f"its non-tensor features {sorted(fixed)} are not plain values")
        if set(reference) != set(ours) | set(fixed):
            raise refuse(f"it makes the features {sorted(reference)}, a plain tokenizer call {sorted(ours)}")
        if not all(torch.equal(reference[k], torch.from_numpy(ours[k])) for k in ours):
            raise refuse(f"its features differ from a plain tokenizer call (prefix {prefix!r})")
        constants[prefix] = fixed
    return tokenizer, constants


def _init_worker(tokenizer: Any, constants: dict[str, dict], max_length: int | None) -> None:
    _worker_state.update(tokenizer=tokenizer, constants=constants, max_length=max_length)


def _worker_features(texts: list[str], prefix: str) -> dict:
    """In a tokenizer process: the features of one batch (the prefix is one that was checked)."""
    state = _worker_state
    return {**_plain_features(state["tokenizer"], texts, prefix, state["max_length"]), **state["constants"][prefix]}


def _own_modules(folder: Path) -> bool:
    """Models saved by ``mlirbench train`` (USE-m3, mBART bases) list module classes of this package,
    which sentence-transformers >= 6 imports only with ``trust_remote_code``; nothing else is trusted."""
    if not (folder / "modules.json").is_file():
        return False
    from mlirbench.training.bases import trusted_module_types
    return trusted_module_types(folder)
