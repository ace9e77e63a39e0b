"""``mlirbench train``: fine-tune a dual encoder with X-X-mono, X-Y or hybrid batches.

Built on sentence-transformers' ``SentenceTransformerTrainer`` (AdamW, schedules, checkpoints,
resume, early stopping, progress bar all come from it). Our hooks (``hooks.py``):

- the batch sampler (``samplers.py``), which yields the query rows and then the positive rows of
  a batch as one index list, since an X-Y pair joins two rows of the dataset;
- the collator, which turns that list into (anchor, positive[, negative_k]) columns and lets the
  stack's collator apply the prompts and tokenise;
- the loss (``loss.py``): ``MultipleNegativesRankingLoss`` (InfoNCE over cosine similarities with
  every other positive, and every hard negative, of the whole batch as a negative), its columns
  embedded in length-sorted micro-batches so that padding does not set a step's cost.

The prompts ("Query: " / "Passage: ", or the base's own) are saved with the model, so
``mlirbench run --model DIR`` (dense adapter) applies them; ``mlirbench_training.json`` beside
the weights records base, batching, alpha, data, split, max length, config and the loss curves.

The validation loss (early stopping, best checkpoint) is computed with the run's own batching on
held-out groups, so it tracks the objective being trained; it is not comparable across batchings.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlirbench._io.hashing import sha256_file
from mlirbench.errors import DataError, MlirbenchError
from mlirbench.records.record import TRAINING_METADATA as METADATA_FILE
from mlirbench.training.data import read_rows, read_sidecar

PROMPTS = {"query": "Query: ", "passage": "Passage: "}
BATCHINGS = {"x-x-mono": 1.0, "x-y": 0.0, "hybrid": None}


@dataclass
class TrainConfig:
    base: str
    batching: str
    train_data: Path
    output: Path
    alpha: float | None = None
    seed: int = 0
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 32
    lr: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    val_fraction: float = 0.05
    patience: int | None = 3
    eval_steps: int | None = None
    save_total_limit: int = 2
    freeze_embeddings: bool = False
    max_seq_length: int | None = None
    micro_batch_tokens: int = 1024
    resume: bool = False
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def resolved_alpha(self) -> float:
        """x-x-mono is hybrid(1), x-y is hybrid(0); alpha is only a choice for hybrid."""
        if self.batching not in BATCHINGS:
            raise MlirbenchError(f"train: unknown batching {self.batching!r} (choose from {', '.join(BATCHINGS)})")
        fixed = BATCHINGS[self.batching]
        if fixed is not None:
            if self.alpha is not None and self.alpha != fixed:
                raise MlirbenchError(f"train: --alpha applies to hybrid batching only "
                                     f"({self.batching} is alpha={fixed:g})")
            return fixed
        alpha = 0.5 if self.alpha is None else self.alpha
        if not 0 <= alpha <= 1:
            raise MlirbenchError(f"train: alpha must lie in [0, 1], got {alpha}")
        return alpha


def default_batching(base: str) -> str:
    """The fine-tuned mBART baseline is trained as usual, X-X-mono; other bases must say which batching."""
    if base == "mbart" or base.startswith("mbart:"):
        return "x-x-mono"
    raise MlirbenchError("train: --batching is required (x-x-mono, x-y or hybrid) except for mbart bases")


def split_validation(rows: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out whole groups (all translations of a question), so validation pairs are unseen."""
    if fraction <= 0:
        return rows, []
    groups = sorted({r["group"] for r in rows})
    random.Random(seed).shuffle(groups)
    held = set(groups[:max(1, round(fraction * len(groups)))])
    return [r for r in rows if r["group"] not in held], [r for r in rows if r["group"] in held]


def _dataset(rows: list[dict], negatives: int):
    from datasets import Dataset

    columns = {key: [r[key] for r in rows] for key in ("group", "lang", "query", "positive")}
    if negatives:
        columns["negatives"] = [r["negatives"][:negatives] for r in rows]
    return Dataset.from_dict(columns)


def _loss_curve(history: list[dict]) -> dict:
    return {
        "train": [[h["step"], h["loss"]] for h in history if "loss" in h],
        "eval": [[h["step"], h["eval_loss"]] for h in history if "eval_loss" in h],
    }


def _summary(config: TrainConfig, alpha: float, base_info: dict, data_info: dict, prompts: dict) -> dict:
    """What a result record needs to name the model: base, batching, alpha, data, split."""
    return {"base": config.base, "base_info": base_info, "batching": config.batching, "alpha": alpha,
            "train_data": data_info, "seed": config.seed, "batch_size": config.batch_size, "lr": config.lr,
            "weight_decay": config.weight_decay, "freeze_embeddings": config.freeze_embeddings, "prompts": prompts,
            "max_seq_length": base_info["max_seq_length"], "loss": "InfoNCE, in-batch negatives of the whole batch",
            "micro_batch_tokens": config.micro_batch_tokens}


@dataclass
class TrainingRows:
    """The training file split into training and validation rows, and what the metadata says of it."""

    train: list[dict]
    val: list[dict]
    negatives: int
    info: dict


def load_training_rows(config: TrainConfig, alpha: float) -> TrainingRows:
    """Read and check the training file and hold out the validation groups."""
    rows = read_rows(config.train_data)
    langs = sorted({r["lang"] for r in rows})
    if alpha < 1 and len(langs) < 2:
        raise DataError(config.train_data, f"{config.batching} batching needs at least two languages, found {langs}")
    negatives = min(len(r["negatives"]) for r in rows)
    train_rows, val_rows = split_validation(rows, config.val_fraction, config.seed)
    if config.patience is not None and not val_rows:
        raise MlirbenchError("train: early stopping (--patience) needs a validation split (--val-fraction > 0)")
    info = {"path": str(config.train_data), "sha256": sha256_file(Path(config.train_data)),
            "rows": len(rows), "groups": len({r["group"] for r in rows}), "languages": langs,
            "hard_negatives_per_pair": negatives, "train_rows": len(train_rows), "val_rows": len(val_rows),
            "val_split": "whole groups, seeded shuffle", "source": read_sidecar(Path(config.train_data))}
    return TrainingRows(train_rows, val_rows, negatives, info)


def prepare_model(config: TrainConfig):
    """The base as a sentence-transformers model, set up as configured; returns (model, base_info).

    The prompts are the base's own "query" / "passage" prompts when it has both (multilingual-e5:
    "query: " / "passage: "), else the paper's ``PROMPTS``; they are saved with the model.
    """
    from mlirbench.training.bases import load_base

    model, base_info = load_base(config.base)
    if config.freeze_embeddings:
        base_info["frozen"] = freeze_token_embeddings(model)
    if config.max_seq_length is not None:
        if config.max_seq_length < 2 or getattr(model[0], "max_seq_length", None) is None:
            raise MlirbenchError(f"train: --max-seq-length {config.max_seq_length} does not apply to this base "
                                 "(needs a base with a maximum length, and at least 2 tokens)")
        model.max_seq_length = config.max_seq_length
    base_info["max_seq_length"] = getattr(model[0], "max_seq_length", None)
    own = getattr(model, "prompts", None) or {}
    model.prompts = {role: own[role] for role in PROMPTS} if all(own.get(r) for r in PROMPTS) else dict(PROMPTS)
    model.default_prompt_name = None
    return model, base_info


def _training_arguments(config: TrainConfig, eval_steps: int, validate: bool):
    import torch
    from sentence_transformers import SentenceTransformerTrainingArguments

    return SentenceTransformerTrainingArguments(
        output_dir=str(config.output), num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        learning_rate=config.lr, weight_decay=config.weight_decay, warmup_steps=config.warmup_ratio,  # < 1: a ratio
        optim="adamw_torch", seed=config.seed, data_seed=config.seed,
        eval_strategy="steps" if validate else "no", eval_steps=eval_steps,
        save_strategy="steps", save_steps=eval_steps, save_total_limit=config.save_total_limit,
        load_best_model_at_end=validate, metric_for_best_model="eval_loss", greater_is_better=False,
        logging_steps=max(1, min(eval_steps, 10)), report_to="none", disable_tqdm=not config.progress,
        dataloader_drop_last=False, dataloader_pin_memory=torch.cuda.is_available(),
    )


def train(config: TrainConfig) -> dict:
    """Train and save the model to ``config.output``; returns the metadata written beside it."""
    alpha = config.resolved_alpha()
    if config.batch_size < 2:
        raise MlirbenchError("train: batch_size must be at least 2 (in-batch negatives)")
    if config.micro_batch_tokens < 1:
        raise MlirbenchError(f"train: --micro-batch-tokens must be at least 1, got {config.micro_batch_tokens}")
    data = load_training_rows(config, alpha)
    output = Path(config.output)
    _check_resume(config, output, data.info["sha256"])

    from transformers import EarlyStoppingCallback, set_seed

    from mlirbench.training.hooks import PairCollator, ParallelBatchSampler, ParallelTrainer, StepClock
    from mlirbench.training.loss import BucketedMultipleNegativesRankingLoss

    set_seed(config.seed)
    model, base_info = prepare_model(config)
    prompts = {"anchor": model.prompts["query"], "positive": model.prompts["passage"],
               **{f"negative_{k + 1}": model.prompts["passage"] for k in range(data.negatives)}}
    collator = PairCollator(preprocess_fn=model.preprocess, prompts=prompts, valid_label_columns=[])
    train_set = _dataset(data.train, data.negatives)
    val_set = _dataset(data.val, data.negatives) if data.val else None
    steps_per_epoch = len(ParallelBatchSampler(train_set, config.batch_size, False, alpha=alpha, seed=config.seed))
    eval_steps = config.eval_steps or max(1, steps_per_epoch // 4)
    clock = StepClock()
    callbacks = [clock] + ([EarlyStoppingCallback(config.patience)] if config.patience is not None else [])
    loss = BucketedMultipleNegativesRankingLoss(model, micro_batch_tokens=config.micro_batch_tokens)
    trainer = ParallelTrainer(model=model, args=_training_arguments(config, eval_steps, val_set is not None),
                              train_dataset=train_set, eval_dataset=val_set, loss=loss, data_collator=collator,
                              callbacks=callbacks, alpha=alpha)
    summary = _summary(config, alpha, base_info, data.info, model.prompts)
    output.mkdir(parents=True, exist_ok=True)
    _write_metadata(output, {"status": "running", "summary": summary, "config": _jsonable(asdict(config))})
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=True if config.resume else None)
    elapsed = time.perf_counter() - start
    model.save(str(output))
    metadata = _finished_metadata(config, summary, trainer.state, result, elapsed, clock, steps_per_epoch,
                                  str(model.device))
    _write_metadata(output, metadata)
    return metadata


def _finished_metadata(config: TrainConfig, summary: dict, state, result, elapsed: float, clock, steps_per_epoch: int,
                       device: str) -> dict:
    import torch

    return {
        "status": "finished",
        "summary": summary,
        "config": _jsonable(asdict(config)),
        "steps_per_epoch": steps_per_epoch,
        "global_step": state.global_step,
        "epoch": state.epoch,
        "best_checkpoint": state.best_model_checkpoint,
        "best_eval_loss": state.best_metric,
        "train_loss": result.training_loss,
        "train_runtime_s": elapsed,
        "train_metrics": result.metrics,
        "throughput": {"steps": clock.steps, "step_seconds": clock.seconds, "step_cpu_seconds": clock.cpu_seconds,
                       "pairs_per_s": clock.steps * config.batch_size / clock.seconds if clock.seconds else None,
                       "note": "this session's optimisation steps only (data loading inside a step included); "
                               "pairs = steps x batch size (a language's last mono batch may be shorter)",
                       "torch_threads": torch.get_num_threads(), "device": device,
                       "peak_rss_mb": _peak_rss_mb()},
        "loss_curve": _loss_curve(state.log_history),
        "versions": _versions(),
    }


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory (Linux/macOS), for the training benchmark."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import sys

    return round(peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10), 1)


def freeze_token_embeddings(model) -> str:
    """Freeze the input token table (``--freeze-embeddings``); returns its parameter name.

    Why: USE-m3's table is 128k x 512 (65M of its 69M parameters); on a CPU its dense gradient and
    AdamW update cost more than the rest of a step, and tokens absent from the training data
    keep their pretrained vectors instead of drifting through weight decay.
    """
    for name, param in model.named_parameters():
        if name.endswith(("embedding.weight", "embed_tokens.weight", "word_embeddings.weight")):
            param.requires_grad_(False)
            return name
    raise MlirbenchError("train: --freeze-embeddings found no token embedding table in this base")


def _check_resume(config: TrainConfig, output: Path, data_sha256: str) -> None:
    """Resume only the same run (same base, batching, data, seed, batch size); never start over silently."""
    meta_path = output / METADATA_FILE
    checkpoints = sorted(output.glob("checkpoint-*"))
    if config.resume:
        if not checkpoints:
            raise MlirbenchError(f"train: --resume, but {output} holds no checkpoint-* folder")
        old = json.loads(meta_path.read_text(encoding="utf-8"))["config"] if meta_path.is_file() else {}
        for key in ("base", "batching", "alpha", "seed", "batch_size", "lr", "weight_decay", "val_fraction",
                    "freeze_embeddings", "max_seq_length"):
            if key in old and old[key] != _jsonable(getattr(config, key)):
                raise MlirbenchError(f"train: --resume with {key}={getattr(config, key)!r}, "
                                     f"but the run in {output} used {old[key]!r}")
        stored = json.loads(meta_path.read_text(encoding="utf-8"))["summary"]["train_data"]["sha256"] \
            if meta_path.is_file() else data_sha256
        if stored != data_sha256:
            raise MlirbenchError(f"train: --resume with other training data than the run in {output}")
    elif checkpoints or meta_path.is_file():
        raise MlirbenchError(f"train: {output} already holds a training run; pass --resume or choose another --output")


def _write_metadata(output: Path, metadata: dict) -> None:
    from mlirbench._io.atomic import write_json

    write_json(output / METADATA_FILE, metadata)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return None
    return value


def _versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "transformers", "sentence-transformers", "mlirbench")}


def read_training_summary(folder: Path) -> dict | None:
    """The summary of a trained model folder (for the dense adapter's metadata), or None."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return None
    meta = json.loads(path.read_text(encoding="utf-8"))
    return dict(meta["summary"], status=meta.get("status"), global_step=meta.get("global_step"),
                best_eval_loss=meta.get("best_eval_loss"))
