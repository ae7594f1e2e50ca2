"""Training and fine-tuning of a ts-florence model with accelerate, from one CPU core to multi-GPU nodes.

    accelerate launch training/train.py --config training/configs/tiny.yaml
    accelerate launch --config_file training/accelerate/cpu2.yaml training/train.py --config training/configs/tiny.yaml
    accelerate launch --config_file training/accelerate/ddp.yaml training/train.py --config training/configs/base.yaml
    python training/train.py --config training/configs/finetune.yaml --init-from PATH --data my_labels.csv

A run is described by a YAML file (`TrainConfig`: sections model, data, optim, run; unknown keys are refused);
`--set section.key=value` overrides one setting. The output folder holds `checkpoints/step-N` (accelerate
state, every `run.save_every` steps), `trainer_log.jsonl`, tracker logs and, at the end, the model, processor,
generation config, `run_config.yaml`, `train_results.json` and a model card draft (`README.md`), loadable with
`AutoModelForSeq2SeqLM.from_pretrained(output_dir)`. Relaunching the same command resumes from the last
checkpoint, at the same step and with the same next batch.

`training/train.py` is the command (`main`); the run is `train(config)` (`loop`: setup, one step, evaluation,
checkpoints, the end), its settings `TrainConfig` (`config`), its model and optimizer `model`, its evaluation loss
and series gain `eval_loss`, what it writes `checkpoints`.
"""

from __future__ import annotations

import argparse
import json
import sys

from .checkpoints import FINAL_STAGING, model_card, save_checkpoint, write_model_files
from .config import (
    AugmentArgs,
    DataArgs,
    LoraArgs,
    ModelArgs,
    OptimArgs,
    RunArgs,
    TrainConfig,
    config_dict,
    load_config,
)
from .eval_loss import evaluate_loss
from .loop import train
from .model import build_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML run config (training/configs/*.yaml)")
    parser.add_argument("--data", help="overrides data.path")
    parser.add_argument("--init-from", help="overrides model.init_from: fine-tune a saved model")
    parser.add_argument("--output-dir", help="overrides run.output_dir")
    parser.add_argument("--max-steps", type=int, help="overrides optim.max_steps")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="any override")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = list(args.set)
    for key, value in (
        ("data.path", args.data),
        ("model.init_from", args.init_from),
        ("run.output_dir", args.output_dir),
        ("optim.max_steps", args.max_steps),
    ):
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    try:
        config = load_config(args.config, overrides)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    train(config)
    return 0


__all__ = [
    "FINAL_STAGING",
    "AugmentArgs",
    "DataArgs",
    "LoraArgs",
    "ModelArgs",
    "OptimArgs",
    "RunArgs",
    "TrainConfig",
    "build_model",
    "config_dict",
    "evaluate_loss",
    "load_config",
    "main",
    "model_card",
    "parse_args",
    "save_checkpoint",
    "train",
    "write_model_files",
]
