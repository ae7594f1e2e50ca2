"""The evaluation examples of a task: what the runner asks a model and what its scorer scores
(docs/architecture.md, Evaluation).

The examples of a task are the training pairs its `TaskSpec.examples(record)` gives, so the model is asked exactly
what training taught it. The truth is the target text parsed back with the task's own `parse`: truth and prediction
go through the same grammar and the same quantization (sample indices, half-open spans), and a score of 1 means the
model wrote the target.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..records import truth_order, values_array
from ..tasks import get_task


@dataclass(frozen=True)
class Example:
    """One evaluation example: a task prompt on one series, and what the model should write."""

    task: str
    text_input: str | None
    target: str
    """The target text, in the task's grammar."""
    truth: dict[str, Any]
    """`target` parsed back by the task: spans and points in sample indices."""
    values: np.ndarray
    """The series, `[time x channels]`."""
    caption_truth: dict[str, Any] | None = None
    """What `caption_attribute_accuracy` and `caption_facts` check a caption against, for caption tasks
    (`_caption_truth`)."""

    @property
    def length(self) -> int:
        return self.values.shape[0]


def _caption_truth(record: Mapping[str, Any], values: np.ndarray) -> dict[str, Any]:
    """What a caption of `record` is checked against (`values` `[time x channels]`): the length, channel count and
    share of missing values of the values; with `meta["description"]` (generator series: exact) its sampling,
    channels, events and regimes, and the first channel's trend and periods (`caption_attribute_accuracy`'s
    keys); without one the record's spans as events (the engine's labels the caption was written from)."""
    meta = record.get("meta") or {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError as err:
            raise ValueError(f"record {record.get('id')!r}: meta is not JSON ({err})") from None
    truth: dict[str, Any] = {
        "length": values.shape[0],
        "n_channels": values.shape[1],
        "missing": float(np.isnan(values).mean()) if values.size else 0.0,
    }
    description = meta.get("description")
    if not description:
        spans = record.get("spans")
        truth["events"] = None if spans is None else [_event(s) for s in spans]
        return truth
    truth.update(
        sampling=description.get("sampling"),
        events=[_event(e) for e in description.get("events") or []],
        channels=list(description.get("channels") or []),
        segments=[tuple(s) for s in description.get("segments") or []] or None,
    )
    if truth["channels"]:
        truth["trend"] = truth["channels"][0].get("trend")
        truth["periods"] = truth["channels"][0].get("periods")
    return truth


def _event(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An event of a description or a span of a record: start, end (samples, half-open), label, channel, magnitude
    (series units, None when unknown)."""
    keys = ("start", "end", "label", "channel", "magnitude")
    return {key: entry.get(key) for key in keys}


def build_examples(records: Iterable[Mapping[str, Any]], tasks: Sequence[str]) -> dict[str, list[Example]]:
    """The examples of each task in `tasks` from corpus records, in record order."""
    specs = [get_task(token) for token in tasks]
    examples: dict[str, list[Example]] = {spec.token: [] for spec in specs}
    for record in records:
        values = None
        for spec in specs:
            pairs = spec.examples(record)
            if not pairs:
                continue
            if values is None:
                values = values_array(record).T  # [time x channels], as the processor takes it
            n = values.shape[0]
            caption_truth = _caption_truth(record, values) if spec.scorer == "captions" else None
            for text_input, target in pairs:
                truth = spec.parse(target, n, text_input=text_input)
                examples[spec.token].append(Example(spec.token, text_input, target, truth, values, caption_truth))
    return examples


def truth_pairs(
    records, task: str, sources: set[str] | None = None, seed: int = 0
) -> Iterator[tuple[np.ndarray, dict]]:
    """`(values [time x channels], exact truth)` of `task` for each record with exact truth (and a source in
    `sources`, when given) that has a pair of the task, in `records.truth_order`."""
    spec = get_task(task)
    for i in truth_order(records, sources, seed):
        record = records[i]
        values = values_array(record).T
        pairs = spec.extract(record, values.shape[0])
        if pairs:
            yield values, pairs[0][1]


__all__ = ["Example", "build_examples", "truth_pairs"]
