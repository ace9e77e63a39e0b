"""Helpers shared by the torch adapters (dense, mbart, laser3).

Heavy packages (torch, huggingface_hub) are imported inside the functions: the adapter registry
imports an adapter module only when that adapter is chosen, and a missing package must surface
as a one-line ``MissingDependencyError`` with the pip hint, not as an ImportError traceback.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from mlirbench.errors import MissingDependencyError, MlirbenchError
from mlirbench.retrieval.arguments import Arg
from mlirbench.retrieval.protocols import Role

if TYPE_CHECKING:
    import torch

INSTALL_HINT = "pip install 'mlirbench[dense]'"

DTYPE_NAMES = ("auto", "fp32", "fp16", "bf16")
_PREPARE_AHEAD = 2  # batches tokenized ahead of the one on the device
# Files that decide what a local model folder computes: weights, configs, tokenizer vocabularies.
_HASHED_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".model", ".spm", ".cvocab", ".txt")
# Repository files never needed to run a model with torch; skipped when fetching a hub snapshot.
_HUB_IGNORE = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "*.tflite", "coreml/*",
               "tf_model*", "flax_model*", "rust_model*"]


# The arguments of the encoders over a Hugging Face model folder (dense, mbart), declared once.
HF_ARGUMENTS = (
    Arg("model", str, "hub id or model folder", empty=False),
    Arg("revision", str, "hub revision (branch, tag or commit)", optional=True, empty=False),
    Arg("normalize", bool, "L2-normalise the embeddings (cosine similarity)"),
    Arg("device", str, "auto, cpu, cuda[:N] or mps", empty=False),
    Arg("dtype", str, "weights' precision", choices=DTYPE_NAMES),
    Arg("batch_size", int, "texts per batch", low=1),
    Arg("max_length", int, "tokens per text at most [default: the model's]", low=1, optional=True),
    Arg("show_progress", bool, "progress bars", neutral=True),
)
HF_PACKAGES = ("torch", "transformers", "tokenizers", "huggingface-hub")


def import_optional(module: str, adapter: str) -> ModuleType:
    """Import an optional dependency of ``adapter``, or fail with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"the {adapter} adapter needs {module.split('.')[0]} ({error}); install it with: {INSTALL_HINT}"
        ) from None


@contextmanager
def loading(folder: Path, adapter: str) -> Iterator[None]:
    """Around loading a model folder the user named: what the libraries raise for a damaged or foreign
    folder (malformed JSON, no ``model_type``, missing weights) is the user's error, one line."""
    try:
        yield
    except (OSError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise MlirbenchError(f"{adapter}: {folder} holds no model it can load ({first})") from None


def resolve_device(device: str, adapter: str, *, allow_mps: bool = True) -> str:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must be usable here."""
    torch = import_optional("torch", adapter)
    mps_ok = allow_mps and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    kind = device.split(":")[0]
    usable = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": mps_ok}
    if not usable.get(kind, False):
        supported = "auto, cpu, cuda[:N]" + (", mps" if allow_mps else "")
        raise MlirbenchError(f"{adapter}: device {device!r} is not available here (choose from {supported})")
    return device


def resolve_dtype(dtype: str, device: str, adapter: str) -> torch.dtype:
    """``auto`` is fp16 on an accelerator and fp32 on cpu (half precision is slow or missing there)."""
    torch = import_optional("torch", adapter)
    if dtype == "auto":
        dtype = "fp32" if device == "cpu" else "fp16"
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    """The short name used in adapter arguments and metadata (``fp16``)."""
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[str(dtype).removeprefix("torch.")]


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> Iterator[np.ndarray]:
    """Indices of ``texts`` in batches, longest first: similar lengths share a batch, so padding stays small."""
    order = np.argsort([-len(text) for text in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def encode_sorted(
    texts: Sequence[str],
    encode_batch: Callable[[Any], np.ndarray],
    *,
    dim: int,
    batch_size: int,
    show_progress: bool,
    desc: str,
    prepare: Callable[[list[str]], Any] | None = None,
    executor: Executor | None = None,
    ahead: int = _PREPARE_AHEAD,
    embed_threads: int = 1,
) -> np.ndarray:
    """Run ``encode_batch`` over length-sorted batches and write rows back in the input order.

    With ``prepare`` (the CPU half of a batch, e.g. tokenization), ``encode_batch`` gets its
    result, and the next ``ahead`` batches are prepared while the current one runs on the device:
    on an H100, tokenizing alone ran at ~5k passages/s and the forward pass alone at ~16k, so done
    one after the other the GPU sat idle most of the time (BENCHMARKS.md). By default in one
    helper thread, so a tokenizer is never used by two threads at once; ``executor`` (e.g. a pool
    of tokenizer processes, with ``ahead`` about twice its size) runs them instead.

    ``embed_threads`` > 1 (with ``prepare``) runs that many ``encode_batch`` calls at once in a
    thread pool: on a CPU, batches side by side, each with a share of the cores, beat one batch
    spread over all of them (no barrier per operation; BENCHMARKS.md, e5-small).
    """
    out = np.zeros((len(texts), dim), dtype=np.float32)
    batches: Iterable[np.ndarray] = length_sorted_batches(texts, batch_size)
    if show_progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=-(-len(texts) // batch_size), desc=desc, unit="batch")
    if prepare is None:
        for index in batches:
            out[index] = encode_batch([texts[i] for i in index])
        return out
    own = executor is None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlirbench-prepare") if own else executor
    embedders = ThreadPoolExecutor(embed_threads, thread_name_prefix="mlirbench-embed") if embed_threads > 1 else None
    pending: deque[tuple[np.ndarray, Future]] = deque()
    running: deque[Future] = deque()

    def embed(done: np.ndarray, prepared: Future) -> None:
        out[done] = encode_batch(prepared.result())

    def start(done: np.ndarray, prepared: Future) -> None:
        if embedders is None:
            embed(done, prepared)
            return
        running.append(embedders.submit(embed, done, prepared))
        while len(running) >= embed_threads:  # at most embed_threads batches on the device
            running.popleft().result()

    try:
        for index in batches:
            pending.append((index, pool.submit(prepare, [texts[i] for i in index])))
            if len(pending) > ahead:
                start(*pending.popleft())
        while pending:
            start(*pending.popleft())
        for future in running:
            future.result()
    finally:
        for _, future in pending:
            future.cancel()
        if embedders is not None:
            embedders.shutdown(cancel_futures=True)
        if own:
            pool.shutdown()
    return out


@contextmanager
def split_torch_threads(parts: int) -> Iterator[None]:
    """torch's CPU threads shared out among ``parts`` batches run at once (process-wide, restored after)."""
    if parts <= 1:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, before // parts))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Unit rows; an all-zero row stays zero instead of becoming NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def hf_offline() -> bool:
    """HF_HUB_OFFLINE read now, not at import time as huggingface_hub does (tests and CLIs set it late)."""
    return any(
        os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def resolve_hf_model(model: str, revision: str | None, adapter: str) -> tuple[Path, str | None]:
    """A local folder, or a hub id fetched (or found in the cache) as one snapshot.

    Returns the folder and the hub commit hash (None for a local folder). Resolving the snapshot
    first keeps every later load local, so nothing else touches the network, and gives the exact
    commit for the result record and the embedding cache key.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not any((path / name).is_file() for name in ("config.json", "modules.json")):
            raise MlirbenchError(f"{adapter}: {model} is a folder but holds no model (no config.json or modules.json)")
        return path.resolve(), None
    if path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1:
        raise MlirbenchError(f"{adapter}: model folder {model} does not exist")
    hub = import_optional("huggingface_hub", adapter)
    errors = importlib.import_module("huggingface_hub.errors")
    offline = hf_offline()
    try:
        folder = hub.snapshot_download(
            model, revision=revision, local_files_only=offline, ignore_patterns=_HUB_IGNORE
        )
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled):
        why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub is unreachable"
        raise MlirbenchError(
            f"{adapter}: {model} is not in the local Hugging Face cache and {why}; run "
            f"`hf download {model}` where the hub is reachable, or pass model=<local folder> "
            f"holding the saved model"
        ) from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.HFValidationError) as error:
        raise MlirbenchError(f"{adapter}: {model}: {str(error).splitlines()[0]}") from None
    return Path(folder), Path(folder).name  # snapshots/<commit hash>


def files_sha256(files: Iterable[Path], root: Path) -> str:
    """sha256 over (relative path, content) of ``files``: a revision for weights that have no hub commit."""
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.relative_to(root).as_posix()):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def folder_sha256(folder: Path) -> str:
    """Hash of the files of a local model folder that decide its output (weights, configs, vocabularies).

    Hidden entries and trainer ``checkpoint-*`` folders are left out: they do not change the
    saved model, and checkpoints would multiply the bytes to read.
    """
    files = [
        f for f in folder.rglob("*")
        if f.is_file() and f.suffix in _HASHED_SUFFIXES
        and not any(part.startswith((".", "checkpoint-")) for part in f.relative_to(folder).parts)
    ]
    return files_sha256(files, folder)


def check_role(role: str, adapter: str) -> None:
    """A role typo would otherwise silently encode without the role's prefix."""
    if role not in ("query", "passage"):
        raise MlirbenchError(f"{adapter}: role must be 'query' or 'passage', got {role!r}")


def role_prefix(role: str, prefixes: dict[str, str], adapter: str) -> str:
    """The text prepended for ``role``."""
    check_role(role, adapter)
    return prefixes.get(role, "")


class HFEncoderBase:
    """What the encoders over a Hugging Face model folder share: loading options, batching, provenance.

    Subclasses load their model in ``__init__`` (after calling this one), then set ``prefixes``,
    ``dim`` and ``max_length``, and implement ``_tokenize`` (CPU; runs ahead in a helper thread,
    see ``encode_sorted``) and ``_embed`` (the model on its device).
    """

    name: str
    prefixes: dict[str, str]
    dim: int
    max_length: int | None
    embed_threads: int = 1  # batches embedded at once (see encode_sorted)

    def __init__(
        self,
        model: str,
        *,
        revision: str | None,
        normalize: bool,
        device: str,
        dtype: str,
        batch_size: int,
        show_progress: bool,
        arguments: dict,
    ) -> None:
        self.arguments = dict(arguments)
        self.model_id = model
        self.folder, self.hub_revision = resolve_hf_model(model, revision, self.name)
        self.device = resolve_device(device, self.name)
        self.dtype = resolve_dtype(dtype, self.device, self.name)
        self.batch_size = batch_size
        self.normalize = normalize
        self.show_progress = show_progress

    @cached_property
    def revision(self) -> str:
        """The hub commit, or a sha256 over the local folder's weights, configs and vocabularies."""
        return self.hub_revision or folder_sha256(self.folder)

    def _tokenize(self, batch: list[str], *, prefix: str, lang: str) -> Any:
        """Model inputs of one batch (the prefix is not yet applied); CPU only, no model state."""
        raise NotImplementedError

    def _embed(self, inputs: Any) -> np.ndarray:
        """float32 embeddings of one tokenized batch, rows in batch order."""
        raise NotImplementedError

    def _prepare(self, prefix: str, lang: str) -> tuple[Callable[[list[str]], Any], Executor | None, int]:
        """(tokenize function, executor running it or None for the helper thread, batches ahead)."""
        return (lambda batch: self._tokenize(batch, prefix=prefix, lang=lang)), None, _PREPARE_AHEAD

    def encode(self, texts: Sequence[str], *, role: Role, lang: str) -> np.ndarray:
        """Encode in length-sorted batches with the role's prefix; float32 rows in the input order."""
        prefix = role_prefix(role, self.prefixes, self.name)
        prepare, executor, ahead = self._prepare(prefix, lang)
        with split_torch_threads(self.embed_threads):
            out = encode_sorted(
                texts, self._embed, prepare=prepare, executor=executor, ahead=ahead,
                dim=self.dim, batch_size=self.batch_size, show_progress=self.show_progress,
                desc=f"{self.name} {role} {lang}", embed_threads=self.embed_threads,
            )
        return l2_normalize(out) if self.normalize else out

    def metadata(self) -> dict:
        """Provenance for the result record and the embedding cache key."""
        return {
            "name": self.name,
            "model": self.model_id,
            "path": str(self.folder),
            "revision": self.revision,
            "dim": self.dim,
            "similarity": "cosine" if self.normalize else "dot",
            "max_length": self.max_length,
            "prefixes": dict(self.prefixes),
            "dtype": dtype_name(self.dtype),
            "device": self.device,
            "arguments": dict(self.arguments),
        }
