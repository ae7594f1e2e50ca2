"""Evaluation during a run: the loss and the series gain on a fixed subset of the evaluation pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import ExampleDataset, build_example_index, read_records
from ..evaluation.series_gain import series_gains
from .config import TrainConfig


def eval_subset(index, limit: int) -> list[int]:
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


def eval_loader(config: TrainConfig, accelerator, tasks: list[str], collator):
    """`(loader, eval_tasks, eval_records)` of the run's evaluation pairs (`data.eval_path`, or `data.eval_split` of
    a corpus folder; `(None, [], None)` without one): up to `data.eval_examples` pairs of `tasks`, in batches of one
    channel count and one task from different records, so that each example has partners whose series can stand in
    for its own (the series gain, `ts_florence.evaluation.series_gain`)."""
    if not (config.data.eval_path or (Path(config.data.path).is_dir() and config.data.eval_split)):
        return None, [], None
    eval_records = read_records(config.data.eval_path or config.data.path, config.data.eval_split)
    with accelerator.main_process_first():
        eval_index = build_example_index(eval_records, tasks, num_proc=None)
    eval_index = eval_index.select(eval_subset(eval_index, config.data.eval_examples))
    channels = [len(eval_records[int(r)]["values"]) for r in eval_index["record"]]
    tasks_of = eval_index["task"]
    eval_index = eval_index.select(sorted(range(len(eval_index)), key=lambda i: (channels[i], tasks_of[i], i)))
    eval_tasks = sorted(set(eval_index["task"]))
    loader = torch.utils.data.DataLoader(
        ExampleDataset(eval_records, eval_index),
        batch_size=config.optim.per_device_batch_size,
        collate_fn=EvalCollator(collator, eval_tasks),
    )
    return loader, eval_tasks, eval_records


def evaluate_loss(accelerator, model, eval_loader, eval_tasks: list[str]) -> dict[str, float]:
    """Loss on the evaluation pairs, overall and per task, gathered over processes, and the series gain: how
    much worse the loss gets when each example is given another example's series
    (`ts_florence.evaluation.series_gain`)."""
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


class EvalCollator:
    """The collator's batch and each example's task, as an index into `eval_tasks`."""

    def __init__(self, collator, eval_tasks: list[str]):
        self.collator, self.task_ids = collator, {t: i for i, t in enumerate(eval_tasks)}

    def __call__(self, examples):
        batch = self.collator(examples)
        batch["task_id"] = torch.tensor([self.task_ids[e["task"]] for e in examples])
        return batch


__all__ = ["EvalCollator", "eval_loader", "eval_subset", "evaluate_loss"]
