"""Training data: the (prompt, target) examples of corpus records, a task-mixture sampler and the collator.

A corpus record (`ts_florence.records`) trains several tasks; `TaskSpec.examples` gives its pairs. Training
indexes every pair once (`build_example_index`), then draws from the index with `TaskMixtureSampler`, which
picks a task by its weight and then an example of that task, so rare tasks are not drowned by common ones.
`TSFlorenceCollator` turns drawn examples into a padded batch through the processor.

Plain tables of labelled series (UCR style) become records with `records_from_table`, so fine-tuning for
classification goes through the same path as any other task. `read_records` reads any of the three inputs of
training (a corpus folder, a records file, a table); a corpus too large to index is read as a stream
(`stream_records`) and drawn from with `StreamingExamples`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .processing_ts_florence import TSFlorenceProcessor
from .records import has_truth
from .tasks import TASKS, get_task

INDEX_COLUMNS = ("record", "task", "prompt", "target")


def record_examples(record: Mapping[str, Any], tasks: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
    """`(task, prompt, target)` for every training pair of `record` over `tasks` (default: all tasks); the
    prompt is the task token followed by the task's input, as the processor takes it."""
    pairs = []
    for token in tasks if tasks is not None else TASKS:
        for text_input, target in get_task(token).examples(record):
            pairs.append((token, token + (text_input or ""), target))
    return pairs


def build_example_index(dataset, tasks: Sequence[str] | None = None, num_proc: int | None = None):
    """A `datasets.Dataset` with one row per training pair of `dataset` (a records `datasets.Dataset`):
    `record` (row of `dataset`), `task`, `prompt`, `target`. Cached by `datasets` like any `map`."""
    tasks = list(tasks) if tasks is not None else list(TASKS)
    for token in tasks:
        get_task(token)  # unknown tasks fail here, with the list of known ones

    def index(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in INDEX_COLUMNS}
        keys = list(batch)
        for row, i in enumerate(indices):
            record = {key: batch[key][row] for key in keys}
            for task, prompt, target in record_examples(record, tasks):
                out["record"].append(i)
                out["task"].append(task)
                out["prompt"].append(prompt)
                out["target"].append(target)
        return out

    return dataset.map(
        index,
        batched=True,
        batch_size=256,
        with_indices=True,
        remove_columns=dataset.column_names,
        num_proc=num_proc,
        desc="indexing training pairs",
    )


def resolve_task_weights(weights: Mapping[str, float] | None, present: Sequence[str]) -> dict[str, float]:
    """Sampling probability of each task in `present` (tasks with examples): the configured weight (default 1)
    normalised over the present tasks. Raises ValueError on unknown tasks, negative weights or an empty mix."""
    weights = dict(weights or {})
    for token, weight in weights.items():
        get_task(token)
        if not weight >= 0:
            raise ValueError(f"task weight of {token} must be >= 0, got {weight}")
    raw = {token: float(weights.get(token, 1.0)) for token in present}
    total = sum(raw.values())
    if total <= 0:
        raise ValueError(f"no task to train: the data has examples of {sorted(present)} but all their weights are 0")
    return {token: w / total for token, w in raw.items() if w > 0}


CHANNEL_CLASSES = (1, 2, 3, 5, 9)
"""Lower ends of the channel-count classes that `TaskMixtureSampler` groups by (`data.group_by_channels`): 1, 2,
3-4, 5-8, 9 and more channels. A series of c channels has min(num_patches, max_series_tokens // c) * c tokens, so
in the tiny preset the classes are 32, 64, 96-128, 160-256 and 252-256 tokens wide."""


def record_channels(records) -> np.ndarray:
    """The channel count of every record of a records `datasets.Dataset`, read from the Arrow lengths of `values`
    (no series is decoded)."""
    import pyarrow.compute as pc

    table = records.select_columns(["values"]).with_format("arrow")
    parts = [pc.list_value_length(batch["values"]).to_numpy() for batch in table.iter(batch_size=8192)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def channel_classes(channels: np.ndarray) -> np.ndarray:
    """The `CHANNEL_CLASSES` class (0, 1, ...) of each channel count."""
    return np.searchsorted(np.asarray(CHANNEL_CLASSES), np.asarray(channels), side="right") - 1


class TaskMixtureSampler(torch.utils.data.Sampler[int]):
    """Draws `num_samples` example indices: each draw picks a task with probability `weights[task]`, then
    `group_size` of that task's examples uniformly. The sequence is a function of `seed` alone, so every process of
    a distributed run draws the same one (accelerate hands each its share) and a resumed run can skip to where
    it stopped.

    With `group_size` equal to the batch size every batch holds one task, so short detection targets are not
    padded to the length of a caption in the same batch (the decoder's cost follows the longest target). With
    `classes` (one per example, e.g. `channel_classes`) a group also holds examples of one class: it picks a class
    of the task with probability proportional to the class's examples, then examples of that class uniformly, so
    that every example of a task keeps the same chance of being drawn as without classes.

    With `example_weights` (one per example, e.g. `source_weights` of the records) the examples of a task (and the
    classes of a task) are drawn in proportion to their weights rather than uniformly; the task mixture stays as
    `weights` says."""

    def __init__(
        self,
        tasks: Sequence[str],
        weights: Mapping[str, float],
        num_samples: int,
        seed: int = 0,
        group_size: int = 1,
        classes: Sequence[int] | None = None,
        example_weights: Sequence[float] | None = None,
    ):
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.group_size = int(group_size)
        task_array = np.asarray(tasks)
        self.names = sorted(weights)
        self.members = [np.flatnonzero(task_array == name) for name in self.names]
        empty = [name for name, members in zip(self.names, self.members, strict=True) if len(members) == 0]
        if empty:
            raise ValueError(f"tasks {empty} have a weight but no example")
        self.probs = np.asarray([weights[name] for name in self.names], dtype=float)
        self.probs /= self.probs.sum()
        self.weights = None
        if example_weights is not None:
            self.weights = np.asarray(example_weights, dtype=float)
            valid = self.weights.shape == task_array.shape and np.isfinite(self.weights).all()
            if not (valid and self.weights.min() > 0):
                raise ValueError(
                    f"example_weights: {len(task_array)} positive finite weights expected, one per example"
                )
        self.classes = None
        if classes is not None:
            classes = np.asarray(classes)
            if classes.shape != task_array.shape:
                raise ValueError(f"{len(classes)} classes for {len(task_array)} examples")
            # per task: the members of each of its classes, and the share of the task's examples in each
            self.classes = [
                [members[classes[members] == c] for c in np.unique(classes[members])] for members in self.members
            ]
        # the cumulative weights of each pool the draws pick members from (a task's, or a class's of a task)
        self._cumulative = {}
        if self.weights is not None:
            pools = [*self.members, *(pool for task in self.classes or () for pool in task)]
            self._cumulative = {id(pool): np.cumsum(self.weights[pool]) for pool in pools}

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed)
        chunk = 65536 * self.group_size  # whole groups, so that groups stay aligned with batches
        for begin in range(0, self.num_samples, chunk):
            size = min(chunk, self.num_samples - begin)
            picks = rng.choice(len(self.names), size=-(-size // self.group_size), p=self.probs)
            if self.classes is not None:
                # one class per group, by its share of the task's examples
                shares = rng.random(len(picks))
                groups = [self._class_members(task, share) for task, share in zip(picks, shares, strict=True)]
                pools = [pool for pool in groups for _ in range(self.group_size)][:size]
            else:
                pools = [self.members[task] for task in np.repeat(picks, self.group_size)[:size]]
            offsets = rng.random(size)
            for members, offset in zip(pools, offsets, strict=True):
                yield int(members[self._position(members, offset)])

    def _size(self, members: np.ndarray) -> float:
        return len(members) if self.weights is None else float(self._cumulative[id(members)][-1])

    def _position(self, members: np.ndarray, offset: float) -> int:
        """The position in `members` (one of the sampler's pools) that `offset` (uniform in [0, 1)) falls on,
        uniformly or by weight."""
        if self.weights is None:
            return int(offset * len(members))
        bounds = self._cumulative[id(members)]
        return min(int(np.searchsorted(bounds, offset * bounds[-1], side="right")), len(members) - 1)

    def _class_members(self, task: int, share: float) -> np.ndarray:
        """The members of the class of `task` that `share` (uniform in [0, 1)) falls in, by class size (weight)."""
        pools = self.classes[task]
        bounds = np.cumsum([self._size(pool) for pool in pools])
        return pools[int(np.searchsorted(bounds, share * bounds[-1], side="right"))]


class SeriesAugmentation:
    """Random changes of a training series that keep its label, for few-shot fine-tuning: amplitude scaling
    (factor `exp(N(0, scale))`), additive Gaussian noise (`jitter` times the series' standard deviation) and a
    random crop keeping at least `1 - crop` of the length (window slicing, Le Guennec et al. 2016; the processor
    stretches the crop back onto the model's patch grid). NaN cells stay missing.

    Only for tasks whose target holds no time location (`output_kind == "text"`, no span input and no sample numbers
    written as locations, `TaskSpec.text_locations`): a crop moves every location, and noise would change what a
    detection target marks. Examples of other tasks pass unchanged.
    """

    def __init__(
        self, scale: float = 0.0, jitter: float = 0.0, crop: float = 0.0, tasks: Sequence[str] = ("<CLASSIFICATION>",)
    ):
        if min(scale, jitter, crop) < 0 or crop >= 1:
            raise ValueError(f"augmentation: scale, jitter >= 0 and 0 <= crop < 1, got {scale}, {jitter}, {crop}")
        for token in tasks:
            spec = get_task(token)
            if spec.output_kind != "text" or spec.input_kind == "span" or spec.text_locations:
                raise ValueError(
                    f"augmentation: {token} targets carry time locations, which a crop or noise would falsify; "
                    "augment only tasks with text outputs and no span input, such as <CLASSIFICATION>"
                )
        self.scale, self.jitter, self.crop, self.tasks = scale, jitter, crop, frozenset(tasks)

    def __call__(self, values: np.ndarray, task: str, rng: np.random.Generator) -> np.ndarray:
        """`values` `[channels, time]` -> an augmented copy (or `values` itself for a task not augmented)."""
        if task not in self.tasks:
            return values
        length = values.shape[-1]
        if self.crop > 0 and length > 2:
            keep = max(2, int(round(length * rng.uniform(1 - self.crop, 1))))
            start = int(rng.integers(0, length - keep + 1))
            cropped = values[:, start : start + keep]
            if not np.isnan(cropped).all(axis=-1).any():  # every channel keeps an observed value
                values = cropped
        values = values * np.float32(np.exp(rng.normal(0, self.scale))) if self.scale > 0 else values.copy()
        if self.jitter > 0:
            spread = np.nanstd(values, axis=-1, keepdims=True)
            values = values + (rng.normal(0, 1, values.shape) * self.jitter * spread).astype(np.float32)
        return values


class ExampleDataset(torch.utils.data.Dataset):
    """Rows of an example index joined with the series of their records: `{"values", "prompt", "target",
    "task"}`, `values` a float32 array `[channels, time]` (NaN = missing).

    With `cells`, items also carry `"cells"`, the record's `cell_annotations` (not for augmented examples, whose
    crop would move them).

    With `augment` (a `SeriesAugmentation`) every draw of an example gets fresh random changes; their seed comes
    from torch's global generator, so a seeded run repeats and a resumed run (accelerate restores that generator)
    continues with the same changes."""

    def __init__(self, records, index, augment: SeriesAugmentation | None = None, cells: bool = False):
        self.records = records
        self.index = index
        self.tasks = index["task"]
        self.augment = augment
        self.cells = cells

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.index[int(i)]
        record = self.records[int(row["record"])]
        values = np.asarray(record["values"], dtype=np.float32)
        if self.augment is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
            values = self.augment(values, row["task"], rng)
        item = {"values": values, "prompt": row["prompt"], "target": row["target"], "task": row["task"]}
        if self.cells and (self.augment is None or row["task"] not in self.augment.tasks):
            item["cells"] = cell_annotations(record)
        return item


def cell_annotations(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the cell head learns of a record (`TSFlorenceSeriesFeatureExtractor.cell_targets`): spans as `(start,
    end, channel, 0 anomaly / 1 event, weight)`, change points as `(index, weight)`, and which of the three targets
    the annotations cover completely. Exact truth weighs 1; an engine annotation weighs its score. Anomalies are
    complete where the record's spans were annotated (as `<ANOMALY_DETECTION>` trains an empty answer); events and
    change points of engine records only where some were found, since their detectors cover only some kinds."""
    exact = has_truth(record)
    entries = record.get("spans")
    spans = [
        (int(e["start"]), int(e["end"]), e.get("channel"), 0 if e.get("kind") == "anomaly" else 1, _weight(e, exact))
        for e in entries or []
        if e.get("kind") in ("anomaly", "event")
    ]
    points = [(int(p["index"]), _weight(p, exact)) for p in record.get("change_points") or []]
    has_events = any(target == 1 for *_, target, _ in spans)
    known = (entries is not None, exact or has_events, exact or bool(points))
    return {"spans": spans, "points": points, "known": known}


def _weight(entry: Mapping[str, Any], exact: bool) -> float:
    score = entry.get("score")
    return 1.0 if exact or score is None else float(np.clip(score, 0.0, 1.0))


class TSFlorenceCollator:
    """Pads a list of examples (`values` `[channels, time]`, `prompt`, `target`) into a model batch with the
    processor. Targets longer than `max_target_length` tokens are cut (keeping `</s>`), and so are encoder inputs
    longer than `max_source_length` (the end of a long text input, such as a caption to ground, goes first).
    With `cell_targets`, examples that carry `cells` (`cell_annotations` of their record) also give the cell
    head's targets, `series_cell_labels` and `series_cell_weights` (zero weight for examples without)."""

    def __init__(
        self,
        processor: TSFlorenceProcessor,
        max_target_length: int = 256,
        max_source_length: int = 512,
        cell_targets: bool = False,
    ):
        self.processor = processor
        self.max_target_length = max_target_length
        self.max_source_length = max_source_length
        self.cell_targets = cell_targets

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        series = [np.asarray(e["values"], dtype=np.float32).T for e in examples]
        batch = self.processor(
            series=series,
            text=[e["prompt"] for e in examples],
            truncation=True,
            max_length=self.max_source_length,
        )
        labels = self.processor.tokenizer(
            [e["target"] for e in examples],
            padding=True,
            truncation=True,
            max_length=self.max_target_length,
            return_tensors="pt",
        )
        batch["labels"] = labels["input_ids"].masked_fill(labels["attention_mask"] == 0, -100)
        if self.cell_targets:
            batch["series_cell_labels"], batch["series_cell_weights"] = self._cell_targets(examples, batch)
        return dict(batch)

    def _cell_targets(self, examples, batch) -> tuple[torch.Tensor, torch.Tensor]:
        extractor = self.processor.feature_extractor
        labels = torch.zeros(*batch["series_patches"].shape[:3], 3)  # [batch x tokens x patch_length x 3]
        weights = torch.zeros_like(labels)
        for i, example in enumerate(examples):
            cells = example.get("cells")
            if cells is None:
                continue
            channels, length = np.shape(example["values"])
            y, w = extractor.cell_targets(length, channels, cells["spans"], cells["points"], cells["known"])
            labels[i, : len(y)], weights[i, : len(w)] = torch.from_numpy(y), torch.from_numpy(w)
        return labels, weights


# Reading records for training


def read_records(path: str | os.PathLike, split: str | None = None):
    """A records `datasets.Dataset` from a corpus folder (+ `split`, default "train"), a records file (JSON Lines
    or Parquet with a `values` column), or a CSV/Parquet table of labelled series (`records_from_table`)."""
    import datasets

    from .records import load_split

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


def source_excluded(source: str, patterns: Sequence[str]) -> bool:
    """Whether a record's `source` matches one of the regular expressions `patterns`."""
    return any(re.search(pattern, source) for pattern in patterns)


def source_factors(
    sources: Sequence[str], weights: Mapping[str, float | Mapping[str, float]], tasks: Sequence[str] | None = None
) -> np.ndarray:
    """Per item, the factor of the first pattern of `weights` (regular expression -> factor) its `source`
    matches, else 1. A factor may also be a mapping task -> factor, for the items of those tasks only (other
    tasks: 1); then `tasks` gives each item's task."""
    patterns = [(re.compile(pattern), factor) for pattern, factor in weights.items()]
    values = [v for _, f in patterns for v in (f.values() if isinstance(f, Mapping) else [f])]
    bad = [v for v in values if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"source_weights: factors must be positive and finite, got {bad}")
    by_task = any(isinstance(f, Mapping) for _, f in patterns)
    tasks = list(tasks) if by_task and tasks is not None else tasks  # a `datasets` column reads Arrow per item
    if by_task and (tasks is None or len(tasks) != len(sources)):
        raise ValueError("source_weights: factors per task need the task of every item")
    first = {}  # source -> the factor of the first pattern it matches (None: no pattern)
    for source in set(sources):
        first[source] = next((factor for pattern, factor in patterns if pattern.search(source)), None)
    factors = np.ones(len(sources))
    for i, source in enumerate(sources):
        factor = first[source]
        if isinstance(factor, Mapping):
            factors[i] = float(factor.get(tasks[i], 1.0))
        elif factor is not None:
            factors[i] = float(factor)
    return factors


def stream_records(path: str | os.PathLike, split: str):
    """The records of a corpus folder's `split` (or of one Parquet file) as a `datasets` stream."""
    import datasets

    files = sorted(str(p) for p in (Path(path) / "data").glob(f"{split}-*.parquet")) if Path(path).is_dir() else [path]
    if not files:
        raise ValueError(f"{path} has no {split} files to stream")
    return datasets.load_dataset("parquet", data_files={split: files}, split=split, streaming=True)


class StreamingExamples(torch.utils.data.IterableDataset):
    """One example per streamed record, its task drawn by weight among the tasks the record has; epochs repeat
    with a new shuffle. The order is a function of the seed, so a resumed run can skip to where it stopped."""

    def __init__(self, records, weights: Mapping[str, float], seed: int, buffer: int):
        self.records, self.weights, self.seed, self.buffer = records, weights, seed, buffer
        self.cells = False  # whether examples carry their record's cell annotations (as ExampleDataset's)

    def __iter__(self) -> Iterator[dict[str, Any]]:
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


# Plain tables of labelled series


def _parse_cell(cell: Any, row: int) -> list[float]:
    if isinstance(cell, str):
        text = cell.strip()
        try:
            values = json.loads(text) if text.startswith("[") else [float(x) for x in text.replace(",", " ").split()]
        except ValueError as error:
            raise ValueError(f"row {row}: the series cell is neither a JSON list nor numbers ({error})") from None
    else:
        values = list(np.asarray(cell, dtype=float).ravel()) if cell is not None else []
    return [float("nan") if v is None else float(v) for v in values]


def records_from_table(
    path: str | os.PathLike, label_column: str = "label", series_column: str = "series"
) -> list[dict]:
    """Records (`ts_florence.records`: `id`, `source`, `split`, `values`, `label`; no annotation lists, so no task
    but classification learns "nothing here" from them) of a CSV or Parquet table of labelled
    series: either a `series_column` holding one series per row (a list, or numbers separated by commas or
    spaces) or, UCR style, one numeric column per time step beside `label_column`.

    Raises ValueError on an empty table, a missing label column, non-numeric values or an all-NaN series."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such table: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path} is empty") from None
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise ValueError(f"{path}: expected a .csv or .parquet table of (series, label), got {suffix or 'no suffix'}")
    if frame.empty:
        raise ValueError(f"{path} has no rows")
    if label_column not in frame.columns:
        raise ValueError(f"{path} has no {label_column!r} column; columns: {list(frame.columns)[:10]}")
    labels = frame[label_column].astype(str).tolist()
    if series_column in frame.columns:
        rows = [_parse_cell(cell, i) for i, cell in enumerate(frame[series_column])]
    else:
        wide = frame.drop(columns=[label_column])
        bad = [c for c in wide.columns if not pd.api.types.is_numeric_dtype(wide[c])]
        if bad:
            raise ValueError(f"{path}: columns {bad[:5]} are not numeric; give a {series_column!r} column instead")
        rows = [list(map(float, r)) for r in wide.to_numpy(dtype=float)]
    records = []
    for i, (values, label) in enumerate(zip(rows, labels, strict=True)):
        array = np.asarray(values, dtype=float)
        if array.size == 0 or np.isnan(array).all():
            raise ValueError(f"{path}: row {i} has no observed value (empty or all-NaN series)")
        records.append(
            {
                "id": f"{path.stem}-{i}",
                "source": f"table:{path.name}",
                "split": "train",
                "values": [array.astype(np.float32).tolist()],
                "label": label,
            }
        )
    return records


__all__ = [
    "CHANNEL_CLASSES",
    "ExampleDataset",
    "cell_annotations",
    "channel_classes",
    "record_channels",
    "SeriesAugmentation",
    "StreamingExamples",
    "TSFlorenceCollator",
    "TaskMixtureSampler",
    "build_example_index",
    "read_records",
    "record_examples",
    "records_from_table",
    "resolve_task_weights",
    "source_excluded",
    "stream_records",
]
