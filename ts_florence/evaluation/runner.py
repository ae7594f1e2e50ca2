"""Benchmark a model on corpus records: every task, scored with its metric family (DESIGN.md section 6).

    from ts_florence.evaluation.runner import evaluate_path, report_markdown

    report = evaluate_path("runs/tiny", "corpus/round-1", split="eval", limit=500)
    print(report_markdown(report))

The evaluation examples of a task are the training pairs its `TaskSpec.examples(record)` gives, so the model is
asked exactly what training taught it. The truth is the target text parsed back with the task's own `parse`:
truth and prediction go through the same grammar and the same quantization (sample indices, half-open spans),
and a score of 1 means the model wrote the target. Spans are compared on their bounds; channels are ignored.

Metrics (keys of `report["scores"][task]`, every value in [0, 1]; a metric that does not apply is left out):

- `<ANOMALY_DETECTION>`: span F1 at IoU 0.3 / 0.5 / 0.7 and mAP over IoU 0.50:0.95 (types must match),
  event-wise F1 and affiliation F1 (types ignored).
- `<EVENT_DETECTION>`: span F1 at the three IoUs and mAP, event types must match.
- `<DENSE_SPAN_CAPTION>`: span F1 and mAP ignoring the descriptions, and the mean ROUGE-L of the descriptions
  of the spans matched at IoU 0.5.
- `<SPAN_PROPOSAL>`, `<OPEN_VOCABULARY_DETECTION>`: span F1 at the three IoUs and mAP.
- `<REGIME_SEGMENTATION>`, `<CHANGE_POINT_DETECTION>`: covering and change-point F1 with a margin of 1% of the
  length, means over series (TSSB); regimes are read as the change points where they start.
- Captions: mean ROUGE-L, and caption attribute accuracy against the record's exact description
  (`meta["description"]`, a `SeriesDescription` dict) when records have one.
- `<CAPTION_TO_PHRASE_GROUNDING>`: recall at IoU 0.5 of the true (phrase, span) pairs.
- `<CLASSIFICATION>`, `<SPAN_TO_CATEGORY>`: accuracy and macro F1. `<SPAN_TO_DESCRIPTION>`: mean ROUGE-L.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from tqdm.auto import tqdm

from ..processing_ts_florence import SeriesInput, decode_generation
from ..records import values_array
from ..tasks import TASKS, get_task
from .metrics import (
    affiliation_prf_corpus,
    caption_attribute_accuracy,
    change_point_f1,
    classification_scores,
    covering,
    event_f1_corpus,
    grounding_recall,
    rouge_l,
    span_iou,
    span_map,
    span_prf_corpus,
    spans_by_label,
)

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

IOUS = (0.3, 0.5, 0.7)
"""IoU thresholds of span F1."""
CHANGE_POINT_MARGIN = 0.01
"""Margin of change-point F1, a fraction of the series length (TSSB)."""
SUBSAMPLE_SEED = 0
"""Seed of the subsample of examples that `limit` keeps, so that reruns score the same examples."""

METRICS: dict[str, str] = {
    **{f"f1@{iou}": f"span F1 at IoU {iou} (maximum one-to-one matching, counts pooled)" for iou in IOUS},
    "map": "COCO mAP over IoU 0.50:0.95 with the model's own scores",
    "event_f1": "event-wise F1: a true event is found by any overlapping prediction",
    "affiliation_f1": "affiliation F1 (Huet et al. 2022)",
    "description_rouge_l": "mean ROUGE-L of the descriptions of spans matched at IoU 0.5",
    "covering": "segmentation covering, mean over series",
    "cp_f1": f"change-point F1, margin {CHANGE_POINT_MARGIN:.0%} of the length, mean over series",
    "rouge_l": "mean ROUGE-L F-measure against the target text",
    "attribute_accuracy": "caption attributes (trend, period, counts, places) stated right / stated",
    "recall@0.5": "grounding recall of (phrase, span) pairs at IoU 0.5",
    "accuracy": "exact label accuracy",
    "macro_f1": "macro F1 over labels",
}
"""Every metric of a report, in the order of the columns of `report_markdown`."""


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


# ---------------------------------------------------------------------------------------------------------
# Examples


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
            caption_truth = _caption_truth(record) if SCORERS[spec.token] is _caption_scores else None
            for text_input, target in pairs:
                truth = spec.parse(target, n, text_input=text_input)
                examples[spec.token].append(Example(spec.token, text_input, target, truth, values, caption_truth))
    return examples


def _fits(model, processor, example: Example) -> bool:
    """Whether the encoder input of `example` (series tokens + prompt) is within the model's limit; a long text
    input (a caption to ground) can exceed it, and cutting it would change the question."""
    limit = model.config.text_config.max_position_embeddings
    channels = example.values.shape[1] if example.values.ndim == 2 else 1
    (prompt,) = processor.build_prompts(
        [example.task + (example.text_input or "")], [processor.feature_extractor.num_tokens(channels)]
    )
    return len(processor.tokenizer(prompt)["input_ids"]) <= limit


def _subsample(examples: list[Example], limit: int | None) -> list[Example]:
    if limit is None or len(examples) <= limit:
        return examples
    keep = np.random.default_rng(SUBSAMPLE_SEED).choice(len(examples), size=limit, replace=False)
    return [examples[i] for i in sorted(keep)]


# ---------------------------------------------------------------------------------------------------------
# Generation


def _generate(
    model, processor, batch: Sequence[Example], generate_kwargs: Mapping[str, Any]
) -> list[tuple[str, list[float] | None]]:
    """Generated text and character scores of each example of `batch` (one task, series of any lengths)."""
    inputs = processor(series=[ex.values for ex in batch], text=[ex.task + (ex.text_input or "") for ex in batch])
    with torch.no_grad():
        output = model.generate(
            **inputs.to(model.device), return_dict_in_generate=True, output_scores=True, **generate_kwargs
        )
    return decode_generation(model, processor, output)


# ---------------------------------------------------------------------------------------------------------
# Scores by metric family: (examples, predictions) -> {metric: value or None}

Scorer = Callable[[Sequence[Example], Sequence[dict[str, Any]]], dict[str, float | None]]


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _map(preds: Sequence[dict], examples: Sequence[Example], labelled: bool) -> float | None:
    if any(score is None for p in preds for score in p.get("scores") or []):
        return None
    keys = ("spans", "labels") if labelled else ("spans",)
    return span_map(
        [{**{k: p[k] for k in keys}, "scores": p["scores"]} for p in preds],
        [{k: ex.truth[k] for k in keys} for ex in examples],
    )["map"]


def _span_scores(examples: Sequence[Example], preds: Sequence[dict], labelled: bool) -> dict[str, float | None]:
    pred_spans, true_spans = [p["spans"] for p in preds], [ex.truth["spans"] for ex in examples]
    pred_labels = [p["labels"] for p in preds] if labelled else None
    true_labels = [ex.truth["labels"] for ex in examples] if labelled else None
    scores: dict[str, float | None] = {
        f"f1@{iou}": span_prf_corpus(pred_spans, true_spans, iou, pred_labels, true_labels)["f1"] for iou in IOUS
    }
    scores["map"] = _map(preds, examples, labelled)
    return scores


def _anomaly_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    pred_spans, true_spans = [p["spans"] for p in preds], [ex.truth["spans"] for ex in examples]
    return {
        **_span_scores(examples, preds, labelled=True),
        "event_f1": event_f1_corpus(pred_spans, true_spans)["f1"],
        "affiliation_f1": affiliation_prf_corpus(pred_spans, true_spans, [ex.length for ex in examples])["f1"],
    }


def _matched_description_rouge(examples: Sequence[Example], preds: Sequence[dict]) -> float | None:
    """Mean ROUGE-L of predicted and true descriptions of spans matched one to one at IoU >= 0.5."""
    values = []
    for ex, pred in zip(examples, preds, strict=True):
        if not pred["spans"] or not ex.truth["spans"]:
            continue
        overlap = span_iou(pred["spans"], ex.truth["spans"])
        rows, cols = linear_sum_assignment(overlap, maximize=True)
        values += [
            rouge_l(pred["labels"][r], ex.truth["labels"][c])
            for r, c in zip(rows, cols, strict=True)
            if overlap[r, c] >= 0.5
        ]
    return _mean(values)


def _dense_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    return {
        **_span_scores(examples, preds, labelled=False),
        "description_rouge_l": _matched_description_rouge(examples, preds),
    }


def _change_points(result: Mapping[str, Any]) -> list[int]:
    """Points of a points result; the starts of the segments of a segments result."""
    return list(result["points"]) if "points" in result else [span[0] for span in result["spans"]]


def _segmentation_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    covers, f1s = [], []
    for ex, pred in zip(examples, preds, strict=True):
        predicted, true = _change_points(pred), _change_points(ex.truth)
        covers.append(covering(predicted, true, ex.length))
        f1s.append(change_point_f1(predicted, true, ex.length, margin=CHANGE_POINT_MARGIN)["f1"])
    return {"covering": _mean(covers), "cp_f1": _mean(f1s)}


def _rouge_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    return {"rouge_l": _mean([rouge_l(p["text"], ex.truth["text"]) for ex, p in zip(examples, preds, strict=True)])}


def _caption_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    verdicts = []  # pooled over captions, as the `caption` evaluate module does
    for ex, pred in zip(examples, preds, strict=True):
        if ex.caption_truth is not None:
            found = caption_attribute_accuracy(pred["text"], ex.caption_truth)
            verdicts += [found[k] for k in ("trend", "period", "event_count", "places") if found[k] is not None]
    return {**_rouge_scores(examples, preds), "attribute_accuracy": _mean(verdicts)}


def _grounding_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    found = total = 0
    for ex, pred in zip(examples, preds, strict=True):
        scores = grounding_recall(spans_by_label(pred), spans_by_label(ex.truth), iou=0.5)
        found, total = found + scores["tp"], total + scores["true_spans"]
    return {"recall@0.5": found / total if total else 1.0}


def _label_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    return classification_scores([p["text"] for p in preds], [ex.truth["text"] for ex in examples])


SCORERS: dict[str, Scorer] = {
    "<CAPTION>": _caption_scores,
    "<DETAILED_CAPTION>": _caption_scores,
    "<MORE_DETAILED_CAPTION>": _caption_scores,
    "<CLASSIFICATION>": _label_scores,
    "<ANOMALY_DETECTION>": _anomaly_scores,
    "<EVENT_DETECTION>": partial(_span_scores, labelled=True),
    "<DENSE_SPAN_CAPTION>": _dense_scores,
    "<SPAN_PROPOSAL>": partial(_span_scores, labelled=False),
    "<REGIME_SEGMENTATION>": _segmentation_scores,
    "<CHANGE_POINT_DETECTION>": _segmentation_scores,
    "<CAPTION_TO_PHRASE_GROUNDING>": _grounding_scores,
    # The label of every span is the prompt, the same on both sides.
    "<OPEN_VOCABULARY_DETECTION>": partial(_span_scores, labelled=False),
    "<SPAN_TO_CATEGORY>": _label_scores,
    "<SPAN_TO_DESCRIPTION>": _rouge_scores,
}
"""The scoring of each task of `ts_florence.tasks.TASKS`."""


def reference_prediction(task: str, length: int) -> dict[str, Any] | None:
    """The answer that reads nothing of the series, for tasks whose output is located in time: no span, a single
    segment over the whole series, or no change point; None for text tasks. What it scores on a set of examples is
    the floor a model must clear to show it reads its series (covering and change-point F1 are high for one
    segment when the true series have few changes)."""
    kind = get_task(task).output_kind
    if kind in ("labelled_spans", "spans"):
        return {"spans": [], "labels": [], "scores": []}
    if kind == "segments":
        return {"spans": [[0, length]], "labels": [""], "scores": [1.0]}
    if kind == "points":
        return {"points": [], "scores": []}
    return None


def score_task(task: str, examples: Sequence[Example], preds: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The metrics of `task` for predicted results (as `TaskSpec.parse` gives) of `examples`; metrics that do
    not apply (no attribute truth, no matched span, unscored predictions) are left out."""
    if len(examples) != len(preds):
        raise ValueError(f"{len(preds)} predictions for {len(examples)} examples")
    scores = SCORERS[get_task(task).token](examples, preds)
    return {name: float(value) for name, value in scores.items() if value is not None}


# ---------------------------------------------------------------------------------------------------------
# Running


def _select_tasks(tasks: Sequence[str] | str | None, examples: Mapping[str, list[Example]]) -> list[str]:
    if tasks is None:
        return [token for token in TASKS if examples[token]]
    chosen = [tasks] if isinstance(tasks, str) else list(tasks)
    for token in chosen:
        if not examples[token]:
            logger.warning("no record gives an example of %s; it is reported with 0 examples", token)
    return chosen


def evaluate_model(
    model,
    processor,
    records: Iterable[Mapping[str, Any]],
    tasks: Sequence[str] | None = None,
    *,
    batch_size: int = 32,
    limit: int | None = None,
    num_beams: int = 1,
    max_new_tokens: int = 256,
    progress: bool = True,
) -> dict[str, Any]:
    """Runs `model` on the examples of every task in `records` and scores them (see the module docstring).

    Args:
        model: a `TSFlorenceForConditionalGeneration` (put in eval mode while it runs, then restored).
        processor: its `TSFlorenceProcessor`.
        records: corpus records (DESIGN.md section 4), e.g. a `datasets.Dataset`.
        tasks: task tokens; default every task of `TASKS` that has an example in `records`. A task given
            here without examples is reported with 0 examples and no scores.
        batch_size: examples per `generate` call (one task per batch).
        limit: at most this many examples per task, a fixed random subsample (`SUBSAMPLE_SEED`).
        num_beams, max_new_tokens: passed to `model.generate`.
        progress: show a progress bar over the batches of each task.

    Returns `{"model", "data", "split", "examples": {task: n}, "scores": {task: {metric: value}},
    "series_per_second": {task: x}, "reference_scores": {task: {metric: value}}, "limit"}`;
    `series_per_second` counts examples (a record may give a task several) over the wall time of input building,
    generation and decoding; `reference_scores` are those of `reference_prediction` on the same examples, for the
    tasks located in time.
    Raises ValueError on an unknown task, no records, or no example of any task.
    """
    if isinstance(tasks, str):
        tasks = [tasks]
    for token in tasks or ():
        get_task(token)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 example per task, got {limit}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    records = list(records)
    if not records:
        raise ValueError("no records to evaluate")
    examples = build_examples(records, list(TASKS) if tasks is None else tasks)
    chosen = _select_tasks(tasks, examples)
    if not any(examples[token] for token in chosen):
        raise ValueError(f"none of the {len(records)} records gives an example of the tasks {chosen}")

    report: dict[str, Any] = {
        "model": getattr(model, "name_or_path", None) or None,
        "data": None,
        "split": None,
        "examples": {},
        "scores": {},
        "series_per_second": {},
        "reference_scores": {},
        "limit": limit,
    }
    generate_kwargs = {"num_beams": num_beams, "max_new_tokens": max_new_tokens}
    was_training = model.training
    model.eval()
    try:
        for token in chosen:
            todo = _subsample(examples[token], limit)
            fitting = [ex for ex in todo if _fits(model, processor, ex)]
            if len(fitting) < len(todo):
                report.setdefault("skipped_too_long", {})[token] = len(todo) - len(fitting)
                logger.warning(
                    "%s: %d examples left out, their prompt is longer than the model takes",
                    token,
                    len(todo) - len(fitting),
                )
            todo = fitting
            report["examples"][token] = len(todo)
            if not todo:
                report["scores"][token] = {}
                continue
            preds = []
            start = time.perf_counter()
            batches = range(0, len(todo), batch_size)
            for i in tqdm(batches, desc=token, unit="batch", disable=not progress, leave=False):
                batch = todo[i : i + batch_size]
                for ex, (text, char_scores) in zip(
                    batch, _generate(model, processor, batch, generate_kwargs), strict=True
                ):
                    # Boundaries refined on the raw samples, as the pipeline does (ts_florence.boundaries).
                    parsed = processor.post_process_generation(
                        text,
                        token,
                        ex.length,
                        text_input=ex.text_input,
                        char_scores=char_scores,
                        series=SeriesInput(values=np.asarray(ex.values, dtype=np.float64).T),
                    )
                    preds.append(parsed[token])
            report["series_per_second"][token] = len(todo) / max(time.perf_counter() - start, 1e-9)
            report["scores"][token] = score_task(token, todo, preds)
            reference = [reference_prediction(token, ex.length) for ex in todo]
            if reference[0] is not None:  # a task located in time
                report["reference_scores"][token] = score_task(token, todo, reference)
            logger.info("%s: %d examples, %s", token, len(todo), report["scores"][token])
    finally:
        model.train(was_training)
    return report


def load_records(data: str | Path, split: str = "eval") -> datasets.Dataset:
    """Split `split` of a corpus: a folder or Hub name `datasets.load_dataset` reads (Parquet shards
    `data/<split>-*.parquet`, with or without a card), or a folder written by `DatasetDict.save_to_disk`.
    Raises ValueError naming the available splits when `split` is not one of them."""
    import datasets

    folder = Path(data)
    if (folder / "dataset_dict.json").exists():
        # `load_dataset` would read the Arrow files of a saved DatasetDict as one "test" split.
        saved = datasets.load_from_disk(str(folder))
        if split not in saved:
            raise ValueError(f"{data} has no split {split!r}; available splits: {', '.join(saved)}")
        return saved[split]
    try:
        if (folder / "data").is_dir():
            from ..records import load_split

            return load_split(folder, split)
        return datasets.load_dataset(str(data), split=split)
    except ValueError as err:
        if "Unknown split" not in str(err):
            raise
        names = datasets.get_dataset_split_names(str(data))
        raise ValueError(f"{data} has no split {split!r}; available splits: {', '.join(names)}") from None


def evaluate_path(
    model_path: str | Path,
    data: str | Path,
    split: str = "eval",
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    *,
    device: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """`evaluate_model` of the model and processor saved at `model_path` on split `split` of corpus `data`
    (see `load_records`), on `device` (default: CUDA when available). Other keyword arguments go to
    `evaluate_model`; the report names the model, the data and the split."""
    # The Auto classes know ts-florence because importing this module imported the `ts_florence` package.
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor

    records = load_records(data, split)
    if len(records) == 0:
        raise ValueError(f"split {split!r} of {data} has no records")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_path)).to(device)
    processor = AutoProcessor.from_pretrained(str(model_path))
    report = evaluate_model(model, processor, records, tasks, limit=limit, **kwargs)
    return {**report, "model": str(model_path), "data": str(data), "split": split}


# ---------------------------------------------------------------------------------------------------------
# Report


def report_markdown(report: Mapping[str, Any]) -> str:
    """One Markdown table: a row per task, its example count, series per second and metrics (blank where a
    metric does not apply), each followed by the reference answer's row when the report has one, under a line
    naming the model, data, split and limit."""
    scores: Mapping[str, Mapping[str, float]] = report["scores"]
    tasks = list(report["examples"])
    used = {name for task in tasks for name in scores.get(task, {})}
    columns = [name for name in METRICS if name in used] + sorted(used - METRICS.keys())
    speed = report.get("series_per_second") or {}
    about = ", ".join(
        f"{key} `{report[key]}`" for key in ("model", "data", "split", "limit") if report.get(key) is not None
    )
    lines = [f"Evaluation: {about}", ""] if about else []
    lines.append("| task | examples | series/s | " + " | ".join(columns) + " |")
    lines.append("|---|---:|---:|" + "---:|" * len(columns))
    for task in tasks:
        cells = [f"`{task}`", str(report["examples"][task]), f"{speed[task]:.1f}" if task in speed else ""]
        cells += [f"{scores[task][name]:.3f}" if name in scores.get(task, {}) else "" for name in columns]
        lines.append("| " + " | ".join(cells) + " |")
        reference = (report.get("reference_scores") or {}).get(task)
        if reference is not None:
            cells = ["reference: reads nothing (`reference_prediction`)", str(report["examples"][task]), ""]
            cells += [f"{reference[name]:.3f}" if name in reference else "" for name in columns]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = [
    "CHANGE_POINT_MARGIN",
    "IOUS",
    "METRICS",
    "SCORERS",
    "Example",
    "build_examples",
    "evaluate_model",
    "evaluate_path",
    "load_records",
    "reference_prediction",
    "report_markdown",
    "score_task",
]
