"""LASER sentence encoders: LASER3 for the languages that have one, LASER2 for the others.

Runs on ``nano-laser``, not ``laser_encoders``: laser_encoders needs fairseq 0.12.2, which does
not import on Python 3.11; nano-laser reads the same checkpoints from the same cache folder in
plain torch (same API, same embeddings), so the encoders are also ordinary fine-tunable modules.

Weights are never downloaded here (a run must not wait on the network): they are read from
``model_dir`` (default ``~/.cache/laser_encoders``, the folder both packages download to), and a
missing file is an error that prints the command fetching it.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mlirbench.adapters._torch_utils import (
    check_role,
    dtype_name,
    encode_sorted,
    files_sha256,
    import_optional,
    l2_normalize,
    resolve_device,
    resolve_dtype,
)
from mlirbench.errors import MlirbenchError
from mlirbench.retrieval.arguments import Arg, adapter
from mlirbench.retrieval.protocols import Role

DEFAULT_MODEL_DIR = Path("~/.cache/laser_encoders")

# ISO-639-1 -> LASER (FLORES-200) codes; nano-laser's tables only know ISO-639-3 codes and names.
# Macrolanguages map to the member LASER has: ar -> arb, fa -> pes, ms -> zsm, zh -> zho_Hans, ...
ISO639_1 = {
    "af": "afr_Latn", "ak": "aka_Latn", "am": "amh_Ethi", "ar": "arb_Arab", "as": "asm_Beng",
    "ay": "ayr_Latn", "az": "azj_Latn", "ba": "bak_Cyrl", "be": "bel_Cyrl", "bg": "bul_Cyrl",
    "bm": "bam_Latn", "bn": "ben_Beng", "bo": "bod_Tibt", "bs": "bos_Latn", "ca": "cat_Latn",
    "cs": "ces_Latn", "cy": "cym_Latn", "da": "dan_Latn", "de": "deu_Latn", "dz": "dzo_Tibt",
    "ee": "ewe_Latn", "el": "ell_Grek", "en": "eng_Latn", "eo": "epo_Latn", "es": "spa_Latn",
    "et": "est_Latn", "eu": "eus_Latn", "fa": "pes_Arab", "ff": "fuv_Latn", "fi": "fin_Latn",
    "fj": "fij_Latn", "fo": "fao_Latn", "fr": "fra_Latn", "ga": "gle_Latn", "gd": "gla_Latn",
    "gl": "glg_Latn", "gn": "grn_Latn", "gu": "guj_Gujr", "ha": "hau_Latn", "he": "heb_Hebr",
    "hi": "hin_Deva", "hr": "hrv_Latn", "ht": "hat_Latn", "hu": "hun_Latn", "hy": "hye_Armn",
    "id": "ind_Latn", "ig": "ibo_Latn", "is": "isl_Latn", "it": "ita_Latn", "ja": "jpn_Jpan",
    "jv": "jav_Latn", "ka": "kat_Geor", "kg": "kon_Latn", "ki": "kik_Latn", "kk": "kaz_Cyrl",
    "km": "khm_Khmr", "kn": "kan_Knda", "ko": "kor_Hang", "ks": "kas_Arab", "ku": "kmr_Latn",
    "ky": "kir_Cyrl", "lb": "ltz_Latn", "lg": "lug_Latn", "li": "lim_Latn", "ln": "lin_Latn",
    "lo": "lao_Laoo", "lt": "lit_Latn", "lv": "lvs_Latn", "mg": "plt_Latn", "mi": "mri_Latn",
    "mk": "mkd_Cyrl", "ml": "mal_Mlym", "mn": "khk_Cyrl", "mr": "mar_Deva", "ms": "zsm_Latn",
    "mt": "mlt_Latn", "my": "mya_Mymr", "nb": "nob_Latn", "ne": "npi_Deva", "nl": "nld_Latn",
    "no": "nob_Latn", "ny": "nya_Latn", "oc": "oci_Latn", "om": "gaz_Latn", "or": "ory_Orya",
    "pa": "pan_Guru", "pl": "pol_Latn", "ps": "pbt_Arab", "pt": "por_Latn", "qu": "quy_Latn",
    "rn": "run_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "rw": "kin_Latn", "sa": "san_Deva",
    "sc": "srd_Latn", "sd": "snd_Arab", "sg": "sag_Latn", "si": "sin_Sinh", "sk": "slk_Latn",
    "sl": "slv_Latn", "sm": "smo_Latn", "sn": "sna_Latn", "so": "som_Latn", "sq": "als_Latn",
    "sr": "srp_Cyrl", "ss": "ssw_Latn", "st": "sot_Latn", "su": "sun_Latn", "sv": "swe_Latn",
    "sw": "swh_Latn", "ta": "tam_Taml", "te": "tel_Telu", "tg": "tgk_Cyrl", "th": "tha_Thai",
    "ti": "tir_Ethi", "tk": "tuk_Latn", "tl": "tgl_Latn", "tn": "tsn_Latn", "tr": "tur_Latn",
    "ts": "tso_Latn", "tt": "tat_Cyrl", "tw": "twi_Latn", "ug": "uig_Arab", "uk": "ukr_Cyrl",
    "ur": "urd_Arab", "uz": "uzn_Latn", "vi": "vie_Latn", "wo": "wol_Latn", "xh": "xho_Latn",
    "yi": "ydd_Hebr", "yo": "yor_Latn", "zh": "zho_Hans", "zu": "zul_Latn",
}


def _width(sentence_encoder: Any) -> int:
    """Output size of a nano-laser SentenceEncoder: LSTM (output_units) or transformer (embedding size)."""
    module = sentence_encoder.encoder
    return int(getattr(module, "output_units", None) or module.embed_tokens.embedding_dim)


@adapter
class Laser3Encoder:
    """LASER3 where nano-laser lists one for the text language, else LASER2 (language-agnostic).

    ``lang`` may be ISO-639-1 (``th``), a LASER code (``tha_Thai``), ISO-639-3 or an English name
    known to nano-laser. ``use_laser3=False`` encodes every language with LASER2.
    ``trust_checkpoints=True`` loads the weights with ``torch.load(weights_only=False)``, which can
    run code stored in the file: only for checkpoints from a trusted source that torch >= 2.6
    refuses to load otherwise (nano-laser's safe loader accepts tensors and argparse.Namespace).
    LASER has no token limit; sentences are not truncated.
    """

    name = "laser3"
    ARGUMENTS = (
        Arg("model_dir", Path, "folder of the LASER files [default: ~/.cache/laser_encoders]", optional=True),
        Arg("use_laser3", bool, "LASER3 where it has the language (false: LASER2 for all)"),
        Arg("normalize", bool, "L2-normalise the embeddings (cosine similarity)"),
        Arg("device", str, "nano-laser's devices", choices=("auto", "cpu", "cuda")),
        Arg("dtype", str, "weights' precision (nano-laser has no bf16)", choices=("auto", "fp32", "fp16")),
        Arg("batch_size", int, "sentences per batch", low=1),
        Arg("show_progress", bool, "progress bars", neutral=True),
        Arg("trust_checkpoints", bool, "unpickle checkpoints torch refuses (trusted files only)", neutral=True),
    )
    PACKAGES = ("torch", "nano-laser", "sentencepiece")

    def __init__(
        self,
        *,
        model_dir: str | os.PathLike | None = None,
        use_laser3: bool = True,
        normalize: bool = True,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 64,
        show_progress: bool = False,
        trust_checkpoints: bool = False,
    ) -> None:
        self.torch = import_optional("torch", self.name)
        self.nano = import_optional("nano_laser", self.name)
        self.languages = import_optional("nano_laser.language_list", self.name)
        self.arguments = {"model_dir": None if model_dir is None else str(model_dir), "use_laser3": use_laser3,
                          "normalize": normalize, "device": device, "dtype": dtype, "batch_size": batch_size,
                          "trust_checkpoints": trust_checkpoints}
        self.model_dir = Path(model_dir or DEFAULT_MODEL_DIR).expanduser()
        self.use_laser3 = use_laser3
        self.normalize = normalize
        # nano-laser moves models with .cuda() and has no mps path
        self.device = resolve_device(device, self.name, allow_mps=False)
        self.dtype = resolve_dtype(dtype, self.device, self.name)
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.trust_checkpoints = trust_checkpoints
        self._check_files("laser2", None)  # every language may fall back on it: fail before any work
        self._models: dict[str, tuple[Any, Any]] = {}
        self.used: dict[str, str] = {}  # language -> model stem, for the record

    def laser_code(self, lang: str) -> str | None:
        """The LASER (FLORES-200) code of ``lang``, or None for a language nano-laser does not list."""
        if lang in ISO639_1:
            return ISO639_1[lang]
        if lang in self.languages.LANGUAGE_NAMES:
            return lang
        for table in (self.languages.LASER3_LANGUAGE, self.languages.LASER2_LANGUAGE):
            code = table.get(lang.lower())
            if isinstance(code, list):
                raise MlirbenchError(f"{self.name}: language {lang!r} is ambiguous; use one of {', '.join(code)}")
            if code:
                return code
        return None

    def model_for(self, lang: str) -> str:
        """The file stem encoding ``lang``: ``laser3-<code>.v1`` when LASER3 has that language, else ``laser2``."""
        code = self.laser_code(lang)
        if self.use_laser3 and code in self.languages.LASER3_LANGUAGES_LIST:
            return f"laser3-{code}.v1"
        return "laser2"

    def _files(self, stem: str, code: str | None) -> dict[str, Path]:
        """Checkpoint, SentencePiece model and vocabulary of a model (LASER3 may reuse LASER2's)."""
        own_spm = code in self.languages.SPM_LANGUAGE
        vocab_stem = stem if stem == "laser2" or own_spm else "laser2"
        return {"pt": self.model_dir / f"{stem}.pt", "spm": self.model_dir / f"{vocab_stem}.spm",
                "cvocab": self.model_dir / f"{vocab_stem}.cvocab"}

    def _check_files(self, stem: str, code: str | None) -> dict[str, Path]:
        files = self._files(stem, code)
        missing = [path.name for path in files.values() if not path.is_file()]
        if missing:
            fetch = "download_laser2()" if stem == "laser2" else f"download_laser3({code!r}, spm=True)"
            raise MlirbenchError(
                f"{self.name}: missing LASER weights in {self.model_dir}: {', '.join(missing)}; fetch them with: "
                f"python -c \"from nano_laser.download_models import LaserModelDownloader as D; "
                f"D('{self.model_dir}').{fetch}\" (or pass model_dir=<folder holding them>)"
            )
        return files

    @contextmanager
    def _checkpoint_loader(self) -> Iterator[None]:
        """Swap nano-laser's safe loader for a full unpickle, only when the user trusts the files."""
        if not self.trust_checkpoints:
            yield
            return
        models = self.nano.models
        safe = models.load_checkpoint
        models.load_checkpoint = lambda path: self.torch.load(path, map_location="cpu", weights_only=False)
        try:
            yield
        finally:
            models.load_checkpoint = safe

    def _model(self, stem: str, code: str | None) -> tuple[Any, Any]:
        """(tokenizer, encoder) of a model file, loaded once."""
        if stem not in self._models:
            files = self._check_files(stem, code)
            try:
                with self._checkpoint_loader():
                    encoder = self.nano.SentenceEncoder(
                        str(files["pt"]), max_sentences=self.batch_size, spm_vocab=str(files["cvocab"]),
                        cpu=self.device == "cpu", fp16=self.dtype == self.torch.float16,
                    )
            except pickle.UnpicklingError as error:
                raise MlirbenchError(
                    f"{files['pt']}: torch.load(weights_only=True) refuses this checkpoint "
                    f"({str(error).split('.')[0]}); if the file comes from a trusted source, pass "
                    f"trust_checkpoints=True"
                ) from None
            except (RuntimeError, KeyError, ValueError) as error:
                raise MlirbenchError(f"{files['pt']}: not a LASER checkpoint nano-laser can read ({error})") from None
            tokenizer = self.nano.LaserTokenizer(spm_model=files["spm"])
            self._models[stem] = (tokenizer, encoder)
        return self._models[stem]

    @property
    def dim(self) -> int:
        """Embedding size (1024 for the released models), read from the LASER2 encoder."""
        return _width(self._model("laser2", None)[1])

    def encode(self, texts: Sequence[str], *, role: Role, lang: str) -> np.ndarray:
        """Embed texts of one language; LASER is symmetric, so ``role`` changes nothing."""
        check_role(role, self.name)
        stem = self.model_for(lang)
        tokenizer, encoder = self._model(stem, self.laser_code(lang))
        self.used[lang] = stem

        def encode_batch(batch: list[str]) -> np.ndarray:
            return encoder.encode_sentences([tokenizer.tokenize(text) for text in batch])

        out = encode_sorted(texts, encode_batch, dim=_width(encoder), batch_size=self.batch_size,
                            show_progress=self.show_progress, desc=f"{self.name} {role} {lang}")
        return l2_normalize(out) if self.normalize else out

    @cached_property
    def revision(self) -> str:
        """sha256 over every LASER file in ``model_dir`` this encoder may use for some language.

        The released files are large: keep a model_dir per set of weights, not a cache of many.
        """
        names = ("laser2.", "laser3-") if self.use_laser3 else ("laser2.",)
        files = [p for p in self.model_dir.iterdir() if p.is_file() and p.name.startswith(names)]
        return files_sha256(files, self.model_dir)

    def metadata(self) -> dict:
        """Provenance for the result record and the embedding cache key."""
        return {
            "name": self.name,
            "model": "LASER3 (per language) + LASER2" if self.use_laser3 else "LASER2",
            "path": str(self.model_dir),
            "revision": self.revision,
            "dim": self.dim,
            "similarity": "cosine" if self.normalize else "dot",
            "max_length": None,
            "prefixes": {"query": "", "passage": ""},
            "dtype": dtype_name(self.dtype),
            "device": self.device,
            "models_used": dict(self.used),
            "arguments": dict(self.arguments),
        }
