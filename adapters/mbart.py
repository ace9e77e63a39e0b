"""The mBART(-50) encoder as a sentence encoder (``facebook/mbart-large-50`` or a fine-tuned folder).

A sentence embedding is the mean of the encoder's last hidden states over the non-padding
tokens, which include the source-language code token the tokenizer adds from ``src_lang``
(mBART-50 puts ``[lang_code] text </s>``) and ``</s>``. Only the encoder is kept in memory.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlirbench.adapters._torch_utils import HF_ARGUMENTS, HF_PACKAGES, HFEncoderBase, import_optional, loading
from mlirbench.errors import MlirbenchError
from mlirbench.retrieval.arguments import Arg, adapter
from mlirbench.retrieval.protocols import Role


@adapter
class MBartEncoder(HFEncoderBase):
    """mBART encoder + mean pooling; the language code of each call's ``lang`` is set as ``src_lang``.

    ``lang`` may be an ISO-639-1 code (``de`` -> ``de_DE``, the tokenizer's own codes decide the
    mapping) or an mBART code (``de_DE``). mBART-50 has no code for some languages (Greek among
    them); those raise an error unless ``lang_codes`` maps them, e.g. ``{"el": "en_XX"}``: a
    choice that belongs in the result record, not a silent default.
    """

    name = "mbart"
    ARGUMENTS = (*HF_ARGUMENTS,
                 Arg("query_prefix", str, "text put before every query"),
                 Arg("passage_prefix", str, "text put before every passage"),
                 Arg("lang_codes", dict, "language -> mBART code, for languages without one", optional=True))
    PACKAGES = (*HF_PACKAGES, "sentencepiece")

    def __init__(
        self,
        model: str = "facebook/mbart-large-50",
        *,
        revision: str | None = None,
        lang_codes: Mapping[str, str] | None = None,
        query_prefix: str = "",
        passage_prefix: str = "",
        normalize: bool = True,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 32,
        max_length: int | None = 512,
        show_progress: bool = False,
    ) -> None:
        transformers = import_optional("transformers", self.name)
        self.torch = import_optional("torch", self.name)
        super().__init__(
            model, revision=revision, normalize=normalize, device=device, dtype=dtype,
            batch_size=batch_size, show_progress=show_progress,
            arguments={"lang_codes": dict(lang_codes or {}), "query_prefix": query_prefix,
                       "passage_prefix": passage_prefix, "normalize": normalize, "device": device,
                       "dtype": dtype, "batch_size": batch_size, "max_length": max_length,
                       "revision": revision},
        )
        with loading(self.folder, self.name):
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        known = dict(getattr(self.tokenizer, "lang_code_to_id", None) or {})
        if not known:
            raise MlirbenchError(f"{self.name}: the tokenizer in {self.folder} has no mBART language codes")
        self.lang_codes = {code.split("_")[0]: code for code in known}
        for lang, code in (lang_codes or {}).items():
            if code not in known:
                raise MlirbenchError(f"{self.name}: lang_codes maps {lang!r} to {code!r}, which the tokenizer "
                                     f"does not know (known: {', '.join(sorted(known))})")
            self.lang_codes[lang] = code
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # a seq2seq checkpoint's LM-head bias is "unexpected" here
        try:
            with loading(self.folder, self.name):
                full = transformers.AutoModel.from_pretrained(self.folder, local_files_only=True)
        finally:
            transformers.logging.set_verbosity(verbosity)
        if not hasattr(full, "get_encoder"):
            raise MlirbenchError(f"{self.name}: {self.folder} holds a {type(full).__name__}, not an encoder-decoder")
        self.encoder = full.get_encoder().to(device=self.device, dtype=self.dtype).eval()
        del full
        config = self.encoder.config
        self.max_length = min(max_length or config.max_position_embeddings, config.max_position_embeddings)
        self.prefixes = {"query": query_prefix, "passage": passage_prefix}
        self.dim = int(config.d_model)

    def lang_code(self, lang: str) -> str:
        """The tokenizer's language code for ``lang``; an error names the fix for a language without one."""
        if lang in self.lang_codes.values():
            return lang
        try:
            return self.lang_codes[lang]
        except KeyError:
            raise MlirbenchError(
                f"{self.name}: no mBART language code for {lang!r} (known: "
                f"{', '.join(sorted(self.lang_codes.values()))}); pass lang_codes={{{lang!r}: '<code>'}} "
                f"to choose one"
            ) from None

    def encode(self, texts: Sequence[str], *, role: Role, lang: str) -> np.ndarray:
        """Embed texts of one language; its code is checked before any batch runs."""
        self.tokenizer.src_lang = self.lang_code(lang)
        return super().encode(texts, role=role, lang=lang)

    def _tokenize(self, batch: list[str], *, prefix: str, lang: str) -> Any:
        return self.tokenizer([prefix + text for text in batch], padding=True, truncation=True,
                              max_length=self.max_length, return_tensors="pt")

    def _embed(self, inputs: Any) -> np.ndarray:
        """Mean of the encoder's last hidden states over the real (unpadded) tokens."""
        inputs = inputs.to(self.device)
        with self.torch.inference_mode():
            hidden = self.encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        summed = (hidden.last_hidden_state.float() * mask).sum(dim=1)
        return (summed / mask.sum(dim=1).clamp(min=1.0)).cpu().numpy()
