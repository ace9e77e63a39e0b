"""``mlirbench translate``: augment a training set with machine-translated rows (as the paper's data).

Each row in the source language gets a translated copy per target language with the same group,
so translations become parallel rows that X-Y batches pair up. Works with any HF seq2seq
translation model: Marian (one target language per model), M2M-100 and NLLB (target chosen by a
forced first token; NLLB needs its codes, e.g. ``de=deu_Latn``).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mlirbench._io.hashing import sha256_file
from mlirbench.errors import MlirbenchError
from mlirbench.training.data import atomic_write_text, read_rows, read_sidecar, sidecar, write_rows


def parse_targets(values: Sequence[str]) -> dict[str, str | None]:
    """``["de", "zh=zho_Hans"]`` -> {"de": None, "zh": "zho_Hans"} (None: the model's code is the ISO one)."""
    out: dict[str, str | None] = {}
    for value in values:
        lang, _, code = value.partition("=")
        out[lang] = code or None
    if not out:
        raise MlirbenchError("translate: no target language given")
    return out


def _forced_bos(tokenizer, lang: str, code: str | None, model: str) -> dict:
    """Generation arguments that pick the target language (none for Marian: its target is fixed)."""
    if hasattr(tokenizer, "get_lang_id"):  # M2M-100
        return {"forced_bos_token_id": tokenizer.get_lang_id(code or lang)}
    if hasattr(tokenizer, "src_lang"):  # NLLB, mBART-50
        token_id = tokenizer.convert_tokens_to_ids(code or lang)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise MlirbenchError(f"translate: {model} has no language code {code or lang!r}; pass {lang}=<code>")
        return {"forced_bos_token_id": token_id}
    return {}


def translate_file(model: str, input_path: Path, output: Path, source: str, targets: dict[str, str | None],
                   *, batch_size: int = 16, max_new_tokens: int = 256, progress: bool = True) -> dict:
    """Write input rows plus translated rows; returns a summary (also written to the output's sidecar).

    ``source`` is the rows' language, optionally with the model's code for it (``en=eng_Latn``).
    """
    import torch
    import transformers
    from tqdm.auto import tqdm

    from mlirbench.adapters._torch_utils import resolve_hf_model

    (source_lang, source_code), = parse_targets([source]).items()
    rows = read_rows(input_path)
    originals = [r for r in rows if r["lang"] == source_lang]
    if not originals:
        raise MlirbenchError(f"translate: {input_path} has no rows in {source_lang!r}")
    folder, revision = resolve_hf_model(model, None, "translate")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    seq2seq = transformers.AutoModelForSeq2SeqLM.from_pretrained(folder, local_files_only=True).eval()
    fixed_target = not hasattr(tokenizer, "src_lang") and not hasattr(tokenizer, "get_lang_id")
    if fixed_target and len(targets) > 1:
        raise MlirbenchError(f"translate: {model} translates into one language only; pass one --to language")
    if hasattr(tokenizer, "src_lang"):
        tokenizer.src_lang = source_code or source_lang
    texts = sorted({t for r in originals for t in (r["query"], r["positive"], *r["negatives"])}, key=len)
    existing = {(r["group"], r["lang"]) for r in rows}
    added, dropped = [], 0
    for lang, code in targets.items():
        generate_kwargs = _forced_bos(tokenizer, lang, code, model)
        translated: dict[str, str] = {}
        batches = range(0, len(texts), batch_size)
        for start in tqdm(batches, desc=f"translate {source_lang}->{lang}", disable=not progress):
            batch = texts[start:start + batch_size]
            inputs = tokenizer(batch, return_tensors="pt", padding=True, truncation=True)
            with torch.inference_mode():
                ids = seq2seq.generate(**inputs, max_new_tokens=max_new_tokens, **generate_kwargs)
            for text, out in zip(batch, tokenizer.batch_decode(ids, skip_special_tokens=True)):
                translated[text] = out.strip()
        for r in originals:
            if (r["group"], lang) in existing:
                continue
            row = dict(r, lang=lang, query=translated[r["query"]], positive=translated[r["positive"]],
                       negatives=[n for n in (translated[x] for x in r["negatives"]) if n],
                       translated_from=source_lang)
            if row["query"] and row["positive"]:
                added.append(row)
            else:
                dropped += 1
    write_rows(output, rows + added)
    summary = {"input": str(input_path), "input_sha256": sha256_file(input_path),
               "input_source": read_sidecar(input_path),
               "model": model, "revision": revision or "local folder", "source_lang": source_lang,
               "source_code": source_code,
               "targets": targets, "rows": len(rows) + len(added), "added": len(added), "dropped_empty": dropped}
    atomic_write_text(sidecar(output), json.dumps(summary, indent=1) + "\n")
    return summary
