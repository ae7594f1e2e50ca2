"""Train or fine-tune a ts-florence model with accelerate, from one CPU core to multi-GPU nodes.

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
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import re
import shutil
import sys
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import numpy as np
import torch
import yaml

logger = logging.getLogger("ts_florence.train")

# Settings


@dataclass
class LoraArgs:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])


@dataclass
class ModelArgs:
    preset: str = "tiny"
    """A model preset of `TSFlorenceConfig.from_preset` for a new model (ignored with `init_from`)."""
    init_from: str | None = None
    """Folder of a saved model and processor to start from (fine-tuning)."""
    tokenizer_texts: int = 20000
    """For a new model: corpus records whose captions, labels and phrases train the tokenizer."""
    lora: LoraArgs | None = None
    """Train LoRA adapters (peft) instead of all weights; merged into the model at the end."""
    time_code_scale: float | None = None
    """`TSFlorenceConfig.time_code_scale` of the model (None: the preset's or the saved model's)."""
    location_pointer: bool | None = None
    """`TSFlorenceConfig.location_pointer` (None: the preset's or the saved model's)."""
    cell_head_weight: float | None = None
    """`TSFlorenceConfig.cell_head_weight` (None: the preset's or the saved model's)."""
    series_reconstruction_weight: float | None = None
    """`TSFlorenceConfig.series_reconstruction_weight` (None: the preset's or the saved model's)."""
    dropout: float | None = None
    """Dropout of the series encoder and of BART (`dropout`), replacing the saved or preset value. 0 fits few
    labelled series faster (UCR ArrowHead, 36 series, 400 steps: training loss 0.10 with the tiny preset's 0.1,
    0.02 with 0), but did not generalise better on UCR OSULeaf (test accuracy 0.529 vs 0.471 after 400 steps,
    0.512 vs 0.583 after 1500)."""


@dataclass
class AugmentArgs:
    """Random label-preserving changes of training series (`ts_florence.data.SeriesAugmentation`), for
    fine-tuning on few labelled series."""

    scale: float = 0.1
    """Standard deviation of the log amplitude factor."""
    jitter: float = 0.03
    """Gaussian noise, as a share of the series' standard deviation."""
    crop: float = 0.1
    """A random crop keeps at least `1 - crop` of the length."""
    tasks: list[str] = field(default_factory=lambda: ["<CLASSIFICATION>"])
    """Tasks augmented (only tasks whose targets hold no time location)."""


@dataclass
class DataArgs:
    path: str | None = None
    """An engine corpus folder, a Parquet/JSON Lines file of records, or a CSV/Parquet table of
    (series, label) for classification."""
    train_split: str = "train"
    eval_split: str | None = "eval"
    """Split of a corpus folder for evaluation; None for no evaluation."""
    eval_path: str | None = None
    """A separate file for evaluation (for file inputs; a corpus folder uses `eval_split`)."""
    tasks: list[str] | None = None
    """Tasks to train (default: every task with examples)."""
    task_weights: dict[str, float] = field(default_factory=dict)
    """Sampling weight per task (default 1): the mixture draws a task by weight, then one of its examples."""
    streaming: bool = False
    """Read the corpus as a stream (`datasets` streaming): one example per record, task drawn by weight."""
    shuffle_buffer: int = 2000
    exclude_sources: list[str] = field(default_factory=list)
    """Regular expressions; training records whose `source` matches one are left out (hold out the datasets a
    benchmark fine-tunes and tests on, e.g. the UCR sets of scripts/finetune_ucr.py)."""
    max_target_length: int = 256
    group_by_task: bool = False
    """Batches of one task each (the mixture draws a task per batch instead of per example): a detection batch is
    then not padded to a caption's length. Not with `streaming`."""
    eval_examples: int = 256
    """Pairs of the evaluation split scored by loss at every evaluation, spread over tasks."""
    num_proc: int | None = None
    """Processes for indexing the training pairs."""
    augment: AugmentArgs | None = None
    """Augment training series (not with `streaming`); none by default."""


@dataclass
class OptimArgs:
    max_steps: int = 1000
    per_device_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    """Cosine decay ends at learning_rate * min_lr_ratio."""
    max_grad_norm: float = 1.0
    freeze: list[str] = field(default_factory=list)
    """Parameter-name prefixes held fixed for the first `freeze_steps` steps and trained after them: linear
    probing, then fine-tuning (LP-FT, Kumar et al. 2022), which spares pretrained features the updates of a label
    path that starts untrained. E.g. `["model.series_tower", "model.multi_modal_projector",
    "model.language_model.encoder"]` trains only BART's decoder and the shared embeddings at first."""
    freeze_steps: int | None = None
    """How many steps `freeze` holds; None for the whole run."""


@dataclass
class RunArgs:
    output_dir: str = "runs/tiny"
    seed: int = 0
    mixed_precision: str = "no"
    """"no", "bf16" or "fp16": used where the hardware has it."""
    log_every: int = 20
    eval_every: int = 500
    save_every: int = 500
    save_total_limit: int = 2
    report_to: str = "tensorboard"
    """A tracker accelerate supports ("tensorboard", "wandb", ...) or "none"."""
    final_eval_limit: int = 50
    """Examples per task generated and scored (ts_florence.evaluation) at the end; 0 for none."""
    progress: bool = True


@dataclass
class TrainConfig:
    model: ModelArgs = field(default_factory=ModelArgs)
    data: DataArgs = field(default_factory=DataArgs)
    optim: OptimArgs = field(default_factory=OptimArgs)
    run: RunArgs = field(default_factory=RunArgs)


def _build(cls, data: Any, where: str):
    """Dataclass `cls` from a mapping; unknown keys and wrongly typed values raise ValueError naming them."""
    if not dataclasses.is_dataclass(cls):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    hints = get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        inner = [a for a in getattr(hint, "__args__", ()) if dataclasses.is_dataclass(a)]
        if dataclasses.is_dataclass(hint) or (inner and value is not None):
            kwargs[name] = _build(inner[0] if inner else hint, value, f"{where}.{name}")
        else:
            kwargs[name] = _check_type(value, hint, f"{where}.{name}")
    return cls(**kwargs)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    """`value` if it fits type `hint`, else ValueError naming `where`. Ints are accepted as floats, and so are
    strings like "3e-4", which PyYAML (YAML 1.1) reads as text."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is not type(None):
                try:
                    return _check_type(value, option, where)
                except ValueError:
                    pass
    elif (origin or hint) is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif (
        (origin or hint) is float
        and isinstance(value, str)
        and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value)
    ):
        return float(value)
    elif (origin or hint) is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif origin is list and isinstance(value, list):
        return [_check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict and isinstance(value, dict):
        return {_check_type(k, args[0], where): _check_type(v, args[1], f"{where}.{k}") for k, v in value.items()}
    elif hint in (str, bool) and isinstance(value, hint):
        return value
    raise ValueError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _set(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """The run settings of YAML file `path` (default: all defaults) with `overrides` ("section.key=value",
    the value read as YAML) applied. Raises ValueError on unknown keys or wrong types."""
    data: dict = {}
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a run config is a mapping of sections, got {type(data).__name__}")
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"--set takes section.key=value, got {item!r}")
        key, value = item.split("=", 1)
        _set(data, key.strip(), yaml.safe_load(value))
    return _build(TrainConfig, data, str(path or "config"))


def config_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)


# Data


def _read_records(path: str, split: str | None):
    """A records `datasets.Dataset` from a corpus folder (+ split), a records file, or a classification table."""
    import datasets

    from ts_florence.data import records_from_table
    from ts_florence.records import load_split

    source = Path(path)
    if source.is_dir():
        return load_split(source, split or "train")
    if not source.exists():
        raise FileNotFoundError(f"no such data: {path}")
    suffix = source.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return datasets.load_dataset("json", data_files=str(source), split="train")
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        if "values" in pq.read_schema(source).names:
            return datasets.load_dataset("parquet", data_files=str(source), split="train")
    return datasets.Dataset.from_list(records_from_table(source))


def _excluded(source: str, patterns: list[str]) -> bool:
    return any(re.search(pattern, source) for pattern in patterns)


def _stream_records(path: str, split: str):
    import datasets

    files = sorted(str(p) for p in (Path(path) / "data").glob(f"{split}-*.parquet")) if Path(path).is_dir() else [path]
    if not files:
        raise ValueError(f"{path} has no {split} files to stream")
    return datasets.load_dataset("parquet", data_files={split: files}, split=split, streaming=True)


class StreamingExamples(torch.utils.data.IterableDataset):
    """One example per streamed record, its task drawn by weight among the tasks the record has; epochs repeat
    with a new shuffle. The order is a function of the seed, so a resumed run can skip to where it stopped."""

    def __init__(self, records, weights: dict[str, float], seed: int, buffer: int):
        self.records, self.weights, self.seed, self.buffer = records, weights, seed, buffer
        self.cells = False  # whether examples carry their record's cell annotations (as ExampleDataset's)

    def __iter__(self):
        from ts_florence.data import cell_annotations, record_examples

        rng = np.random.default_rng(self.seed)
        epoch = 0
        while True:
            stream = self.records.shuffle(seed=self.seed + epoch, buffer_size=self.buffer)
            produced = False
            for record in stream:
                pairs = record_examples(record, list(self.weights))
                if not pairs:
                    continue
                tasks = sorted({task for task, _, _ in pairs})
                probs = np.asarray([self.weights[t] for t in tasks])
                task = tasks[rng.choice(len(tasks), p=probs / probs.sum())]
                options = [p for p in pairs if p[0] == task]
                _, prompt, target = options[int(rng.integers(len(options)))]
                produced = True
                item = {"values": np.asarray(record["values"], np.float32), "prompt": prompt, "target": target}
                if self.cells:
                    item["cells"] = cell_annotations(record)
                yield item
            if not produced:
                raise ValueError("the streamed corpus holds no training pair of the configured tasks")
            epoch += 1


def _tokenizer_texts(records, limit: int) -> list[str]:
    """Captions, labels, span descriptions and phrases of up to `limit` records, for a new tokenizer."""
    texts = []
    columns = [c for c in ("captions", "label", "spans", "groundings") if c in records.column_names]
    for record in records.select_columns(columns).select(range(min(limit, len(records)))):
        captions = record.get("captions") or {}
        texts += [captions.get(k) for k in ("brief", "detailed", "more_detailed")]
        texts.append(record.get("label"))
        texts += [s.get("label") for s in record.get("spans") or []]
        texts += [s.get("description") for s in record.get("spans") or []]
        texts += [g.get("phrase") for g in record.get("groundings") or []]
    return [t for t in texts if isinstance(t, str) and t.strip()]


def _eval_subset(index, limit: int) -> list[int]:
    """Up to `limit` rows of an example index, taken round-robin over tasks so that every task is scored, each
    task's rows in a fixed shuffled order: the first rows of every task come from the same record, and an
    evaluation batch of one record's tasks could not measure the series gain (`ts_florence.evaluation.series_gain`)."""
    tasks = np.asarray(index["task"])
    rng = np.random.default_rng(0)
    per_task = [rng.permutation(np.flatnonzero(tasks == t)) for t in sorted(set(tasks.tolist()))]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(rows) for rows in per_task):
        chosen += [int(rows[depth]) for rows in per_task if depth < len(rows)]
        depth += 1
    return sorted(chosen[:limit])


# Model


def build_model(config: TrainConfig, train_records):
    """(model, processor): loaded from `model.init_from`, or new of `model.preset` with a tokenizer trained
    on the corpus texts."""
    from ts_florence import TSFlorenceConfig, TSFlorenceForConditionalGeneration, TSFlorenceProcessor
    from ts_florence.tokenization_ts_florence import generated_text_corpus

    if config.model.init_from:
        source = Path(config.model.init_from)
        if not (source / "config.json").exists():
            raise FileNotFoundError(f"--init-from {source}: no saved model there (config.json missing)")
        model_config = TSFlorenceConfig.from_pretrained(source)
    else:
        model_config = TSFlorenceConfig.from_preset(config.model.preset)
    for name in ("time_code_scale", "location_pointer", "cell_head_weight", "series_reconstruction_weight"):
        if getattr(config.model, name) is not None:
            setattr(model_config, name, getattr(config.model, name))
    if config.model.dropout is not None:
        if not 0 <= config.model.dropout < 1:
            raise ValueError(f"model.dropout must be in [0, 1), got {config.model.dropout}")
        model_config.series_config.dropout = model_config.text_config.dropout = config.model.dropout
    if config.model.init_from:
        model = TSFlorenceForConditionalGeneration.from_pretrained(source, config=model_config)
        processor = TSFlorenceProcessor.from_pretrained(source)
    else:
        texts = generated_text_corpus()
        if train_records is not None:
            texts += _tokenizer_texts(train_records, config.model.tokenizer_texts)
        processor = TSFlorenceProcessor.from_preset(config.model.preset, texts=texts)
        model = TSFlorenceForConditionalGeneration(model_config)
    if config.model.lora is not None:
        from peft import LoraConfig, get_peft_model

        lora = config.model.lora
        model = get_peft_model(
            model,
            LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules),
        )
    return model, processor


def _weights_digest(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _batch_digest(batch: dict) -> str:
    digest = hashlib.sha256()
    for key in ("input_ids", "labels", "series_patches"):
        digest.update(batch[key].detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


# Checkpoints


def _checkpoints(output_dir: Path) -> list[Path]:
    folder = output_dir / "checkpoints"
    found = [p for p in folder.glob("step-*") if p.is_dir() and (p / "trainer_state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(
    accelerator, output_dir: Path, step: int, keep: int, model=None, processor=None, seconds: float = 0.0
) -> None:
    """accelerate state of `step` into `checkpoints/step-N`, written under a temporary name and renamed when
    complete; only the last `keep` checkpoints stay. With `model` and `processor`, their config and files are
    saved beside the weights, so that `from_pretrained(checkpoint)` loads the model of that step. `seconds`, the
    training time up to `step` over all launches, is kept in `trainer_state.json` for a resumed run's total."""
    final = output_dir / "checkpoints" / f"step-{step}"
    tmp = output_dir / "checkpoints" / f".tmp-step-{step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if model is not None and processor is not None:
            write_model_files(accelerator.unwrap_model(model), processor, tmp)
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "train_seconds": seconds}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in _checkpoints(output_dir)[:-keep] if keep > 0 else []:
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


# The run


def _optimizer(model, optim: OptimArgs) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=optim.learning_rate, betas=tuple(optim.adam_betas))


def _frozen_parameters(model, prefixes: list[str]) -> list[torch.nn.Parameter]:
    """The parameters whose names start with one of `prefixes`; ValueError for a prefix that names none."""
    named = list(model.named_parameters())
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name, _ in named):
            tops = sorted({".".join(name.split(".")[:3]) for name, _ in named})
            raise ValueError(f"optim.freeze: no parameter starts with {prefix!r}; names start with {tops}")
    return [param for name, param in named if name.startswith(tuple(prefixes))]


def _schedule(optimizer, optim: OptimArgs):
    def factor(step: int) -> float:
        if step < optim.warmup_steps:
            return (step + 1) / max(1, optim.warmup_steps)
        progress = min(1.0, (step - optim.warmup_steps) / max(1, optim.max_steps - optim.warmup_steps))
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def evaluate_loss(accelerator, model, eval_loader, eval_tasks: list[str]) -> dict[str, float]:
    """Loss on the evaluation pairs, overall and per task, gathered over processes, and the series gain: how
    much worse the loss gets when each example is given another example's series
    (`ts_florence.evaluation.series_gain`)."""
    from ts_florence.evaluation.series_gain import series_gains

    model.eval()
    losses, gains, task_ids = [], [], []
    with torch.no_grad():
        for batch in eval_loader:
            ids = batch.pop("task_id")
            loss, gain = series_gains(model, batch)
            loss, gain, ids = accelerator.gather_for_metrics((loss, gain, ids))
            losses.append(loss.cpu())
            gains.append(gain.cpu())
            task_ids.append(ids.cpu())
    model.train()
    loss, gain, ids = torch.cat(losses), torch.cat(gains), torch.cat(task_ids)
    result = {"eval/loss": float(loss.mean()), "eval/series_gain": float(gain.nanmean())}
    for k, task in enumerate(eval_tasks):
        chosen = ids == k
        if chosen.any():
            name = task.strip("<>").lower()
            result[f"eval/loss/{name}"] = float(loss[chosen].mean())
            result[f"eval/series_gain/{name}"] = float(gain[chosen].nanmean())
    return result


class _EvalCollator:
    def __init__(self, collator, eval_tasks: list[str]):
        self.collator, self.task_ids = collator, {t: i for i, t in enumerate(eval_tasks)}

    def __call__(self, examples):
        batch = self.collator(examples)
        batch["task_id"] = torch.tensor([self.task_ids[e["task"]] for e in examples])
        return batch


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


def _save_final(model, processor, config: TrainConfig, output_dir: Path, results: dict) -> None:
    """Model, processor, generation config, run config, results and card, each written to a temporary
    folder first and then moved into `output_dir`."""
    from ts_florence.io import files_in_place

    with files_in_place(output_dir, FINAL_STAGING) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "run_config.yaml").write_text(yaml.safe_dump(config_dict(config), sort_keys=False))
        (tmp / "train_results.json").write_text(json.dumps(results, indent=2))
        (tmp / "README.md").write_text(model_card(config, results))


def _log_line(path: Path, entry: dict) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def train(config: TrainConfig) -> dict:
    """Runs training as `config` says (see the module docstring) and returns the results dict."""
    import datasets
    from accelerate import Accelerator, DataLoaderConfiguration, skip_first_batches
    from accelerate.state import AcceleratorState
    from accelerate.utils import gather_object, set_seed
    from tqdm.auto import tqdm

    from ts_florence import TASKS
    from ts_florence.data import (
        ExampleDataset,
        SeriesAugmentation,
        TaskMixtureSampler,
        TSFlorenceCollator,
        build_example_index,
        resolve_task_weights,
    )

    if not config.data.path:
        raise ValueError("no training data: set data.path (a corpus folder, records file or CSV/Parquet table)")
    if config.data.streaming and (config.data.augment is not None or config.data.group_by_task):
        raise ValueError("data.augment and data.group_by_task work on an indexed corpus or table, not with streaming")
    if config.optim.max_steps < 1 or config.optim.per_device_batch_size < 1:
        raise ValueError("optim.max_steps and optim.per_device_batch_size must be >= 1")
    output_dir = Path(config.run.output_dir)
    report_to = None if config.run.report_to in ("none", "", None) else config.run.report_to
    # With no GPU (or other accelerator) the processes of a launch are CPU workers over gloo; accelerate only
    # treats them so when told `cpu=True`, which `accelerate launch --multi_gpu` on a CPU machine does not say.
    accelerator = Accelerator(
        cpu=not torch.accelerator.is_available(),
        gradient_accumulation_steps=config.optim.gradient_accumulation_steps,
        mixed_precision=config.run.mixed_precision if torch.cuda.is_available() else "no",
        log_with=report_to,
        project_dir=str(output_dir),
        dataloader_config=DataLoaderConfiguration(dispatch_batches=False),
        step_scheduler_with_optimizer=False,
    )
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING)
    if not (config.run.progress and accelerator.is_main_process):
        datasets.disable_progress_bars()
    set_seed(config.run.seed)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)

    # Data: the mixture over every task the training records have.
    if config.data.streaming:
        records = None
        stream = _stream_records(config.data.path, config.data.train_split)
        if config.data.exclude_sources:
            stream = stream.filter(lambda record: not _excluded(record["source"], config.data.exclude_sources))
        sample = stream.take(config.model.tokenizer_texts)
        tokenizer_records = datasets.Dataset.from_list(list(sample)) if not config.model.init_from else None
        present = list(config.data.tasks) if config.data.tasks else list(TASKS)
        weights = resolve_task_weights(config.data.task_weights, present)
        train_set = StreamingExamples(stream, weights, config.run.seed, config.data.shuffle_buffer)
        sampler = None
    else:
        records = _read_records(config.data.path, config.data.train_split)
        if config.data.exclude_sources and "source" in records.column_names:
            before = len(records)
            records = records.filter(
                lambda source: not _excluded(source, config.data.exclude_sources),
                input_columns="source",
                num_proc=config.data.num_proc,
            )
            logger.info(
                "left out %d training records whose source matches %s",
                before - len(records),
                config.data.exclude_sources,
            )
        tokenizer_records = records
        with accelerator.main_process_first():
            index = build_example_index(records, config.data.tasks, num_proc=config.data.num_proc)
        if len(index) == 0:
            raise ValueError(f"{config.data.path}: no training pair for the tasks {config.data.tasks or 'of TASKS'}")
        present = sorted(set(index["task"]))
        weights = resolve_task_weights(config.data.task_weights, present)
        augment = None
        if config.data.augment is not None:
            augment = SeriesAugmentation(**dataclasses.asdict(config.data.augment))
        train_set = ExampleDataset(records, index, augment)
        total = config.optim.max_steps * config.optim.gradient_accumulation_steps
        total *= config.optim.per_device_batch_size * accelerator.num_processes
        group = config.optim.per_device_batch_size if config.data.group_by_task else 1
        sampler = TaskMixtureSampler(train_set.tasks, weights, total, seed=config.run.seed, group_size=group)

    model, processor = build_model(config, tokenizer_records)
    found = _checkpoints(output_dir)
    if found and (found[-1] / "tokenizer.json").exists():
        # A resumed run keeps the tokenizer it started with, even if the corpus changed since.
        processor = type(processor).from_pretrained(found[-1])
    model_config = (model.get_base_model() if config.model.lora is not None else model).config
    text_config = model_config.text_config
    # The cell head learns from every training example's record (TSFlorenceConfig.cell_head_weight).
    cells = model_config.cell_head_weight > 0
    train_set.cells = cells
    collator = TSFlorenceCollator(
        processor, config.data.max_target_length, text_config.max_position_embeddings, cell_targets=cells
    )
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.optim.per_device_batch_size, sampler=sampler, collate_fn=collator
    )

    eval_loader, eval_tasks = None, []
    eval_records = None
    if config.data.eval_path or (Path(config.data.path).is_dir() and config.data.eval_split):
        eval_records = _read_records(config.data.eval_path or config.data.path, config.data.eval_split)
        with accelerator.main_process_first():
            eval_index = build_example_index(eval_records, sorted(weights), num_proc=None)
        eval_index = eval_index.select(_eval_subset(eval_index, config.data.eval_examples))
        # Batches of one channel count and one task, from different records: each example then has partners whose
        # series can stand in for its own (the series gain, `ts_florence.evaluation.series_gain`).
        channels = [len(eval_records[int(r)]["values"]) for r in eval_index["record"]]
        tasks_of = eval_index["task"]
        eval_index = eval_index.select(sorted(range(len(eval_index)), key=lambda i: (channels[i], tasks_of[i], i)))
        eval_tasks = sorted(set(eval_index["task"]))
        eval_loader = torch.utils.data.DataLoader(
            ExampleDataset(eval_records, eval_index),
            batch_size=config.optim.per_device_batch_size,
            collate_fn=_EvalCollator(collator, eval_tasks),
        )

    optimizer = _optimizer(model, config.optim)
    scheduler = _schedule(optimizer, config.optim)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)
    accelerator.register_for_checkpointing(scheduler)
    if report_to:
        flat = {f"{s}.{k}": str(v) for s, section in config_dict(config).items() for k, v in section.items()}
        accelerator.init_trackers("ts_florence", config=flat)

    # Resume from the last complete checkpoint, if any, at the same step and the same next batch. The first batch
    # is fetched before the state (with its RNG) is restored: starting a DataLoader iterator draws from torch's
    # RNG, and an uninterrupted run drew that before its first step, not in the middle of the run.
    state = json.loads((found[-1] / "trainer_state.json").read_text()) if found else {}
    step, seconds_before = state.get("step", 0), state.get("train_seconds", 0.0)
    loader = skip_first_batches(train_loader, step * config.optim.gradient_accumulation_steps) if step else train_loader
    batches = iter(loader)
    first_batch = next(batches, None)
    if found:
        accelerator.load_state(str(found[-1]))
        logger.info("resuming from %s at step %d", found[-1], step)

    log_path = output_dir / "trainer_log.jsonl"
    n_params = sum(p.numel() for p in model.parameters())
    if accelerator.is_main_process:
        logger.info(
            "training %.1fM parameters on %s: %d steps, %d processes, tasks %s",
            n_params / 1e6, config.data.path, config.optim.max_steps, accelerator.num_processes,
            ", ".join(f"{t} {w:.2f}" for t, w in weights.items()),
        )  # fmt: skip
    bar = tqdm(
        total=config.optim.max_steps,
        initial=step,
        desc="training",
        disable=not (config.run.progress and accelerator.is_main_process),
    )
    frozen = _frozen_parameters(accelerator.unwrap_model(model), config.optim.freeze)
    freeze_until = config.optim.freeze_steps
    model.train()
    # The auxiliary parts of "loss" (see TSFlorenceConfig), logged on their own.
    auxiliary = ("series_reconstruction_loss", "cell_loss")
    window_loss, window_auxiliary, window_series, window_tokens = [], {k: [] for k in auxiliary}, 0, 0
    window_start = time.perf_counter()
    start_time, eval_loss, series_gain, first_digest = time.perf_counter(), None, None, None
    loss_value = float("nan")
    for batch in itertools.chain([first_batch] if first_batch is not None else [], batches):
        with accelerator.accumulate(model):
            if first_digest is None:
                first_digest = _batch_digest(batch)
            outputs = model(**batch)
            loss = outputs.loss
            for name in auxiliary:
                if getattr(outputs, name) is not None:
                    window_auxiliary[name].append(getattr(outputs, name).detach())
            accelerator.backward(loss)
            if accelerator.sync_gradients and frozen and (freeze_until is None or step < freeze_until):
                for param in frozen:
                    param.grad = None  # AdamW skips a parameter without a gradient: no update, no decay
            if accelerator.sync_gradients and config.optim.max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), config.optim.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
        window_loss.append(loss.detach())
        window_series += len(batch["input_ids"]) * accelerator.num_processes
        window_tokens += (
            int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum()) * accelerator.num_processes
        )
        if not accelerator.sync_gradients:
            continue
        scheduler.step()
        step += 1
        bar.update(1)
        if step % config.run.log_every == 0 or step == config.optim.max_steps:
            loss_value = float(accelerator.gather(torch.stack(window_loss).mean()[None]).mean())
            seconds = time.perf_counter() - window_start
            entry = {
                "step": step,
                "loss": loss_value,
                "lr": scheduler.get_last_lr()[0],
                "series_per_second": window_series / seconds,
                "tokens_per_second": window_tokens / seconds,
                "batch": first_digest,
            }
            for name, values in window_auxiliary.items():
                if values:
                    entry[name] = float(accelerator.gather(torch.stack(values).mean()[None]).mean())
            accelerator.log({k: v for k, v in entry.items() if k not in ("step", "batch")}, step=step)
            if accelerator.is_main_process:
                _log_line(log_path, entry)
            bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{entry['lr']:.1e}")
            window_loss, window_auxiliary, window_series, window_tokens = [], {k: [] for k in auxiliary}, 0, 0
            window_start = time.perf_counter()
        first_digest = None
        if eval_loader is not None and (step % config.run.eval_every == 0 or step == config.optim.max_steps):
            scores = evaluate_loss(accelerator, model, eval_loader, eval_tasks)
            eval_loss, series_gain = scores["eval/loss"], scores["eval/series_gain"]
            accelerator.log(scores, step=step)
            if accelerator.is_main_process:
                _log_line(log_path, {"step": step, **scores})
        if step % config.run.save_every == 0 and step < config.optim.max_steps:
            seconds = seconds_before + time.perf_counter() - start_time
            save_checkpoint(accelerator, output_dir, step, config.run.save_total_limit, model, processor, seconds)
        if step >= config.optim.max_steps:
            break
    bar.close()

    # The end: the ranks must agree on the weights, then the main process saves and scores the model.
    digests = gather_object([_weights_digest(accelerator.unwrap_model(model))])
    results = {
        "steps": step,
        "world_size": accelerator.num_processes,
        "parameters": n_params,
        "final_train_loss": loss_value,
        "eval_loss": eval_loss,
        "eval_series_gain": series_gain,
        "train_seconds": seconds_before + time.perf_counter() - start_time,  # over all launches of the run
        "weights_digest_per_rank": digests,
    }
    if accelerator.is_main_process:
        if len(set(digests)) != 1:
            raise RuntimeError(f"the processes ended with different weights: {digests}")
        final_model = accelerator.unwrap_model(model)
        if config.model.lora is not None:
            final_model = final_model.merge_and_unload()
        if config.run.final_eval_limit > 0 and eval_records is not None:
            from ts_florence.evaluation.runner import evaluate_model

            try:
                report = evaluate_model(
                    final_model,
                    processor,
                    eval_records,
                    sorted(weights),
                    limit=config.run.final_eval_limit,
                    progress=config.run.progress,
                )
                results["final_eval"] = {
                    k: report[k]
                    for k in ("examples", "scores", "series_per_second", "limit", "skipped_too_long")
                    if k in report
                }
            except Exception as err:  # noqa: BLE001 - a failing evaluation must not cost the trained weights
                logger.exception("the final evaluation failed; saving the model without it")
                results["final_eval"] = {"error": f"{type(err).__name__}: {err}"}
        _save_final(final_model, processor, config, output_dir, results)
        logger.info("saved the model to %s (final loss %.3f)", output_dir, loss_value)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    # Lets the same process build another Accelerator with other settings (tests, scripts that fine-tune in turn).
    AcceleratorState._reset_state()
    return results


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


if __name__ == "__main__":
    sys.exit(main())
