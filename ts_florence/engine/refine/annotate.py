"""The model as one more annotator of a refinement round: its pipeline run on batches of series, its outputs
turned into merge candidates with provenance (`model@k`), and the recipe of pass 1 with the model before the merge."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ...io import check_model_folder
from ...records import (
    ANOMALY_LABELS,
    EVENT_LABELS,
    change_point,
    segment,
    span,
)
from ...tasks import TASKS
from .. import steps as S
from .config import MODEL_TASKS, RefineConfig

logger = logging.getLogger(__name__)

SPAN_KIND = {token: TASKS[token].span_kind for token in MODEL_TASKS if TASKS[token].span_kind is not None}
SPAN_LABELS = {"anomaly": frozenset(ANOMALY_LABELS), "event": frozenset(EVENT_LABELS)}


def model_source(round: int) -> str:
    """The provenance of annotations from the model trained on round `round`."""
    return f"model@{round}"


def is_model_source(name: str) -> bool:
    return name.startswith("model@") or name == "model"


def from_specialist(annotation: dict) -> bool:
    """Whether at least one specialist (not a model) voted for a merged annotation (`source` "a+b+...")."""
    return any(not is_model_source(s) for s in (annotation.get("source") or "").split("+"))


class ModelAnnotator:
    """A saved model run through `pipeline("time-series-prompting")` on a batch of series, every task of `tasks`
    at once (the series is encoded once for all of them). Called with series `[channels x time]`, returns one
    result dict per series as the pipeline gives it (`{task: {"spans", "labels", "channels", "scores"} | ...}`).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        tasks: Sequence[str] = MODEL_TASKS,
        *,
        max_new_tokens: int | None = None,
        window: int | None = None,
    ) -> None:
        check_model_folder(path)
        from transformers import pipeline

        import ts_florence  # noqa: F401  (registers the Auto classes and the pipeline)

        self.path = str(path)
        self.tasks = list(tasks)
        self.pipe = pipeline("time-series-prompting", model=self.path)
        self.kwargs: dict[str, Any] = {}
        if max_new_tokens:
            self.kwargs["max_new_tokens"] = max_new_tokens
        if window:
            self.kwargs["window"] = window

    def __call__(self, series: Sequence[np.ndarray]) -> list[dict]:
        if not self.tasks:  # the skill gate let no task in
            return [{} for _ in series]
        # The pipeline takes (time, channels).
        return self.pipe([np.asarray(v).T for v in series], task=self.tasks, batch_size=len(series), **self.kwargs)


def model_candidates(result: dict, values: np.ndarray, source: str, round: int) -> tuple[dict, Counter]:
    """The annotations of one series from the model's results (`{task: result}`) as merge candidates
    `{"spans", "segments", "change_points"}` with `source` and `round`, and the count of outputs left out (with the
    reason): spans outside the series or labelled outside the kind's vocabulary, unknown channels, change points
    at the borders. A segmentation is made contiguous: each segment ends where the next one starts."""
    channels, length = values.shape
    found: dict[str, list[dict]] = {"spans": [], "segments": [], "change_points": []}
    problems: Counter = Counter()

    def score_of(scores, i) -> float:
        score = scores[i] if scores is not None and i < len(scores) else None
        return float(score) if score is not None and np.isfinite(score) else 0.0

    for task, kind in SPAN_KIND.items():
        out = result.get(task)
        if not out:
            continue
        spans = out.get("spans", [])
        channels_of = out.get("channels") or [None] * len(spans)
        for i, (start, end) in enumerate(spans):
            label, channel = out["labels"][i], channels_of[i]
            if not 0 <= start < end <= length:
                problems["model span outside the series"] += 1
            elif label not in SPAN_LABELS[kind]:
                problems[f"model {kind} label outside the vocabulary"] += 1
            elif channel is not None and not 0 <= channel < channels:
                problems["model span on an unknown channel"] += 1
            else:
                found["spans"].append(
                    span(
                        start,
                        end,
                        label,
                        kind,
                        channel=channel,
                        score=score_of(out.get("scores"), i),
                        source=source,
                        round=round,
                    )
                )
    out = result.get("<REGIME_SEGMENTATION>")
    if out and out.get("spans"):
        starts: dict[int, tuple[str, float]] = {}
        for i, (start, _end) in enumerate(out["spans"]):
            if 0 <= start < length and out["labels"][i] and start not in starts:
                starts[start] = (out["labels"][i], score_of(out.get("scores"), i))
        if starts:
            cuts = sorted(starts)
            first_label, first_score = starts.pop(cuts[0])
            starts[0] = (first_label, first_score)  # the first regime starts where the series does
            cuts = [0, *cuts[1:], length]
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                label, score = starts[a]
                found["segments"].append(segment(a, b, label, score=score, source=source, round=round))
        else:
            problems["model segmentation outside the series"] += 1
    out = result.get("<CHANGE_POINT_DETECTION>")
    if out:
        for i, index in enumerate(out.get("points", [])):
            if 0 < index < length:
                found["change_points"].append(
                    change_point(index, score=score_of(out.get("scores"), i), source=source, round=round)
                )
            else:
                problems["model change point at or beyond the series' ends"] += 1
    return found, problems


class ModelAnnotate(S.Step):
    """Adds the model's annotations of `tasks` (those the skill gate let in) as merge candidates, `batch_size`
    series per generation call; results of other tasks are not used. A batch that fails is retried series by
    series; a series the model fails on gets no model annotation (counted)."""

    def __init__(
        self,
        annotator: Callable[[list[np.ndarray]], list[dict]],
        source: str,
        round: int,
        batch_size: int,
        tasks: Sequence[str] = MODEL_TASKS,
    ):
        super().__init__()
        self.annotator, self.source, self.round, self.batch_size = annotator, source, round, batch_size
        self.tasks = frozenset(tasks)
        self.name = f"annotate:{source.split('@')[0]}"

    def run(self, records: Iterable[dict]) -> Iterator[dict]:
        batch: list[dict] = []
        for record in records:
            batch.append(record)
            if len(batch) == self.batch_size:
                yield from self._annotate(batch)
                batch = []
        if batch:
            yield from self._annotate(batch)

    def _annotate(self, batch: list[dict]) -> list[dict]:
        self.stats["in"] += len(batch)
        start = time.perf_counter()
        values = [S.values_array(r) for r in batch]
        for record, v, result in zip(batch, values, self._predict(batch, values), strict=True):
            if result is None:
                continue
            result = {task: out for task, out in result.items() if task in self.tasks}
            found, problems = model_candidates(result, v, self.source, self.round)
            for reason, count in problems.items():
                self.removed(reason, count)
            candidates = record.setdefault(S.CANDIDATES, {})
            for key, items in found.items():
                candidates.setdefault(key, []).extend(items)
        self.stats["seconds"] += time.perf_counter() - start
        self.stats["out"] += len(batch)
        return batch

    def _predict(self, batch: list[dict], values: list[np.ndarray]) -> list[dict | None]:
        try:
            results = self.annotator(values)
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} series")
            return list(results)
        except Exception as err:  # noqa: BLE001 - one bad series must not stop a round
            if len(batch) > 1:
                return [self._predict([r], [v])[0] for r, v in zip(batch, values, strict=True)]
            logger.warning("the model failed on %s: %s", batch[0]["id"], err)
            self.removed(f"model failed: {type(err).__name__}")
            return [None]

    def process(self, record: dict) -> dict | None:
        return self._annotate([record])[0]


class ModelMerge(S.Merge):
    """`Merge`, then every annotation the model voted for carries the new round (its `source` names `model@k`)."""

    def __init__(self, source: str, round: int, **kwargs) -> None:
        super().__init__(support_only=[source], **kwargs)
        self.source, self.round = source, round

    def process(self, record: dict) -> dict | None:
        record = super().process(record)
        for key in ("spans", "segments", "change_points"):
            for annotation in record.get(key, []):
                if self.source in annotation["source"].split("+"):
                    annotation["round"] = self.round
        return record


def refine_steps(build_config, annotator, config: RefineConfig, round: int) -> tuple[list[S.Step], list[S.Step]]:
    """The recipe of pass 1 (specialists, model, merge, filters) and pass 2 (captions, caption check), from the
    corpus's build config: the model joins right before the merge, and the merge weighs it with
    `config.model_weight` (key "model" of the merge weights; a `model@k` key of the build config wins)."""
    from ..build import WriteCaptions, build_steps

    steps = build_steps(build_config)
    cut = next(i for i, s in enumerate(steps) if isinstance(s, WriteCaptions))
    first, second = steps[:cut], steps[cut:]
    at = next(i for i, s in enumerate(first) if isinstance(s, S.Merge))
    merge = dict(build_config.merge)
    merge["weights"] = {**(merge.get("weights") or {}), "model": config.model_weight}
    source = model_source(round)
    first[at : at + 1] = [
        ModelAnnotate(annotator, source, round + 1, config.batch_size, config.tasks),
        ModelMerge(source, round + 1, **merge),
    ]
    return first, second
