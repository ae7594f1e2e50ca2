"""What a run writes: resumable checkpoints (`checkpoints/step-N`), the log, and the final model folder with its
run config, results and model card draft."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from .config import TrainConfig, config_dict


def checkpoints(output_dir: Path) -> list[Path]:
    folder = output_dir / "checkpoints"
    found = [p for p in folder.glob("step-*") if p.is_dir() and (p / "trainer_state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(
    accelerator, output_dir: Path, step: int, keep: int, model=None, processor=None, seconds: float = 0.0
) -> None:
    """accelerate state of `step` into `checkpoints/step-N`, written by every process into a staging folder
    (`.tmp-step-N`) that the main process moves into place when complete (`io.directory_in_place`); only the last
    `keep` checkpoints stay. With `model` and `processor`, their config and files are saved beside the weights, so
    that `from_pretrained(checkpoint)` loads the model of that step. `seconds`, the training time up to `step` over
    all launches, is kept in `trainer_state.json` for a resumed run's total."""
    from ..io import directory_in_place

    final = output_dir / "checkpoints" / f"step-{step}"
    main = accelerator.is_main_process
    with directory_in_place(final, staging=f".tmp-step-{step}", owner=main) as tmp:
        accelerator.wait_for_everyone()  # the main process has made the folder
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if main:
            if model is not None and processor is not None:
                write_model_files(accelerator.unwrap_model(model), processor, tmp)
            (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "train_seconds": seconds}))
    if main:
        for old in checkpoints(output_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def write_model_files(model, processor, folder: Path) -> None:
    """Config, generation config and processor of `model` into `folder`, which holds its weights
    (`model.safetensors` of accelerate's state)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.config.save_pretrained(folder)
    if base.generation_config is not None:
        base.generation_config.save_pretrained(folder)
    processor.save_pretrained(folder)


def model_card(config: TrainConfig, results: dict) -> str:
    """A model card draft: Hub YAML metadata and what the run did."""
    scores = results.get("final_eval", {}).get("scores", {})
    origin = f"fine-tuned from {config.model.init_from}" if config.model.init_from else f"{config.model.preset} preset"
    lines = [
        "---",
        "library_name: transformers",
        "license: apache-2.0",
        "tags:",
        "- time-series",
        "- ts-florence",
        "- seq2seq",
        "pipeline_tag: time-series-prompting",
        "---",
        "",
        f"# ts-florence ({origin})",
        "",
        "A prompted sequence-to-sequence model for time series (captions, anomalies, events, segments, grounding,",
        "classification). Draft card written by `training/train.py`; edit before sharing.",
        "",
        "```python",
        "import ts_florence",
        "from transformers import pipeline",
        "pipe = pipeline('time-series-prompting', model=PATH)",
        "pipe(series, task='<ANOMALY_DETECTION>')",
        "```",
        "",
        "## Training",
        "",
        f"- data: `{Path(config.data.path).name if config.data.path else '-'}` (split `{config.data.train_split}`)",
        f"- steps: {results['steps']}, batch {config.optim.per_device_batch_size} x {results['world_size']} "
        f"processes x {config.optim.gradient_accumulation_steps} accumulation",
        f"- learning rate {config.optim.learning_rate} (AdamW, warm-up {config.optim.warmup_steps}, cosine decay)",
        f"- parameters: {results['parameters'] / 1e6:.1f}M; wall time {results['train_seconds'] / 60:.1f} min",
        f"- final training loss {results['final_train_loss']:.3f}; evaluation loss {results.get('eval_loss', 'n/a')}",
        f"- series gain (evaluation loss with another example's series minus the true loss; ~0 means the model "
        f"ignores its input): {results.get('eval_series_gain', 'n/a')}",
        "",
        "The full run configuration is in `run_config.yaml`.",
    ]
    if scores:
        lines += ["", "## Evaluation (held-out split, generation)", "", "| task | metric | value |", "|---|---|---|"]
        for task, metrics in scores.items():
            for metric, value in metrics.items():
                if value is not None:
                    lines.append(f"| {task} | {metric} | {value:.3f} |")
    return "\n".join(lines) + "\n"


FINAL_STAGING = ".final.tmp"
"""Where the final files are written before they move into the output folder; `scripts/run_rounds.py` reads a
training as finished only when it is gone."""


def save_final(model, processor, config: TrainConfig, output_dir: Path, results: dict) -> None:
    """Model, processor, generation config, run config, results and card, each written to a temporary
    folder first and then moved into `output_dir`."""
    from ..io import files_in_place

    with files_in_place(output_dir, FINAL_STAGING) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "run_config.yaml").write_text(yaml.safe_dump(config_dict(config), sort_keys=False))
        (tmp / "train_results.json").write_text(json.dumps(results, indent=2))
        (tmp / "README.md").write_text(model_card(config, results))


def log_line(path: Path, entry: dict) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


__all__ = [
    "FINAL_STAGING",
    "checkpoints",
    "log_line",
    "model_card",
    "save_checkpoint",
    "save_final",
    "write_model_files",
]
