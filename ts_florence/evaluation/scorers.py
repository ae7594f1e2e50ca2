"""The scorers of the tasks, one registry: `SCORERS[name]` maps the examples of a task and the predicted results (as
`TaskSpec.parse` gives) to `{metric: value or None}` (None: the metric does not apply). A task reaches its scorer
through its `TaskSpec`: `TaskSpec.scorer` is the name, `TaskSpec.score` runs it (which tasks a scorer scores is
said there, in `ts_florence.tasks`, once). The metric functions themselves are in `metrics`; what each metric of a
report means is `METRICS`.

Metrics by scorer (every value in [0, 1]; a name with a kind in brackets, `fact_precision[period]`, is its
metric on that kind only):

- `anomalies`: span F1 at IoU 0.3 / 0.5 / 0.7 and mAP over IoU 0.50:0.95 (types must match), event-wise F1 and
  affiliation F1 (types ignored), and the channel scores.
- `typed_spans`: span F1 at the three IoUs and mAP, types must match; and the channel scores.
- the channel scores, on the multivariate examples only (`metrics.channel_agreement`): of the predicted spans matched
  to a true span at IoU 0.5 (0.1), types ignored, the share that names the true channel, `channel_accuracy`
  (`channel_accuracy@0.1`; None, every channel, is right only against None). Left out when no span is matched.
- `dense_spans`: span F1 and mAP ignoring the descriptions, and the mean ROUGE-L of the descriptions of the spans
  matched at IoU 0.5.
- `spans`: span F1 at the three IoUs and mAP.
- `segmentation`: covering and change-point F1 with a margin of 1% of the length, means over series (TSSB);
  regimes are read as the change points where they start.
- `captions`: mean ROUGE-L; caption attribute accuracy against the record's exact description
  (`meta["description"]`, a `SeriesDescription` dict) when records have one; fact precision and recall, overall
  and per fact kind (`fact_precision[period]`, ...: `caption_facts`), against the description or, without one,
  the record's values and spans; the share of outputs that say no sentence twice.
- `grounding`: recall at IoU 0.5 and 0.1 of the true (phrase, span) pairs, overall and per kind of phrase
  (`recall@0.5[event]`, ...: `caption_facts.phrase_kind`) and, at 0.5, per event label (`recall@0.5[spike]`).
- `labels`: accuracy and macro F1. `rouge_l`: mean ROUGE-L.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from .caption_facts import fact_scores, phrase_kind, repeats_a_sentence
from .metrics import (
    affiliation_prf_corpus,
    caption_attribute_accuracy,
    change_point_f1,
    channel_agreement,
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
    from .examples import Example

IOUS = (0.3, 0.5, 0.7)
"""IoU thresholds of span F1."""
CHANGE_POINT_MARGIN = 0.01
"""Margin of change-point F1, a fraction of the series length (TSSB)."""
METRICS: dict[str, str] = {
    **{f"f1@{iou}": f"span F1 at IoU {iou} (maximum one-to-one matching, counts pooled)" for iou in IOUS},
    "map": "COCO mAP over IoU 0.50:0.95 with the model's own scores",
    "event_f1": "event-wise F1: a true event is found by any overlapping prediction",
    "affiliation_f1": "affiliation F1 (Huet et al. 2022)",
    "channel_accuracy": "multivariate series: spans matched at IoU 0.5 (types ignored) that name the true channel",
    "channel_accuracy@0.1": "multivariate series: spans matched at IoU 0.1 (types ignored) that name the true channel",
    "description_rouge_l": "mean ROUGE-L of the descriptions of spans matched at IoU 0.5",
    "covering": "segmentation covering, mean over series",
    "cp_f1": f"change-point F1, margin {CHANGE_POINT_MARGIN:.0%} of the length, mean over series",
    "rouge_l": "mean ROUGE-L F-measure against the target text",
    "attribute_accuracy": "caption attributes (trend, period, counts, places) stated right / stated",
    "fact_precision": "caption facts (length, period, noise, trend, counts, places, ...) stated right / stated",
    "fact_recall": "true facts of the target caption the caption states right / those facts",
    "no_repeat_rate": "share of outputs that say no sentence twice",
    **{f"recall@{iou}": f"grounding recall of (phrase, span) pairs at IoU {iou}" for iou in (0.5, 0.1)},
    "accuracy": "exact label accuracy",
    "macro_f1": "macro F1 over labels",
}
"""Every metric of a report, in the order of the columns of `report_markdown`."""


Scorer = Callable[[Sequence["Example"], Sequence[dict[str, Any]]], dict[str, float | None]]


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


CHANNEL_IOUS = (0.5, 0.1)
"""IoU thresholds of channel accuracy."""


def _channel_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    """The channel scores (module docstring) of the multivariate examples; None where no span is matched."""
    pairs = [(p, ex.truth) for ex, p in zip(examples, preds, strict=True) if ex.values.shape[1] > 1]
    scores: dict[str, float | None] = {}
    for iou in CHANNEL_IOUS:
        found = channel_agreement([p for p, _ in pairs], [t for _, t in pairs], iou)
        scores["channel_accuracy" + ("" if iou == 0.5 else f"@{iou}")] = found["accuracy"] if found["matched"] else None
    return scores


def _typed_span_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    return {**_span_scores(examples, preds, labelled=True), **_channel_scores(examples, preds)}


def _anomaly_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    pred_spans, true_spans = [p["spans"] for p in preds], [ex.truth["spans"] for ex in examples]
    return {
        **_span_scores(examples, preds, labelled=True),
        "event_f1": event_f1_corpus(pred_spans, true_spans)["f1"],
        "affiliation_f1": affiliation_prf_corpus(pred_spans, true_spans, [ex.length for ex in examples])["f1"],
        **_channel_scores(examples, preds),
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
    checked = [(p["text"], ex.truth["text"], ex.caption_truth) for ex, p in zip(examples, preds, strict=True)]
    checked = [row for row in checked if row[2] is not None]
    facts = fact_scores(*map(list, zip(*checked, strict=True))) if checked else {}
    return {
        **_rouge_scores(examples, preds),
        "attribute_accuracy": _mean(verdicts),
        **facts,
        "no_repeat_rate": _mean([float(not repeats_a_sentence(p["text"])) for p in preds]),
    }


GROUNDING_IOUS = (0.5, 0.1)
"""IoU thresholds of grounding recall."""


def _grounding_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    """Grounding recall pooled over examples, overall and by kind of phrase (and event label, at IoU 0.5)."""
    counts: dict[str, list[int]] = {}  # metric name -> [true pairs found, true pairs]
    for ex, pred in zip(examples, preds, strict=True):
        predicted = spans_by_label(pred)
        for phrase, spans in spans_by_label(ex.truth).items():
            kind, label = phrase_kind(phrase)
            for iou in GROUNDING_IOUS:
                found = grounding_recall(predicted, {phrase: spans}, iou=iou)["tp"]
                names = [f"recall@{iou}", f"recall@{iou}[{kind}]"]
                names += [f"recall@{iou}[{label}]"] if label is not None and iou == 0.5 else []
                for name in names:
                    tally = counts.setdefault(name, [0, 0])
                    tally[0], tally[1] = tally[0] + found, tally[1] + len(spans)
    scores: dict[str, float | None] = {f"recall@{iou}": 1.0 for iou in GROUNDING_IOUS}  # vacuous without truth
    scores.update({name: found / total for name, (found, total) in counts.items()})
    return scores


def _label_scores(examples: Sequence[Example], preds: Sequence[dict]) -> dict[str, float | None]:
    return classification_scores([p["text"] for p in preds], [ex.truth["text"] for ex in examples])


SCORERS: dict[str, Scorer] = {
    "captions": _caption_scores,
    "labels": _label_scores,
    "anomalies": _anomaly_scores,
    "typed_spans": _typed_span_scores,
    "dense_spans": _dense_scores,
    "spans": partial(_span_scores, labelled=False),
    "segmentation": _segmentation_scores,
    "grounding": _grounding_scores,
    "rouge_l": _rouge_scores,
}
"""Every scorer, by the name a `TaskSpec.scorer` gives (`TaskSpec.score` runs it): a new task names one of these in
`ts_florence.tasks`; a new metric family is one more function and entry here."""
