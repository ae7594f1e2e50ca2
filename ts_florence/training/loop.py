"""The training run: setup (accelerator, data, model, loaders, optimizer, resume), one step, the log of a window
of steps, evaluation, checkpoints, and the end (final evaluation and the saved model)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import (
    ExampleDataset,
    SeriesAugmentation,
    StreamingExamples,
    TaskMixtureSampler,
    TSFlorenceCollator,
    build_example_index,
    channel_classes,
    read_records,
    record_channels,
    resolve_task_weights,
    source_excluded,
    source_factors,
    stream_records,
)
from ..tasks import TASKS
from .checkpoints import checkpoints, log_line, save_checkpoint, save_final
from .config import TrainConfig, config_dict
from .eval_loss import eval_loader, evaluate_loss
from .model import batch_digest, build_model, frozen_parameters, make_optimizer, make_schedule, weights_digest

logger = logging.getLogger("ts_florence.train")

AUXILIARY = ("series_reconstruction_loss", "cell_loss")
"""The auxiliary parts of "loss" (see TSFlorenceConfig), logged on their own."""


@dataclass
class TrainingRun:
    """What `setup` prepares and the steps use: the accelerate objects, the data and where the run stands."""

    config: TrainConfig
    output_dir: Path
    accelerator: Any
    model: Any
    processor: Any
    optimizer: Any
    scheduler: Any
    batches: Any
    """The training batches from where the run stands (the first one already fetched, see `resume`)."""
    weights: dict[str, float]
    eval_loader: Any = None
    eval_tasks: list[str] = field(default_factory=list)
    eval_records: Any = None
    step: int = 0
    seconds_before: float = 0.0
    """Training time of earlier launches of this run, up to the checkpoint it resumed from."""
    frozen: list = field(default_factory=list)
    """Parameters `optim.freeze` holds for the first `optim.freeze_steps` steps."""


@dataclass
class Window:
    """What the steps since the last log line did: their losses, series and tokens, and when they began."""

    start: float = field(default_factory=time.perf_counter)
    losses: list = field(default_factory=list)
    auxiliary: dict = field(default_factory=lambda: {k: [] for k in AUXILIARY})
    series: int = 0
    tokens: int = 0


def check_config(config: TrainConfig) -> None:
    """ValueError for settings that cannot train, before anything is loaded."""
    if not config.data.path:
        raise ValueError("no training data: set data.path (a corpus folder, records file or CSV/Parquet table)")
    if config.data.streaming and (
        config.data.augment is not None or config.data.group_by_task or config.data.source_weights
    ):
        raise ValueError(
            "data.augment, data.group_by_task and data.source_weights work on an indexed corpus or table, "
            "not with streaming"
        )
    if config.data.group_by_channels and not config.data.group_by_task:
        raise ValueError("data.group_by_channels groups the batches of data.group_by_task: set both")
    if config.data.streaming and config.data.num_workers:
        raise ValueError(
            "data.num_workers works on an indexed corpus or table: each worker would read the whole stream"
        )
    if config.optim.max_steps < 1 or config.optim.per_device_batch_size < 1:
        raise ValueError("optim.max_steps and optim.per_device_batch_size must be >= 1")


def _mixed_precision(requested: str) -> str:
    """The precision accelerate is given: bf16 also on a CPU (autocast; native on CPUs with AVX-512 BF16 or AMX,
    where it makes a step of the tiny preset cheaper, `scripts/bench_train.py`), fp16 on CUDA only."""
    if requested == "fp16" and not torch.cuda.is_available():
        return "no"
    return requested


def make_accelerator(config: TrainConfig, output_dir: Path):
    """The run's `Accelerator` (seeded, logging set up, output folder made on the main process)."""
    import datasets
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.utils import set_seed

    # With no GPU (or other accelerator) the processes of a launch are CPU workers over gloo; accelerate only
    # treats them so when told `cpu=True`, which `accelerate launch --multi_gpu` on a CPU machine does not say.
    accelerator = Accelerator(
        cpu=not torch.accelerator.is_available(),
        gradient_accumulation_steps=config.optim.gradient_accumulation_steps,
        mixed_precision=_mixed_precision(config.run.mixed_precision),
        log_with=_tracker(config),
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
    return accelerator


def _tracker(config: TrainConfig) -> str | None:
    return None if config.run.report_to in ("none", "", None) else config.run.report_to


def streamed_training_set(config: TrainConfig):
    """`(train_set, None, weights, tokenizer_records)` of a streamed corpus: one example per record, its task drawn
    by weight (`data.streaming`)."""
    import datasets

    stream = stream_records(config.data.path, config.data.train_split)
    if config.data.exclude_sources:
        stream = stream.filter(lambda record: not source_excluded(record["source"], config.data.exclude_sources))
    sample = stream.take(config.model.tokenizer_texts)
    tokenizer_records = datasets.Dataset.from_list(list(sample)) if not config.model.init_from else None
    present = list(config.data.tasks) if config.data.tasks else list(TASKS)
    weights = resolve_task_weights(config.data.task_weights, present)
    train_set = StreamingExamples(stream, weights, config.run.seed, config.data.shuffle_buffer)
    return train_set, None, weights, tokenizer_records


def indexed_training_set(config: TrainConfig, accelerator):
    """`(train_set, sampler, weights, records)` of an indexed corpus or table: every training pair indexed once,
    drawn by the task mixture (`TaskMixtureSampler`)."""
    records = read_records(config.data.path, config.data.train_split)
    if config.data.exclude_sources and "source" in records.column_names:
        before = len(records)
        records = records.filter(
            lambda source: not source_excluded(source, config.data.exclude_sources),
            input_columns="source",
            num_proc=config.data.num_proc,
        )
        logger.info(
            "left out %d training records whose source matches %s", before - len(records), config.data.exclude_sources
        )
    with accelerator.main_process_first():
        index = build_example_index(records, config.data.tasks, num_proc=config.data.num_proc)
    if len(index) == 0:
        raise ValueError(f"{config.data.path}: no training pair for the tasks {config.data.tasks or 'of TASKS'}")
    weights = resolve_task_weights(config.data.task_weights, sorted(set(index["task"])))
    augment = None
    if config.data.augment is not None:
        augment = SeriesAugmentation(**dataclasses.asdict(config.data.augment))
    train_set = ExampleDataset(records, index, augment)
    total = config.optim.max_steps * config.optim.gradient_accumulation_steps
    total *= config.optim.per_device_batch_size * accelerator.num_processes
    group = config.optim.per_device_batch_size if config.data.group_by_task else 1
    classes = None
    if config.data.group_by_channels:
        classes = channel_classes(record_channels(records)[np.asarray(index["record"])])
    example_weights = None
    if config.data.source_weights:
        if "source" not in records.column_names:
            raise ValueError(f"data.source_weights: the records of {config.data.path} have no 'source' column")
        pair_sources = np.asarray(records["source"], dtype=object)[np.asarray(index["record"])]
        example_weights = source_factors(pair_sources.tolist(), config.data.source_weights, index["task"])
        logger.info(
            "source weights %s: %d of %d training pairs weighted",
            config.data.source_weights,
            int((example_weights != 1).sum()),
            len(example_weights),
        )
    sampler = TaskMixtureSampler(
        train_set.tasks,
        weights,
        total,
        seed=config.run.seed,
        group_size=group,
        classes=classes,
        example_weights=example_weights,
    )
    return train_set, sampler, weights, records


def setup(config: TrainConfig) -> TrainingRun:
    """Everything a run needs, prepared by accelerate and resumed from the last complete checkpoint, if any."""
    check_config(config)
    output_dir = Path(config.run.output_dir)
    accelerator = make_accelerator(config, output_dir)
    if config.data.streaming:
        train_set, sampler, weights, tokenizer_records = streamed_training_set(config)
    else:
        train_set, sampler, weights, tokenizer_records = indexed_training_set(config, accelerator)

    model, processor = build_model(config, tokenizer_records)
    found = checkpoints(output_dir)
    if found and (found[-1] / "tokenizer.json").exists():
        # A resumed run keeps the tokenizer it started with, even if the corpus changed since.
        processor = type(processor).from_pretrained(found[-1])
    model_config = (model.get_base_model() if config.model.lora is not None else model).config
    # The cell head learns from every training example's record (TSFlorenceConfig.cell_head_weight).
    cells = model_config.cell_head_weight > 0
    train_set.cells = cells
    max_source_length = model_config.text_config.max_position_embeddings
    collator = TSFlorenceCollator(processor, config.data.max_target_length, max_source_length, cell_targets=cells)
    workers = config.data.num_workers
    train_loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=config.optim.per_device_batch_size,
        sampler=sampler,
        collate_fn=collator,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )
    evaluation, eval_tasks, eval_records = eval_loader(config, accelerator, sorted(weights), collator)

    optimizer = make_optimizer(model, config.optim)
    scheduler = make_schedule(optimizer, config.optim)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    if evaluation is not None:
        evaluation = accelerator.prepare(evaluation)
    accelerator.register_for_checkpointing(scheduler)
    if _tracker(config):
        flat = {f"{s}.{k}": str(v) for s, section in config_dict(config).items() for k, v in section.items()}
        accelerator.init_trackers("ts_florence", config=flat)
    run = TrainingRun(
        config, output_dir, accelerator, model, processor, optimizer, scheduler, None, weights,
        evaluation, eval_tasks, eval_records,
    )  # fmt: skip
    resume(run, train_loader, found[-1] if found else None)
    run.frozen = frozen_parameters(accelerator.unwrap_model(model), config.optim.freeze)
    return run


def resume(run: TrainingRun, train_loader, checkpoint: Path | None) -> None:
    """Sets `run.batches` from where the run stands: from the start, or, resuming from `checkpoint`, at its step
    with the same next batch. The first batch is fetched before the state (with its RNG) is restored: starting a
    DataLoader iterator draws from torch's RNG, and an uninterrupted run drew that before its first step, not in
    the middle of the run."""
    from accelerate import skip_first_batches

    state = json.loads((checkpoint / "trainer_state.json").read_text()) if checkpoint else {}
    run.step, run.seconds_before = state.get("step", 0), state.get("train_seconds", 0.0)
    accumulation = run.config.optim.gradient_accumulation_steps
    loader = skip_first_batches(train_loader, run.step * accumulation) if run.step else train_loader
    batches = iter(loader)
    first_batch = next(batches, None)
    run.batches = itertools.chain([first_batch] if first_batch is not None else [], batches)
    if checkpoint:
        run.accelerator.load_state(str(checkpoint))
        logger.info("resuming from %s at step %d", checkpoint, run.step)


def train_step(run: TrainingRun, batch: dict, window: Window, digest: str | None) -> str:
    """Forward, backward and (at the end of an accumulation) the optimizer step on one batch; its losses, series
    and tokens join `window`. Returns the digest of the first batch of this step (`digest`, or this batch's)."""
    accelerator, model, optim = run.accelerator, run.model, run.config.optim
    with accelerator.accumulate(model):
        if digest is None:
            digest = batch_digest(batch)
        outputs = model(**batch)
        loss = outputs.loss
        for name in AUXILIARY:
            if getattr(outputs, name) is not None:
                window.auxiliary[name].append(getattr(outputs, name).detach())
        accelerator.backward(loss)
        if accelerator.sync_gradients and run.frozen and (optim.freeze_steps is None or run.step < optim.freeze_steps):
            for param in run.frozen:
                param.grad = None  # AdamW skips a parameter without a gradient: no update, no decay
        if accelerator.sync_gradients and optim.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), optim.max_grad_norm)
        run.optimizer.step()
        run.optimizer.zero_grad()
    window.losses.append(loss.detach())
    window.series += len(batch["input_ids"]) * accelerator.num_processes
    window.tokens += int(batch["attention_mask"].sum() + (batch["labels"] != -100).sum()) * accelerator.num_processes
    return digest


def log_window(run: TrainingRun, window: Window, digest: str | None) -> dict:
    """The log line of the steps of `window`, up to `run.step`: mean loss and auxiliary losses over processes,
    learning rate, throughput and the digest of the step's first batch; written to the trackers and
    `trainer_log.jsonl`."""
    accelerator = run.accelerator
    seconds = time.perf_counter() - window.start
    entry = {
        "step": run.step,
        "loss": float(accelerator.gather(torch.stack(window.losses).mean()[None]).mean()),
        "lr": run.scheduler.get_last_lr()[0],
        "series_per_second": window.series / seconds,
        "tokens_per_second": window.tokens / seconds,
        "batch": digest,
    }
    for name, values in window.auxiliary.items():
        if values:
            entry[name] = float(accelerator.gather(torch.stack(values).mean()[None]).mean())
    accelerator.log({k: v for k, v in entry.items() if k not in ("step", "batch")}, step=run.step)
    if accelerator.is_main_process:
        log_line(run.output_dir / "trainer_log.jsonl", entry)
    return entry


def evaluate(run: TrainingRun) -> dict[str, float]:
    """The evaluation loss and series gain at `run.step`, overall and per task, logged."""
    scores = evaluate_loss(run.accelerator, run.model, run.eval_loader, run.eval_tasks)
    run.accelerator.log(scores, step=run.step)
    if run.accelerator.is_main_process:
        log_line(run.output_dir / "trainer_log.jsonl", {"step": run.step, **scores})
    return scores


def train(config: TrainConfig) -> dict:
    """Runs training as `config` says (see `ts_florence.training`) and returns the results dict."""
    from tqdm.auto import tqdm

    run = setup(config)
    accelerator, step_count = run.accelerator, config.optim.max_steps
    n_params = sum(p.numel() for p in run.model.parameters())
    if accelerator.is_main_process:
        logger.info(
            "training %.1fM parameters on %s: %d steps, %d processes, tasks %s",
            n_params / 1e6, config.data.path, step_count, accelerator.num_processes,
            ", ".join(f"{t} {w:.2f}" for t, w in run.weights.items()),
        )  # fmt: skip
    show = config.run.progress and accelerator.is_main_process
    bar = tqdm(total=step_count, initial=run.step, desc="training", disable=not show)
    run.model.train()
    window, start_time, digest = Window(), time.perf_counter(), None
    results = {"final_train_loss": float("nan"), "eval_loss": None, "eval_series_gain": None}
    for batch in run.batches:
        digest = train_step(run, batch, window, digest)
        if not accelerator.sync_gradients:
            continue
        run.scheduler.step()
        run.step += 1
        bar.update(1)
        if run.step % config.run.log_every == 0 or run.step == step_count:
            entry = log_window(run, window, digest)
            results["final_train_loss"] = entry["loss"]
            bar.set_postfix(loss=f"{entry['loss']:.3f}", lr=f"{entry['lr']:.1e}")
            window = Window()
        digest = None
        if run.eval_loader is not None and (run.step % config.run.eval_every == 0 or run.step == step_count):
            scores = evaluate(run)
            results["eval_loss"], results["eval_series_gain"] = scores["eval/loss"], scores["eval/series_gain"]
        if run.step % config.run.save_every == 0 and run.step < step_count:
            seconds = run.seconds_before + time.perf_counter() - start_time
            limit = config.run.save_total_limit
            save_checkpoint(accelerator, run.output_dir, run.step, limit, run.model, run.processor, seconds)
        if run.step >= step_count:
            break
    bar.close()
    return finish(run, results, n_params, run.seconds_before + time.perf_counter() - start_time)


def finish(run: TrainingRun, scores: dict, n_params: int, seconds: float) -> dict:
    """The end: the ranks must agree on the weights, then the main process scores and saves the model. Returns
    the results (`train_results.json`); `scores` holds the last training loss, evaluation loss and series gain."""
    from accelerate.state import AcceleratorState
    from accelerate.utils import gather_object

    accelerator, config = run.accelerator, run.config
    digests = gather_object([weights_digest(accelerator.unwrap_model(run.model))])
    results = {
        "steps": run.step,
        "world_size": accelerator.num_processes,
        "parameters": n_params,
        "final_train_loss": scores["final_train_loss"],
        "eval_loss": scores["eval_loss"],
        "eval_series_gain": scores["eval_series_gain"],
        "train_seconds": seconds,  # over all launches of the run
        "weights_digest_per_rank": digests,
    }
    if accelerator.is_main_process:
        if len(set(digests)) != 1:
            raise RuntimeError(f"the processes ended with different weights: {digests}")
        final_model = accelerator.unwrap_model(run.model)
        if config.model.lora is not None:
            final_model = final_model.merge_and_unload()
        if config.run.final_eval_limit > 0 and run.eval_records is not None:
            results["final_eval"] = final_evaluation(run, final_model)
        save_final(final_model, run.processor, config, run.output_dir, results)
        logger.info("saved the model to %s (final loss %.3f)", run.output_dir, results["final_train_loss"])
    accelerator.wait_for_everyone()
    accelerator.end_training()
    # Lets the same process build another Accelerator with other settings (tests, scripts that fine-tune in turn).
    AcceleratorState._reset_state()
    return results


def final_evaluation(run: TrainingRun, model) -> dict:
    """Generated answers of `run.config.run.final_eval_limit` examples per task of the evaluation records, scored
    (`ts_florence.evaluation.runner`); a failure is reported in the result, not raised."""
    from ..evaluation.runner import evaluate_model

    try:
        report = evaluate_model(
            model,
            run.processor,
            run.eval_records,
            sorted(run.weights),
            limit=run.config.run.final_eval_limit,
            progress=run.config.run.progress,
        )
    except Exception as err:  # noqa: BLE001 - a failing evaluation must not cost the trained weights
        logger.exception("the final evaluation failed; saving the model without it")
        return {"error": f"{type(err).__name__}: {err}"}
    kept = ("examples", "scores", "series_per_second", "limit", "skipped_too_long")
    return {k: report[k] for k in kept if k in report}


__all__ = [
    "TrainingRun",
    "Window",
    "check_config",
    "evaluate",
    "finish",
    "indexed_training_set",
    "log_window",
    "make_accelerator",
    "resume",
    "setup",
    "streamed_training_set",
    "train",
    "train_step",
]
