"""The training commands of ``mlirbench``: make-train-data, train, translate (registered in cli.py).
Heavy imports stay inside the commands."""
from __future__ import annotations

from pathlib import Path

import click

from mlirbench.cli_params import Finite, out_file, out_folder, parse_langs


@click.command("make-train-data")
@click.option("--data-dir", required=True, type=click.Path(path_type=Path),
              help="Folder of SQuAD-format <lang>.json files with sentence breaks (XQuAD-R / MLQA-R layout).")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path), callback=out_file,
              help="Training JSONL to write.")
@click.option("--split", "split_path", required=True, type=click.Path(path_type=Path), callback=out_file,
              help="Article split JSON: reused if it exists (keep it committed), else written.")
@click.option("--langs", default=None, callback=parse_langs, help="Only these languages, e.g. 'en,de,zh'.")
@click.option("--eval-fraction", type=Finite(0, 1, min_open=True, max_open=True), default=0.2, show_default=True,
              help="Share of articles held out.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the article shuffle.")
@click.option("--negatives", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hard negatives per row: other sentences of the answer's paragraph.")
@click.option("--heldout-dir", type=click.Path(path_type=Path), default=None, callback=out_folder,
              help="Also write the SQuAD files cut to the held-out articles (for `mlirbench run --data-dir`).")
def make_train_data_cmd(data_dir: Path, output: Path, split_path: Path, langs: list[str] | None, eval_fraction: float,
                        seed: int, negatives: int, heldout_dir: Path | None) -> None:
    """Question -> answer-sentence training pairs from the training articles of an article-level split."""
    from mlirbench.training.data import make_train_data
    summary = make_train_data(data_dir, output, split_path, langs=langs, eval_fraction=eval_fraction,
                              seed=seed, negatives=negatives, heldout_dir=heldout_dir)
    click.echo(f"wrote {output}: {summary['rows']} rows, {summary['groups']} groups, "
               f"{len(summary['languages'])} languages, {summary['train_articles']} train / "
               f"{summary['eval_articles']} held-out articles ({split_path})")


@click.command("train")
@click.option("--base", required=True,
              help="use-m3, e5-small, mbart[:<hub id or folder>], or a sentence-transformers hub id / folder.")
@click.option("--batching", type=click.Choice(["x-x-mono", "x-y", "hybrid"]), default=None,
              help="Batch kind; required except for mbart bases (the fine-tuned mBART baseline: x-x-mono).")
@click.option("--alpha", type=Finite(0, 1), default=None,
              help="Hybrid: probability of an X-X-mono batch (default 0.5).")
@click.option("--train-data", required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Training JSONL.")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path), callback=out_folder,
              help="Model folder to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", type=Finite(0, min_open=True), default=1.0, show_default=True)
@click.option("--max-steps", type=click.IntRange(min=-1), default=-1, show_default=True,
              help="Overrides --epochs when > 0.")
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True,
              help="Pairs per batch (paper: 100; at least 2: in-batch negatives).")
@click.option("--lr", type=Finite(0, min_open=True), default=3e-5, show_default=True)
@click.option("--weight-decay", type=Finite(0), default=0.01, show_default=True)
@click.option("--warmup-ratio", type=Finite(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--val-fraction", type=Finite(0, 1, max_open=True), default=0.05, show_default=True,
              help="Share of groups held out for the validation loss (0: none).")
@click.option("--patience", type=click.IntRange(min=-1), default=3, show_default=True,
              help="Early stopping: evaluations without a better validation loss (-1: off).")
@click.option("--eval-steps", type=click.IntRange(min=1), default=None,
              help="Steps between validations/checkpoints (default: a quarter epoch).")
@click.option("--freeze-embeddings", is_flag=True, help="Keep the input token table fixed (fast on CPU for use-m3).")
@click.option("--max-seq-length", type=click.IntRange(min=1), default=None,
              help="Truncate texts to this many tokens (recorded).")
@click.option("--micro-batch-tokens", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Padded tokens per length-sorted forward micro-batch (the loss is still the whole batch's).")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_cmd(base: str, batching: str, alpha: float | None, train_data: Path, output: Path, seed: int,
              epochs: float, max_steps: int, batch_size: int, lr: float, weight_decay: float, warmup_ratio: float,
              val_fraction: float, patience: int, eval_steps: int | None, freeze_embeddings: bool,
              max_seq_length: int | None, micro_batch_tokens: int, resume: bool, quiet: bool) -> None:
    """Fine-tune a dual encoder with X-X-mono, X-Y or hybrid(alpha) batches (arXiv 2408.10536)."""
    from mlirbench.training.trainer import TrainConfig, default_batching, train
    meta = train(TrainConfig(
        base=base, batching=batching or default_batching(base), alpha=alpha, train_data=train_data, output=output,
        seed=seed, epochs=epochs,
        max_steps=max_steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup_ratio=warmup_ratio,
        val_fraction=val_fraction, patience=None if patience < 0 or val_fraction <= 0 else patience,
        eval_steps=eval_steps, freeze_embeddings=freeze_embeddings, max_seq_length=max_seq_length,
        micro_batch_tokens=micro_batch_tokens, resume=resume, progress=not quiet))
    click.echo(f"trained {meta['global_step']} steps (train loss {meta['train_loss']:.4f}, best validation loss "
               f"{meta['best_eval_loss'] if meta['best_eval_loss'] is not None else 'n/a'}); wrote {output}")


@click.command("translate")
@click.option("--model", "-m", required=True, help="HF translation model (Marian, M2M-100, NLLB): hub id or folder.")
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path), help="Training JSONL.")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path), callback=out_file,
              help="JSONL to write.")
@click.option("--source-lang", required=True, help="Language of the rows to translate, e.g. en (NLLB: en=eng_Latn).")
@click.option("--to", "targets", required=True, callback=parse_langs,
              help="Target languages, e.g. 'de,zh'; LANG=CODE gives the model's code (de=deu_Latn for NLLB).")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def translate_cmd(model: str, input_path: Path, output: Path, source_lang: str, targets: list[str], batch_size: int,
                  max_new_tokens: int, quiet: bool) -> None:
    """Augment a training set: translated copies of the SOURCE-LANG rows, same groups (input rows kept)."""
    from mlirbench.training.translate import parse_targets, translate_file
    summary = translate_file(model, input_path, output, source_lang, parse_targets(targets),
                             batch_size=batch_size, max_new_tokens=max_new_tokens, progress=not quiet)
    click.echo(f"wrote {output}: {summary['rows']} rows ({summary['added']} translated, "
               f"{summary['dropped_empty']} empty translations dropped)")
