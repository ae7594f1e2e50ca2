"""Refinement rounds: a model trained on round k re-annotates the corpus, its annotations join the merge as one
more specialist, and round k+1 is written with an audit (docs/architecture.md, Flow 2).

The recipe of one round (`refine_corpus`):

    round k (a corpus folder) + a model trained on it
    pass 1, per chunk of training records without exact truth (records with truth are copied unchanged):
        ValidSeriesFilter -> Annotate(specialist) for each specialist of the corpus's build config
        -> ModelAnnotate (batched generation of the MODEL_TASKS that pass the skill gate; source "model@k",
           round k+1)
        -> ModelMerge (Merge with the model's weight) -> the build's filters
    pass 2, over the whole split:
        RareClassGuard (a class that shrank by more than `guard_share` gets its round-k specialist annotations
        back) -> WriteCaptions -> CaptionCheckFilter
    write round k+1: data/train-*.parquet (refined), data/eval-*.parquet (the frozen split, copied byte for byte,
    never refined), stats.json, README.md (the card), audit.json, audit.md, audit.png

The skill gate (`skill_gate`, `RefineConfig.min_gain`): before pass 1 the model is scored on the frozen
evaluation split, and a task's outputs join the merge only if the model beats the answer that reads nothing of
the series (`ts_florence.evaluation.runner.reference_prediction`: no span, one segment) by `min_gain` on the
task's `TaskSpec.gate_metric`. A model that has not learnt to read its series for a task would otherwise vote there with
the weight of a specialist: where a single specialist covers a kind (events), its votes alone pass the merge.

The specialists run again rather than being read from round k: a corpus keeps only merged annotations, and
running them again gives the merge of round k+1 the same specialist candidates as round 0 had, so that only the
model's votes differ between rounds and scores are not discounted again at every round.

Pass 1 writes each finished chunk to a work folder next to the output (`.NAME.work`), so an interrupted round
resumes at the first unfinished chunk; the output folder appears only when complete (written under a temporary
name, then renamed) and the work folder is then removed. A corpus whose training part shares a series (hash of
values) with its frozen evaluation split is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import check_model_folder, directory_in_place, file_in_place, write_text_in_place
from ..records import (
    ANOMALY_LABELS,
    EVENT_LABELS,
    blank,
    change_point,
    has_truth,
    segment,
    source_kind,
    span,
    values_hash,
)
from ..tasks import TASKS
from . import steps as S
from .descriptions import SeriesDescription

logger = logging.getLogger(__name__)

MODEL_TASKS = tuple(token for token, spec in TASKS.items() if spec.gate_metric is not None)
"""The tasks whose outputs are corpus annotations (captions and groundings are written from them afterwards): those
whose `TaskSpec` names a `gate_metric`."""
SPAN_KIND = {token: TASKS[token].span_kind for token in MODEL_TASKS if TASKS[token].span_kind is not None}
SPAN_LABELS = {"anomaly": frozenset(ANOMALY_LABELS), "event": frozenset(EVENT_LABELS)}
"""The label vocabulary of each span kind; a model span with another label is not used (counted)."""
CHANGE_POINT_CLASS = "change point"
"""Change points count as one class: the model writes no label for them."""
STASH = "_refine"
"""Key of `meta` under which pass 1 keeps what pass 2 needs (the measured description); removed in pass 2."""
FILE_RECORDS = 5000
"""Records per output Parquet file, as `build.finish` writes them."""


@dataclass
class RefineConfig:
    model_weight: float = 1.0
    """Weight of the model's votes in the merge (the specialists have 1 unless the build config says otherwise)."""
    guard_share: float = 0.5
    """A class whose count falls by more than this share from round k to k+1 is flagged and its round-k specialist
    annotations are restored."""
    tasks: tuple[str, ...] = MODEL_TASKS
    batch_size: int = 16
    """Series per generation call."""
    chunk_size: int = 512
    """Records per pass-1 chunk: the unit of resuming."""
    limit: int | None = None
    """Refine at most this many series (the first ones without exact truth); the others are copied unchanged."""
    max_new_tokens: int | None = None
    """Longest model output per task (default: the model's generation config)."""
    window: int | None = None
    """Read series longer than this in overlapping windows (default: whole, as training read them)."""
    eval_limit: int = 50
    """Examples per task of the frozen split the round's model is scored on; 0 for none."""
    min_gain: float | None = 0.05
    """Skill gate: a task's model outputs join the merge only if the model's score on the frozen split
    (`TaskSpec.gate_metric`) beats the answer that reads nothing by this much; None lets every task in. Without
    frozen-split scores (`eval_limit` 0, or an annotator that is not a model) every task is let in, and the audit
    says so."""
    round: int | None = None
    """The round of the input corpus (default: `round` of its stats.json, or 0)."""

    @classmethod
    def from_namespace(cls, args, **overrides) -> RefineConfig:
        """The settings of parsed command-line `args` that name a field (same names), then `overrides`."""
        names = {f.name for f in dataclasses.fields(cls)} - {"tasks"}
        values = {name: getattr(args, name) for name in names if hasattr(args, name)}
        return cls(**{**values, **overrides})

    def __post_init__(self) -> None:
        if self.model_weight < 0:
            raise ValueError(f"model_weight must be >= 0, got {self.model_weight}")
        if not 0 <= self.guard_share <= 1:
            raise ValueError(f"guard_share must be in [0, 1], got {self.guard_share}")
        if self.batch_size < 1 or self.chunk_size < 1:
            raise ValueError(f"batch_size and chunk_size must be >= 1, got {self.batch_size}, {self.chunk_size}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")
        if self.eval_limit < 0:
            raise ValueError(f"eval_limit must be >= 0, got {self.eval_limit}")
        unknown = [t for t in self.tasks if t not in MODEL_TASKS]
        if unknown:
            raise ValueError(f"tasks {unknown} give no corpus annotation; choose from {list(MODEL_TASKS)}")
        self.tasks = tuple(self.tasks)


def model_source(round: int) -> str:
    """The provenance of annotations from the model trained on round `round`."""
    return f"model@{round}"


def is_model_source(name: str) -> bool:
    return name.startswith("model@") or name == "model"


def from_specialist(annotation: dict) -> bool:
    """Whether at least one specialist (not a model) voted for a merged annotation (`source` "a+b+...")."""
    return any(not is_model_source(s) for s in (annotation.get("source") or "").split("+"))


# --------------------------------------------------------------------------------------------------------------
# The model as an annotator


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


def skill_gate(report: dict | None, tasks: Sequence[str], min_gain: float | None) -> dict[str, dict]:
    """Whether each of `tasks` lets the model's outputs into the merge: `{task: {"used", "reason", "metric",
    "model", "reference"}}` from a frozen-split report of `evaluate_model` (its `scores` and `reference_scores`,
    see `RefineConfig.min_gain`)."""
    gate = {}
    for task in tasks:
        metric = TASKS[task].gate_metric if task in TASKS else None
        model = ((report or {}).get("scores") or {}).get(task, {}).get(metric)
        reference = ((report or {}).get("reference_scores") or {}).get(task, {}).get(metric)
        row = {"metric": metric, "model": model, "reference": reference}
        if min_gain is None:
            gate[task] = {**row, "used": True, "reason": "no gate (min_gain None)"}
        elif model is None or reference is None:
            gate[task] = {**row, "used": True, "reason": "no frozen-split score: let in unchecked"}
        elif model - reference >= min_gain:
            gate[task] = {**row, "used": True, "reason": f"beats reading nothing by {model - reference:+.3f}"}
        else:
            gate[task] = {**row, "used": False, "reason": f"{model - reference:+.3f} over reading nothing"}
    return gate


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
    from .build import WriteCaptions, build_steps

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


# --------------------------------------------------------------------------------------------------------------
# Reading corpora; the contamination check


def _files(corpus: Path, split: str) -> list[Path]:
    return sorted((corpus / "data").glob(f"{split}-*.parquet"))


def _iter_rows(files: Sequence[Path], columns: Sequence[str] | None = None, batch: int = 512) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for path in files:
        for part in pq.ParquetFile(path).iter_batches(batch_size=batch, columns=columns):
            yield from part.to_pylist()


def _value_hashes(files: Sequence[Path]) -> Iterator[tuple[str, str]]:
    """(id, `records.values_hash`) of every record, read column-wise without building Python lists of values."""
    import pyarrow.parquet as pq

    for path in files:
        for part in pq.ParquetFile(path).iter_batches(batch_size=1024, columns=["id", "values"]):
            ids = part.column("id").to_pylist()
            outer = part.column("values")
            outer_offsets = outer.offsets.to_numpy()
            inner = outer.values
            inner_offsets = inner.offsets.to_numpy()
            flat = inner.values.to_numpy(zero_copy_only=False).astype(np.float32)
            for i, record_id in enumerate(ids):
                a, b = outer_offsets[i], outer_offsets[i + 1]
                cells = flat[inner_offsets[a] : inner_offsets[b]]
                yield record_id, values_hash(cells.reshape(b - a, -1) if b > a else cells.reshape(0, 0))


def check_contamination(corpus: str | os.PathLike) -> dict:
    """Refuses (ValueError) a corpus whose training part shares a series (hash of values) with its frozen
    evaluation split, or that lacks either; returns the counts checked."""
    corpus = Path(corpus)
    train, evaluation = _files(corpus, "train"), _files(corpus, "eval")
    if not train:
        raise ValueError(f"{corpus} has no training split (no data/train-*.parquet)")
    if not evaluation:
        raise ValueError(f"{corpus} has no frozen evaluation split (no data/eval-*.parquet) to check it against")
    frozen = {h for _, h in _value_hashes(evaluation)}
    shared, n = [], 0
    for record_id, h in _value_hashes(train):
        n += 1
        if h in frozen:
            shared.append(record_id)
    if shared:
        raise ValueError(
            f"{corpus}: {len(shared)} training series share their values with the frozen evaluation split "
            f"(e.g. {', '.join(map(str, shared[:3]))}); refusing a contaminated corpus"
        )
    return {"train": n, "eval": len(frozen)}


def _read_stats(corpus: Path) -> dict:
    path = corpus / "stats.json"
    if not path.is_file():
        raise ValueError(f"{corpus} has no stats.json (a corpus folder written by `ts-florence engine build`)")
    return json.loads(path.read_text())


# --------------------------------------------------------------------------------------------------------------
# Counting, the guard, agreement


def annotation_class(key: str, annotation: dict) -> str:
    """The class an annotation counts under: "anomaly:spike", "event:peak", "segment:rising", "change point"."""
    if key == "spans":
        return f"{annotation['kind']}:{annotation['label']}"
    if key == "segments":
        return f"segment:{annotation['label']}"
    return CHANGE_POINT_CLASS


def class_counts(records: Iterable[dict]) -> Counter:
    counts: Counter = Counter()
    for record in records:
        for key in ("spans", "segments", "change_points"):
            counts.update(annotation_class(key, a) for a in record.get(key) or [])
    return counts


def source_counts(records: Iterable[dict]) -> Counter:
    """Annotations per voting source: a merged annotation counts once for each source that voted for it."""
    counts: Counter = Counter()
    for record in records:
        for key in ("spans", "segments", "change_points"):
            counts.update(name for a in record.get(key) or [] for name in (a.get("source") or "").split("+"))
    return counts


def provenance_counts(records: Iterable[dict]) -> Counter:
    """Annotations that the model alone, specialists alone, or both voted for."""
    counts: Counter = Counter()
    for record in records:
        for key in ("spans", "segments", "change_points"):
            for a in record.get(key) or []:
                model = [is_model_source(n) for n in (a.get("source") or "").split("+")]
                counts[
                    "model only" if all(model) else "model and specialists" if any(model) else "specialists only"
                ] += 1
    return counts


def guard_flags(before: Counter, after: Counter, share: float) -> list[dict]:
    """The classes whose count fell by more than `share` (vanished ones included), with their counts."""
    flagged = []
    for name in sorted(before):
        n, m = before[name], after.get(name, 0)
        if n > 0 and (n - m) / n > share:
            flagged.append({"class": name, "before": n, "after": m, "change": (m - n) / n})
    return flagged


class RareClassGuard(S.Step):
    """Restores the round-k specialist annotations of the flagged classes that round k+1 lost. A span comes back
    unless round k+1 has one of the same kind, label and channel overlapping it (IoU >= `iou`); round-k+1 spans of
    other, unflagged classes that overlap a restored one that much are removed (the protected class wins). A change
    point comes back unless one lies within `margin` (share of the length). A flagged segment class brings back the
    record's whole round-k segmentation when round k+1 has no segment of that class there."""

    name = "rare_class_guard"

    def __init__(self, previous: dict[str, dict], flagged: Iterable[str], iou: float = 0.5, margin: float = 0.01):
        super().__init__()
        self.previous, self.flagged, self.iou, self.margin = previous, set(flagged), iou, margin

    def process(self, record: dict) -> dict | None:
        old = self.previous.get(record["id"])
        if old is None or not self.flagged:
            return record
        from ..windowing import span_iou

        for s in old["spans"]:
            name = annotation_class("spans", s)
            if name not in self.flagged or not from_specialist(s):
                continue
            same_place = [
                t
                for t in record["spans"]
                if t["kind"] == s["kind"]
                and t["channel"] == s["channel"]
                and span_iou((t["start"], t["end"]), (s["start"], s["end"])) >= self.iou
            ]
            if any(t["label"] == s["label"] for t in same_place):
                continue
            losers = [t for t in same_place if annotation_class("spans", t) not in self.flagged]
            if len(losers) < len(same_place):
                continue  # another protected class holds the place
            record["spans"] = [t for t in record["spans"] if not any(t is x for x in losers)] + [dict(s)]
            self.removed(f"restored {name}")
            if losers:
                self.removed("overlapped a restored span", len(losers))
        record["spans"].sort(key=lambda s: (s["start"], s["end"]))
        if CHANGE_POINT_CLASS in self.flagged:
            tolerance = max(1, int(self.margin * len(record["values"][0])))
            for p in old["change_points"]:
                far = all(abs(p["index"] - q["index"]) > tolerance for q in record["change_points"])
                if from_specialist(p) and far:
                    record["change_points"].append(dict(p))
                    self.removed(f"restored {CHANGE_POINT_CLASS}")
            record["change_points"].sort(key=lambda p: p["index"])
        lost = {annotation_class("segments", s) for s in old["segments"]} & self.flagged
        lost -= {annotation_class("segments", s) for s in record["segments"]}
        if lost and all(from_specialist(s) for s in old["segments"]):
            record["segments"] = [dict(s) for s in old["segments"]]
            self.removed(f"restored the segmentation of {', '.join(sorted(lost))}")
        return record


def agreement(before: dict[str, dict], after: dict[str, dict]) -> dict[str, float | None]:
    """How far round k+1 agrees with round k on the same records (round k read as the truth): span F1 at IoU 0.5
    per kind with and without labels, change-point F1 (margin 1% of the length) and segmentation covering, means
    over records, and the share of records whose annotations did not change at all."""
    from ..evaluation.metrics import change_point_f1, covering, span_prf_corpus

    ids = [i for i in before if i in after]
    if not ids:
        return {"records": 0}
    out: dict[str, float | None] = {"records": len(ids)}
    for kind in ("anomaly", "event"):
        new = [[s for s in after[i]["spans"] if s["kind"] == kind] for i in ids]
        old = [[s for s in before[i]["spans"] if s["kind"] == kind] for i in ids]
        if not any(new) and not any(old):
            continue
        spans_new = [[[s["start"], s["end"]] for s in x] for x in new]
        spans_old = [[[s["start"], s["end"]] for s in x] for x in old]
        out[f"{kind} span F1@0.5"] = span_prf_corpus(spans_new, spans_old, iou=0.5)["f1"]
        out[f"{kind} span F1@0.5, labels"] = span_prf_corpus(
            spans_new,
            spans_old,
            iou=0.5,
            pred_labels=[[s["label"] for s in x] for x in new],
            true_labels=[[s["label"] for s in x] for x in old],
        )["f1"]
    f1, cover = [], []
    for i in ids:
        n = before[i]["length"]
        points_new = [p["index"] for p in after[i]["change_points"]]
        points_old = [p["index"] for p in before[i]["change_points"]]
        f1.append(change_point_f1(points_new, points_old, n)["f1"])
        if before[i]["segments"] or after[i]["segments"]:
            starts_new = sorted({s["start"] for s in after[i]["segments"] if 0 < s["start"] < n})
            starts_old = sorted({s["start"] for s in before[i]["segments"] if 0 < s["start"] < n})
            cover.append(covering(starts_new, starts_old, n))
    out["change-point F1 (1%)"] = float(np.mean(f1))
    out["covering"] = float(np.mean(cover)) if cover else None
    out["unchanged records"] = float(np.mean([_key(before[i]) == _key(after[i]) for i in ids]))
    return out


def _key(annotations: dict) -> tuple:
    spans = annotations["spans"]
    return (
        sorted((s["start"], s["end"], s["kind"], s["label"], _channel(s)) for s in spans),
        sorted((s["start"], s["end"], s["label"]) for s in annotations["segments"]),
        sorted(p["index"] for p in annotations["change_points"]),
    )


def _channel(span: dict) -> int:
    return -1 if span["channel"] is None else span["channel"]


def _annotations(record: dict) -> dict:
    return {
        "spans": record.get("spans") or [],
        "segments": record.get("segments") or [],
        "change_points": record.get("change_points") or [],
        "length": len(record["values"][0]) if "values" in record else None,
    }


# --------------------------------------------------------------------------------------------------------------
# Running a round


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _stash(record: dict) -> dict:
    description = record.get(S.DESCRIPTION)
    meta = json.loads(record.get("meta") or "{}")
    meta[STASH] = {
        "description": description.to_dict() if isinstance(description, SeriesDescription) else None,
        "length": len(record["values"][0]),
    }
    record["meta"] = json.dumps(meta, default=_json_default)
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _unstash(record: dict) -> dict | None:
    """Pops what pass 1 kept; None for a record pass 1 did not refine."""
    meta = json.loads(record.get("meta") or "{}")
    if STASH not in meta:
        return None
    stash = meta.pop(STASH)
    record["meta"] = json.dumps(meta)
    return stash


def _run(steps: Sequence[S.Step], record: dict) -> dict | None:
    for step in steps:
        kept = list(step.run([record]))
        if not kept:
            return None
        record = kept[0]
    return record


def _aggregate(summaries: Iterable[list[dict]]) -> dict[str, dict]:
    total: dict[str, dict] = {}
    for steps in summaries:
        for step in steps:
            empty = {"in": 0, "out": 0, "seconds": 0.0, "dropped": Counter(), "removed": Counter()}
            agg = total.setdefault(step["step"], empty)
            for key in ("in", "out", "seconds"):
                agg[key] += step[key]
            agg["dropped"].update(step["dropped"])
            agg["removed"].update(step["removed"])
    return {name: {k: dict(v) if isinstance(v, Counter) else v for k, v in agg.items()} for name, agg in total.items()}


def _fingerprint(corpus: Path, model: str, config: RefineConfig, round: int) -> str:
    """What pass-1 chunks depend on: a work folder left by another input, model or setting is discarded."""
    unused = ("eval_limit", "batch_size", "guard_share")  # settings that do not change what pass 1 writes
    relevant = {k: v for k, v in dataclasses.asdict(config).items() if k not in unused}
    parts = [str(corpus.resolve()), str(round), json.dumps(relevant, default=str, sort_keys=True)]
    for path in sorted(_files(corpus, "train")):
        parts.append(f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}")
    model_path = Path(model)
    if model_path.is_dir():
        parts.append(str(model_path.resolve()))
        for path in sorted(model_path.glob("*.safetensors")) + sorted(model_path.glob("config.json")):
            parts.append(f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}")
    else:
        parts.append(model)
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def refine_corpus(
    corpus: str | os.PathLike,
    model: str | os.PathLike,
    out: str | os.PathLike,
    config: RefineConfig | None = None,
    *,
    annotator: Callable[[list[np.ndarray]], list[dict]] | None = None,
    dev_scores: str | os.PathLike | dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Writes round k+1 of `corpus` (round k) to `out`, annotated with the help of the model at `model` (see the
    module docstring), and returns the round's audit (also written as `out/audit.json`, `.md` and `.png`).

    `annotator` replaces the model's pipeline (a callable from series `[channels x time]` to pipeline results;
    tests use it); `model` then only names the source. `dev_scores` is a report of `scripts/benchmark.py` (a path
    or its dict) whose model rows go into the audit. A rerun after an interruption resumes pass 1 where it stopped.
    Raises ValueError on a missing model, a corpus without a training or evaluation split or a stats.json, a
    contaminated corpus, or an existing non-empty `out` (without `overwrite`).
    """
    from tqdm.auto import tqdm

    from .build import config_from_dict

    config = config or RefineConfig()
    corpus, out = Path(corpus), Path(out)
    if corpus.resolve() == out.resolve() or corpus.resolve() in out.resolve().parents:
        raise ValueError(f"the output {out} must not be the corpus {corpus} or inside it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ValueError(f"{out} exists and is not empty; pass overwrite (--overwrite) to replace it")
    if annotator is None:
        check_model_folder(model)
    stats = _read_stats(corpus)
    build_config = config_from_dict(stats["config"], f"{corpus}/stats.json config")
    checked = check_contamination(corpus)
    k = config.round if config.round is not None else int(stats.get("round", 0))
    if annotator is None:
        annotator = ModelAnnotator(model, config.tasks, max_new_tokens=config.max_new_tokens, window=config.window)
    started = time.perf_counter()
    eval_report = _evaluate(annotator, corpus, config)
    gate = skill_gate(eval_report, config.tasks, config.min_gain)
    gated = dataclasses.replace(config, tasks=tuple(task for task in config.tasks if gate[task]["used"]))
    logger.info("skill gate: model outputs of %s join the merge", ", ".join(gated.tasks) or "no task")
    if isinstance(annotator, ModelAnnotator):
        annotator.tasks = list(gated.tasks)  # ModelAnnotate uses only these; the model need not write the others

    # Pass 1: chunks of the training split, resumable.
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.work"
    fingerprint = _fingerprint(corpus, str(model), gated, k)
    settings = work / "settings.json"
    if work.exists() and (not settings.is_file() or json.loads(settings.read_text()).get("fingerprint") != fingerprint):
        logger.info("discarding %s: it was left by another corpus, model or setting", work)
        shutil.rmtree(work)
    (work / "chunks").mkdir(parents=True, exist_ok=True)
    write_text_in_place(settings, json.dumps({"fingerprint": fingerprint, "corpus": str(corpus), "model": str(model)}))
    train_files = _files(corpus, "train")
    total = sum(_parquet_rows(p) for p in train_files)
    budget = config.limit
    chunk_paths = []
    bar = tqdm(total=total, desc=f"refine round {k} -> {k + 1}", unit="series", disable=not progress)
    chunk, index, n_refined, n_truth = [], 0, 0, 0
    for record in _iter_rows(train_files, batch=config.chunk_size):
        truth = has_truth(record)
        refine = not truth and (budget is None or n_refined < budget)
        n_refined += refine
        n_truth += truth
        chunk.append((refine, record))
        if len(chunk) == config.chunk_size:
            chunk_paths.append(_pass_one(work, index, chunk, build_config, annotator, gated, k))
            bar.update(len(chunk))
            chunk, index = [], index + 1
    if chunk:
        chunk_paths.append(_pass_one(work, index, chunk, build_config, annotator, gated, k))
        bar.update(len(chunk))
    bar.close()

    # Pass 2: the guard over the whole split, captions, writing.
    after: dict[str, dict] = {}
    for row in _iter_rows([p for p, _ in chunk_paths], columns=["id", "meta", "spans", "segments", "change_points"]):
        stash = json.loads(row["meta"] or "{}").get(STASH)
        if stash is not None:
            after[row["id"]] = dict(_annotations(row), length=stash["length"])
    before: dict[str, dict] = {}
    for row in _iter_rows(train_files, columns=["id", "spans", "segments", "change_points"]):
        if row["id"] in after:
            before[row["id"]] = dict(_annotations(row), length=after[row["id"]]["length"])
    counts_before, counts_merged = class_counts(before.values()), class_counts(after.values())
    flagged = guard_flags(counts_before, counts_merged, config.guard_share)
    guard = RareClassGuard(before, [f["class"] for f in flagged], margin=build_config.merge.get("margin", 0.01))
    _, caption_steps = refine_steps(build_config, annotator, config, k)

    with directory_in_place(out) as tmp:
        (tmp / "data").mkdir()
        n_out = sum(_parquet_rows(p) for p, _ in chunk_paths)
        n_files = max(1, n_out // FILE_RECORDS)
        bounds = [n_out * i // n_files for i in range(n_files + 1)]
        written, final, part = 0, {}, []
        file_index = 0
        for record in _iter_rows([p for p, _ in chunk_paths]):
            stash = _unstash(record)
            if stash is not None:
                if stash["description"] is not None:
                    record[S.DESCRIPTION] = SeriesDescription.from_dict(stash["description"])
                record = _run([guard, *caption_steps], record)
                if record is None:
                    raise RuntimeError("a step of pass 2 dropped a record; they only edit annotations")
                final[record["id"]] = _annotations(record)
            part.append({k2: v for k2, v in record.items() if not k2.startswith("_")})
            written += 1
            if written == bounds[file_index + 1]:
                _write_part(tmp / "data" / f"train-{file_index:05d}-of-{n_files:05d}.parquet", part)
                part, file_index = [], file_index + 1
        if part or file_index < n_files:
            _write_part(tmp / "data" / f"train-{file_index:05d}-of-{n_files:05d}.parquet", part)
        digests = {}
        for path in _files(corpus, "eval"):
            shutil.copyfile(path, tmp / "data" / path.name)
            digests[path.name] = _sha256(path)
            if _sha256(tmp / "data" / path.name) != digests[path.name]:
                raise RuntimeError(f"the copy of {path} differs from it")
        check_contamination(tmp)

        counts_after = class_counts(final.values())
        step_stats = _aggregate(json.loads(s.read_text())["steps"] for _, s in chunk_paths)
        step_stats.update(_aggregate([[guard.summary()] + [s.summary() for s in caption_steps]]))
        audit = {
            "round": k + 1,
            "from_round": k,
            "corpus": str(corpus),
            "out": str(out),
            "model": str(model),
            "model_source": model_source(k),
            "settings": dataclasses.asdict(config),
            "records": {
                "train": n_out,
                "refined": len(final),
                "with_truth": n_truth,
                "dropped": total - n_out,
                "checked_against_eval": checked,
            },
            "counts": {
                f"round {k}": dict(counts_before.most_common()),
                f"round {k + 1} before the guard": dict(counts_merged.most_common()),
                f"round {k + 1}": dict(counts_after.most_common()),
            },
            "sources": {
                f"round {k}": dict(source_counts(before.values()).most_common()),
                f"round {k + 1}": dict(source_counts(final.values()).most_common()),
            },
            "provenance": {
                f"round {k}": dict(provenance_counts(before.values())),
                f"round {k + 1}": dict(provenance_counts(final.values())),
            },
            "shrank": guard_flags(counts_before, counts_after, 0.0),
            "vanished": sorted(c for c in counts_before if counts_after.get(c, 0) == 0),
            "new": sorted(c for c in counts_after if counts_before.get(c, 0) == 0),
            "guard": {"share": config.guard_share, "flagged": flagged, "restored": dict(guard.stats["removed"])},
            "agreement": agreement(before, final),
            "eval": eval_report,
            "gate": gate,
            "dev": _dev_summary(dev_scores),
            "eval_sha256": digests,
            "seconds": time.perf_counter() - started,
        }
        audit["history"] = [*_history(corpus, k, counts_before), {"round": k + 1, "counts": dict(counts_after)}]
        new_stats = _round_stats(stats, tmp, audit, step_stats)
        from .build import dataset_card

        write_text_in_place(tmp / "stats.json", json.dumps(new_stats, indent=2, default=_json_default))
        write_text_in_place(tmp / "README.md", dataset_card(build_config, new_stats) + _card_rounds(new_stats))
        write_text_in_place(tmp / "audit.json", json.dumps(audit, indent=2, default=_json_default))
        write_text_in_place(tmp / "audit.md", audit_markdown(audit))
        plot_counts(audit["history"], tmp / "audit.png", title=f"{build_config.name}: annotations per class by round")
    shutil.rmtree(work, ignore_errors=True)
    return audit


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _write_part(path: Path, records: list[dict]) -> None:
    import datasets

    from .build import _table

    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # one bar per chunk would bury the round's own
    try:
        with file_in_place(path) as tmp:
            _table(records).to_parquet(str(tmp))
    finally:
        if not quiet:
            datasets.enable_progress_bars()


def _pass_one(work: Path, index: int, chunk: list[tuple[bool, dict]], build_config, annotator, config, k):
    """Pass 1 on one chunk (skipped when a previous run finished it); returns its data and stats paths."""
    path = work / "chunks" / f"chunk-{index:05d}.parquet"
    stats_path = path.with_suffix(".stats.json")
    if stats_path.exists() and path.exists():
        return path, stats_path
    steps, _ = refine_steps(build_config, annotator, config, k)
    todo = []
    for i, (refine, record) in enumerate(chunk):
        if refine:
            record["_position"] = i
            todo.append(blank(record))
    records: Iterator[dict] = iter(todo)
    for step in steps:
        records = step.run(records)
    done = {r["_position"]: _stash(r) for r in records}
    kept = [done[i] if refine else record for i, (refine, record) in enumerate(chunk) if not refine or i in done]
    _write_part(path, kept)
    write_text_in_place(stats_path, json.dumps({"records": len(kept), "steps": [s.summary() for s in steps]}))
    return path, stats_path


def _evaluate(annotator, corpus: Path, config: RefineConfig) -> dict | None:
    """The round model's scores on the frozen evaluation split (`evaluate_model`, `eval_limit` examples per task),
    or None without a model or limit; a failure is reported, not raised."""
    pipe = getattr(annotator, "pipe", None)
    if pipe is None or config.eval_limit == 0:
        return None
    from ..evaluation.runner import evaluate_model
    from ..records import load_split

    try:
        report = evaluate_model(
            pipe.model,
            pipe.processor,
            load_split(corpus, "eval"),
            list(config.tasks),
            limit=config.eval_limit,
            batch_size=config.batch_size,
            max_new_tokens=config.max_new_tokens or 256,
            progress=False,
        )
    except ValueError as err:
        logger.warning("no frozen-split scores: %s", err)
        return {"error": str(err)}
    return {key: report[key] for key in ("examples", "scores", "reference_scores", "limit")}


def _dev_summary(dev_scores: str | os.PathLike | dict | None) -> dict | None:
    """The model's rows of a `scripts/benchmark.py` report: `{data set: [{"task", "scores"}, ...]}`."""
    if dev_scores is None:
        return None
    report = dev_scores
    if not isinstance(report, dict):
        path = Path(dev_scores)
        if not path.is_file():
            return {"error": f"no dev-set report at {path}"}
        report = json.loads(path.read_text())
    if "error" in report:
        return {"error": report["error"]}
    summary: dict[str, Any] = {}
    for name, data in (report.get("datasets") or {}).items():
        if "skipped" in data:
            summary[name] = {"skipped": data["skipped"]}
            continue
        rows = [r for r in data.get("rows", []) if r.get("method") == "model"]
        summary[name] = [{"task": r.get("task"), "scores": r.get("scores")} for r in rows]
    return summary


def _history(corpus: Path, k: int, counts: Counter) -> list[dict]:
    """Counts per class of the earlier rounds (from the corpus's own audit, if it is a refined round), then round k
    as counted now."""
    earlier = []
    path = corpus / "audit.json"
    if path.is_file():
        earlier = [h for h in json.loads(path.read_text()).get("history", []) if h["round"] < k]
    return earlier + [{"round": k, "counts": dict(counts.most_common())}]


def _round_stats(stats: dict, folder: Path, audit: dict, steps: dict) -> dict:
    """The stats.json of round k+1: the build's, with the counts of the new training split and this round's steps
    and summary (earlier rounds' summaries under `rounds`)."""
    kinds, annotations, labels, n = Counter(), Counter(), Counter(), 0
    columns = ["source", "spans", "segments", "change_points", "groundings", "captions", "label"]
    for row in _iter_rows(_files(folder, "train"), columns=columns):
        n += 1
        source = row["source"]
        kinds[source_kind(source)] += 1
        for key in ("spans", "segments", "change_points", "groundings"):
            annotations[key] += len(row[key] or [])
        annotations["captions"] += bool(row["captions"] and row["captions"]["brief"])
        annotations["labels"] += bool(row["label"])
        labels.update(s["label"] for s in row["spans"] or [])
    summary = {
        "round": audit["round"],
        "model": audit["model"],
        "model_weight": audit["settings"]["model_weight"],
        "refined": audit["records"]["refined"],
        "flagged": [f["class"] for f in audit["guard"]["flagged"]],
        "agreement": audit["agreement"],
    }
    return {
        **stats,
        "round": audit["round"],
        "train": n,
        "train_by_kind": dict(kinds),
        "real_share": kinds["real"] / max(1, n),
        "annotations": dict(annotations),
        "span_labels": dict(labels.most_common()),
        "steps": steps,
        "rounds": [*stats.get("rounds", []), summary],
    }


def _card_rounds(stats: dict) -> str:
    lines = [
        "",
        "## Refinement rounds",
        "",
        f"This is round {stats['round']}: the training split was re-annotated by the model trained on the round "
        "before (source `model@k`, with its own merge weight), merged with the specialists and filtered; the frozen "
        "evaluation split is the build's, unchanged. `audit.md` has this round's audit.",
        "",
        "| round | model | weight | refined series | flagged classes (restored) |",
        "|---|---|---|---|---|",
    ]
    for r in stats["rounds"]:
        lines.append(
            f"| {r['round']} | `{r['model']}` | {r['model_weight']} | {r['refined']} | "
            f"{', '.join(r['flagged']) or '-'} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------------
# The audit as text and as a plot


def audit_markdown(audit: dict) -> str:
    k, k1 = audit["from_round"], audit["round"]
    counts = audit["counts"]
    before, mid, after = counts[f"round {k}"], counts[f"round {k1} before the guard"], counts[f"round {k1}"]
    records = audit["records"]
    lines = [
        f"# Round {k1} audit",
        "",
        f"Round {k} `{audit['corpus']}` re-annotated by `{audit['model']}` (source `{audit['model_source']}`, weight "
        f"{audit['settings']['model_weight']}): {records['refined']} of {records['train']} training series refined; "
        f"{records['with_truth']} carry exact truth and are unchanged; {records['dropped']} dropped. Counts are over "
        "the refined series.",
        "",
        f"| class | round {k} | round {k1} before the guard | round {k1} | change |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in sorted(set(before) | set(after) | set(mid)):
        n, m = before.get(name, 0), after.get(name, 0)
        change = f"{(m - n) / n:+.0%}" if n else "new"
        lines.append(f"| {name} | {n} | {mid.get(name, 0)} | {m} | {change} |")
    guard = audit["guard"]
    lines += ["", f"## Rare-class guard (share {guard['share']:.0%})", ""]
    if guard["flagged"]:
        for f in guard["flagged"]:
            lines.append(f"- {f['class']}: {f['before']} -> {f['after']} ({f['change']:+.0%}) before the guard")
        lines += [f"- {reason}: {n}" for reason, n in guard["restored"].items()]
    else:
        lines.append("No class fell by more than the share.")
    if audit["vanished"]:
        lines.append(f"\nVanished after the guard: {', '.join(audit['vanished'])}.")
    if audit["new"]:
        lines.append(f"\nNew in round {k1}: {', '.join(audit['new'])}.")
    lines += ["", "## Sources", "", "Annotations each source voted for, and who voted.", ""]
    lines += [f"| source | round {k} | round {k1} |", "|---|---:|---:|"]
    for table in (audit["sources"], audit["provenance"]):
        old, new = table[f"round {k}"], table[f"round {k1}"]
        for name in sorted(set(old) | set(new)):
            lines.append(f"| {name} | {old.get(name, 0)} | {new.get(name, 0)} |")
    lines += ["", f"## Agreement of round {k1} with round {k}", ""]
    lines += [f"- {name}: {_fmt(value)}" for name, value in audit["agreement"].items()]
    lines += _gate_lines(audit.get("gate"), audit["settings"].get("min_gain"))
    lines += ["", f"## Model `{audit['model_source']}` on the frozen evaluation split", ""]
    lines += _score_lines(audit["eval"])
    lines += ["", "## Model on the dev sets", ""]
    dev = audit["dev"]
    if not dev:
        lines.append("Not run.")
    elif "error" in dev:
        lines.append(f"Failed: {dev['error']}")
    else:
        for name, rows in dev.items():
            if isinstance(rows, dict):
                lines.append(f"- {name}: skipped ({rows.get('skipped')})")
                continue
            for row in rows:
                scores = ", ".join(f"{m} {_fmt(v)}" for m, v in (row["scores"] or {}).items())
                lines.append(f"- {name} {row['task']}: {scores}")
    lines += ["", "![counts per class by round](audit.png)", ""]
    return "\n".join(lines)


def _gate_lines(gate: dict | None, min_gain: float | None) -> list[str]:
    if not gate:
        return []
    lines = ["", f"## Skill gate (min gain {_fmt(min_gain)} over reading nothing, frozen split)", ""]
    lines += ["| task | metric | model | reads nothing | model outputs used | why |", "|---|---|---:|---:|---|---|"]
    for task, row in gate.items():
        cells = [
            f"`{task}`",
            str(row["metric"]),
            *("–" if v is None else _fmt(v) for v in (row["model"], row["reference"])),
        ]
        lines.append("| " + " | ".join([*cells, "yes" if row["used"] else "no", row["reason"]]) + " |")
    return lines


def _score_lines(report: dict | None) -> list[str]:
    if report is None:
        return ["Not run."]
    if "error" in report:
        return [f"Failed: {report['error']}"]
    lines = [f"At most {report['limit']} examples per task.", ""]
    for task, scores in report["scores"].items():
        text = ", ".join(f"{m} {_fmt(v)}" for m, v in scores.items()) or "no score"
        lines.append(f"- `{task}` ({report['examples'].get(task, 0)} examples): {text}")
    return lines


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def plot_counts(history: list[dict], path: Path, title: str = "annotations per class by round") -> None:
    """Horizontal bars: the count of each class in each round of `history` (`[{"round", "counts"}]`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = sorted({c for h in history for c in h["counts"]})
    height = max(3.0, 0.32 * len(classes) * max(1, len(history)) ** 0.5 + 1.5)
    figure = Figure(figsize=(8, height))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(history))
    positions = np.arange(len(classes))
    for i, h in enumerate(history):
        counts = [h["counts"].get(c, 0) for c in classes]
        axes.barh(positions + i * width, counts, height=width, label=f"round {h['round']}")
    axes.set_yticks(positions + width * (len(history) - 1) / 2, classes)
    axes.invert_yaxis()
    axes.set_xlabel("annotations (refined series)")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    with file_in_place(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


__all__ = [
    "MODEL_TASKS",
    "RefineConfig",
    "ModelAnnotator",
    "ModelAnnotate",
    "ModelMerge",
    "RareClassGuard",
    "model_candidates",
    "model_source",
    "refine_steps",
    "refine_corpus",
    "check_contamination",
    "class_counts",
    "source_counts",
    "provenance_counts",
    "guard_flags",
    "agreement",
    "audit_markdown",
    "plot_counts",
]
