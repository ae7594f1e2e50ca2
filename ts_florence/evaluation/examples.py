"""The evaluation examples of a task: what the runner asks a model and what its scorer scores
(docs/architecture.md, Evaluation).

The examples of a task are the training pairs its `TaskSpec.examples(record)` gives, so the model is asked exactly
what training taught it. The truth is the target text parsed back with the task's own `parse`: truth and prediction
go through the same grammar and the same quantization (sample indices, half-open spans), and a score of 1 means the
model wrote the target.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..records import values_array
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
    """What `caption_attribute_accuracy` checks a caption against, for caption tasks of records with an exact
    description."""

    @property
    def length(self) -> int:
        return self.values.shape[0]


def _caption_truth(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """Trend and periods of the first channel, events, length and sampling of `meta["description"]`."""
    meta = record.get("meta") or {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError as err:
            raise ValueError(f"record {record.get('id')!r}: meta is not JSON ({err})") from None
    description = meta.get("description")
    if not description:
        return None
    truth: dict[str, Any] = {
        "length": description.get("length"),
        "sampling": description.get("sampling"),
        "events": [(e["start"], e["end"], e.get("label")) for e in description.get("events") or []],
    }
    channels = description.get("channels") or []
    if channels:
        truth["trend"] = channels[0].get("trend")
        truth["periods"] = channels[0].get("periods")
    return truth


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
            caption_truth = _caption_truth(record) if spec.scorer == "captions" else None
            for text_input, target in pairs:
                truth = spec.parse(target, n, text_input=text_input)
                examples[spec.token].append(Example(spec.token, text_input, target, truth, values, caption_truth))
    return examples


__all__ = ["Example", "build_examples"]
