"""Metrics of ts-florence: pure functions of results and ground truth, on NumPy, SciPy's assignment and the
standard library; the IoU of spans is `ts_florence.windowing.span_iou` (re-exported here). The metrics of
per-sample anomaly scores are the field's own code, imported when used: AUC-PR scikit-learn's, VUS-PR and its
window TSB-AD's (`tsb-ad`, installed without its dependencies: `TSB_AD_HINT`).

Units. Spans are half-open `[start, end)` and points are sample indices of the series, as in the result dicts
of `ts_florence.tasks` (`{"spans", "labels", "channels", "scores"}` for detection, `{"spans", "labels"}` for
segmentation, `{"points", "scores"}` for change points). Lengths are numbers of samples. Every score is a float
in [0, 1]; counts are ints.

Empty cases (one convention everywhere). A ratio over an empty set is *vacuously 1*: precision is 1 when
nothing was predicted (nothing was wrongly found) and recall is 1 when there was nothing to find (nothing was
missed); F1 is their harmonic mean and 0 when either is 0. So no truth and no prediction score 1, 1, 1; no truth
but predictions score precision 0, recall 1, F1 0; truth but no prediction score precision 1, recall 0, F1 0.
This is scikit-learn's `zero_division=1`. Corpus scores pool counts over series (micro), so a vacuous value
only appears when the whole corpus is empty on that side. The curves of per-sample scores (AUC-PR, VUS-PR) are
not ratios over sets: undefined on a series without true samples (or without normal ones), they leave such a
series out of their mean over series (`point_scores_corpus`), as TSB-AD, whose series all have anomalies, does.

Channels are ignored by the span metrics (a caller who wants spans to match on channel too folds it into the
label, `f"{label}@{channel}"`); `channel_agreement` scores them apart: of the spans matched on their bounds, the
share that names the true channel.
"""

from __future__ import annotations

import operator
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..windowing import span_iou

Span = Sequence[float]
Spans = Sequence[Span]
Labels = Sequence[str | None]
Interval = tuple[float, float]

COCO_IOUS: tuple[float, ...] = tuple(np.round(np.arange(0.5, 0.96, 0.05), 2).tolist())
"""IoU thresholds of COCO's mAP: 0.50, 0.55, ..., 0.95."""

_RECALL_STEPS = np.linspace(0.0, 1.0, 101)  # COCO's 101-point interpolation
# IoUs are compared with a tolerance so that a threshold written as 0.7 (0.7000000000000001 in np.arange) still
# accepts an IoU of exactly 7/10.
_IOU_TOLERANCE = 1e-9


# ---------------------------------------------------------------------------------------------------------
# Helpers


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, vacuously 1 when the denominator is 0 (see the module docstring)."""
    return float(numerator / denominator) if denominator else 1.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _prf(tp: int, n_pred: int, n_true: int) -> dict[str, Any]:
    precision, recall = _ratio(tp, n_pred), _ratio(tp, n_true)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "tp": int(tp),
        "fp": int(n_pred - tp),
        "fn": int(n_true - tp),
    }


def _as_spans(spans: Spans, name: str = "spans", length: int | None = None) -> np.ndarray:
    """`spans` as a float array `[n x 2]`; ValueError unless every span has start < end (inside the series)."""
    array = np.asarray(spans, dtype=np.float64) if len(spans) else np.zeros((0, 2))
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must be [start, end) pairs, got {spans!r}")
    bad = np.flatnonzero(~(array[:, 0] < array[:, 1]))
    if bad.size:
        raise ValueError(f"{name}: span {list(spans[bad[0]])} has end <= start")
    if length is not None and array.size and (array.min() < 0 or array.max() > length):
        raise ValueError(f"{name} must lie inside the series, [0, {length}], got {array.tolist()}")
    return array


def _check_labels(labels: Labels | None, spans: np.ndarray, name: str) -> list[str | None] | None:
    if labels is None:
        return None
    if len(labels) != len(spans):
        raise ValueError(f"{name} has {len(labels)} labels for {len(spans)} spans")
    return list(labels)


def _check_length(length: int) -> int:
    n = operator.index(length)
    if n < 1:
        raise ValueError(f"series length must be >= 1, got {n}")
    return n


def _check_iou(iou: float) -> float:
    if not 0 < iou <= 1:
        raise ValueError(f"IoU threshold must be in (0, 1], got {iou}")
    return float(iou)


def _same_size(preds: Sequence[Any], trues: Sequence[Any], what: str = "series") -> None:
    if len(preds) != len(trues):
        raise ValueError(f"{len(preds)} predicted {what} for {len(trues)} true ones")


# ---------------------------------------------------------------------------------------------------------
# Span detection: F1 at an IoU threshold, mAP over IoU thresholds


def _span_tp(
    pred_spans: Spans, true_spans: Spans, iou: float, pred_labels: Labels | None, true_labels: Labels | None
) -> tuple[int, int, int]:
    """(true positives, predictions, true spans) of one series under a maximum one-to-one matching."""
    threshold = _check_iou(iou)
    pred, true = _as_spans(pred_spans, "pred_spans"), _as_spans(true_spans, "true_spans")
    p_labels = _check_labels(pred_labels, pred, "pred_labels")
    t_labels = _check_labels(true_labels, true, "true_labels")
    return len(_matched_pairs(pred, true, threshold, p_labels, t_labels)), len(pred), len(true)


def _matched_pairs(
    pred: np.ndarray, true: np.ndarray, iou: float, pred_labels: Labels | None, true_labels: Labels | None
) -> list[tuple[int, int]]:
    """`(prediction, true span)` index pairs of a maximum one-to-one matching of one series: a pair needs IoU >=
    `iou` (and equal labels when both sides have them); of the maximum matchings, one of the largest total IoU."""
    if len(pred) == 0 or len(true) == 0:
        return []
    overlap = span_iou(pred, true)
    allowed = overlap >= iou - _IOU_TOLERANCE
    if pred_labels is not None and true_labels is not None:
        allowed &= np.asarray(pred_labels, dtype=object)[:, None] == np.asarray(true_labels, dtype=object)[None, :]
    # Maximising the number of allowed pairs in a full assignment gives a maximum matching of the allowed graph;
    # the IoU term, below 1 summed over any matching, only chooses among the maximum ones.
    weight = allowed * (1.0 + overlap / (min(allowed.shape) + 1))
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


def span_prf(
    pred_spans: Spans,
    true_spans: Spans,
    iou: float = 0.5,
    pred_labels: Labels | None = None,
    true_labels: Labels | None = None,
) -> dict[str, Any]:
    """Precision, recall and F1 of predicted spans against true spans of one series.

    A prediction and a true span may be matched when their IoU (over samples, half-open spans) is at least
    `iou` and, when both `pred_labels` and `true_labels` are given, their labels are equal. Matching is one to
    one and maximum (the most pairs possible, `scipy.optimize.linear_sum_assignment`), so a prediction covering
    two true spans matches at most one of them. `tp` = matched pairs, `fp` = predictions - tp,
    `fn` = true spans - tp; precision = tp / predictions, recall = tp / true spans, both vacuously 1 on an empty
    denominator (module docstring). Returns `{"precision", "recall", "f1", "tp", "fp", "fn"}`.
    """
    return _prf(*_span_tp(pred_spans, true_spans, iou, pred_labels, true_labels))


def span_prf_corpus(
    preds: Sequence[Spans],
    trues: Sequence[Spans],
    iou: float = 0.5,
    pred_labels: Sequence[Labels] | None = None,
    true_labels: Sequence[Labels] | None = None,
) -> dict[str, Any]:
    """`span_prf` over a corpus: spans per series, matched within each series, counts summed (micro average).

    `preds[i]` and `trues[i]` are the spans of series i; `pred_labels[i]` / `true_labels[i]` their labels.
    """
    _same_size(preds, trues)
    p_labels = pred_labels if pred_labels is not None else [None] * len(preds)
    t_labels = true_labels if true_labels is not None else [None] * len(trues)
    _same_size(p_labels, preds, "label lists")
    _same_size(t_labels, trues, "label lists")
    counts = np.zeros(3, dtype=np.int64)
    for pred, true, pl, tl in zip(preds, trues, p_labels, t_labels, strict=True):
        counts += _span_tp(pred, true, iou, pl, tl)
    return _prf(*counts.tolist())


def _greedy_hits(p_spans: np.ndarray, p_scores: np.ndarray, t_spans: np.ndarray, iou: float) -> np.ndarray:
    """Whether each predicted span (in the order given) is a hit under COCO's greedy matching: predictions by
    decreasing score (ties in the order given), each matched to the unmatched true span with the highest IoU >=
    `iou`."""
    overlap = span_iou(p_spans, t_spans)
    free = np.ones(len(t_spans), dtype=bool)
    hits = np.zeros(len(p_spans), dtype=bool)
    for k in np.argsort(-p_scores, kind="mergesort"):
        candidates = np.where(free & (overlap[k] >= iou - _IOU_TOLERANCE), overlap[k], -1.0)
        best = int(np.argmax(candidates)) if len(candidates) else -1
        if best >= 0 and candidates[best] >= 0:
            hits[k], free[best] = True, False
    return hits


def span_hits(pred_spans: Spans, scores: Sequence[float], true_spans: Spans, iou: float = 0.5) -> list[bool]:
    """Whether each predicted span of one series (in the order given) is right: matched one to one to a true
    span at IoU >= `iou` by the greedy matching of `span_map` (predictions by decreasing `scores`, each to the
    free true span it overlaps most). Labels and channels are not compared. Spans are half-open, in samples."""
    pred, true = _as_spans(pred_spans, "pred_spans"), _as_spans(true_spans, "true_spans")
    if len(scores) != len(pred):
        raise ValueError(f"span_hits needs one score per predicted span: {len(scores)} scores, {len(pred)} spans")
    return _greedy_hits(pred, np.asarray(scores, dtype=np.float64), true, _check_iou(iou)).tolist()


def _average_precision(scores: list[float], matched: list[bool], n_true: int) -> float:
    """COCO's 101-point interpolated average precision of scored detections, `matched` = true positive."""
    if not scores:
        return 0.0
    order = np.argsort(-np.asarray(scores), kind="mergesort")  # stable: ties keep corpus order, as in COCO
    tp = np.asarray(matched, dtype=np.float64)[order]
    tps, fps = np.cumsum(tp), np.cumsum(1.0 - tp)
    recall = tps / n_true
    precision = tps / (tps + fps)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the precision envelope
    where = np.searchsorted(recall, _RECALL_STEPS, side="left")
    return float(np.where(where < len(precision), precision[np.minimum(where, len(precision) - 1)], 0.0).mean())


def span_map(
    preds_with_scores: Sequence[Mapping[str, Any]],
    trues: Sequence[Mapping[str, Any]],
    ious: Iterable[float] = COCO_IOUS,
) -> dict[str, Any]:
    """COCO-style mean average precision of scored spans over a corpus, averaged over IoU thresholds.

    `preds_with_scores[i]` is the result of series i, `{"spans", "scores"}` with optional `"labels"`;
    `trues[i]` is `{"spans"}` with optional `"labels"`. Labels are used (AP per label, then the mean over the
    labels that have true spans, as COCO averages over categories) only when every series on both sides has
    them; otherwise detection is class-agnostic.

    For each threshold t: predictions are taken by decreasing score, each matched within its series to the
    unmatched true span of the same label with the highest IoU >= t (COCO's greedy matching), and AP is the
    mean over recall levels 0, 0.01, ..., 1 of the highest precision reached at that recall or beyond.
    Empty cases: with no true span in the corpus, mAP is 1 without predictions and 0 with any. Raises
    ValueError when a prediction has no score (`None`). Returns `{"map", "ap": {threshold: AP}}`.
    """
    _same_size(preds_with_scores, trues)
    thresholds = [_check_iou(t) for t in ious]
    if not thresholds:
        raise ValueError("span_map needs at least one IoU threshold")
    labelled = all(r.get("labels") is not None for r in [*preds_with_scores, *trues])

    # (series, label) -> spans; predictions also keep their scores
    true_groups: dict[tuple[int, Any], np.ndarray] = {}
    pred_groups: dict[tuple[int, Any], tuple[np.ndarray, np.ndarray]] = {}
    for i, (pred, true) in enumerate(zip(preds_with_scores, trues, strict=True)):
        t_spans = _as_spans(true["spans"], "true spans")
        t_labels = _check_labels(true["labels"], t_spans, "true labels") if labelled else [None] * len(t_spans)
        for label in set(t_labels):
            true_groups[i, label] = t_spans[[lab == label for lab in t_labels]]
        p_spans = _as_spans(pred["spans"], "predicted spans")
        scores = [] if pred.get("scores") is None else list(pred["scores"])
        if len(scores) != len(p_spans) or any(s is None for s in scores):
            raise ValueError(f"span_map needs one score per predicted span; series {i} has {scores!r}")
        p_labels = _check_labels(pred["labels"], p_spans, "predicted labels") if labelled else [None] * len(p_spans)
        for label in set(p_labels):
            keep = [lab == label for lab in p_labels]
            pred_groups[i, label] = (p_spans[keep], np.asarray(scores, dtype=np.float64)[keep])

    classes = sorted({label for _, label in true_groups}, key=str)
    if not classes:
        value = 0.0 if pred_groups else 1.0
        return {"map": value, "ap": {t: value for t in thresholds}}
    ap = {}
    for t in thresholds:
        per_class = []
        for label in classes:
            n_true = sum(len(s) for (_, lab), s in true_groups.items() if lab == label)
            ranked: list[float] = []  # scores of the predictions of this label, and whether each is a hit
            hits: list[bool] = []
            for (i, lab), (p_spans, p_scores) in pred_groups.items():
                if lab != label:
                    continue
                matched = _greedy_hits(p_spans, p_scores, true_groups.get((i, label), np.zeros((0, 2))), t)
                for k in np.argsort(-p_scores, kind="mergesort"):
                    ranked.append(float(p_scores[k]))
                    hits.append(bool(matched[k]))
            per_class.append(_average_precision(ranked, hits, n_true))
        ap[t] = float(np.mean(per_class))
    return {"map": float(np.mean(list(ap.values()))), "ap": ap}


# ---------------------------------------------------------------------------------------------------------
# Channel attribution


CHANNEL_OUTCOMES: tuple[str, ...] = ("right", "none", "wrong", "named")
"""How the channel of a matched prediction compares with the truth's: `right` the same (a channel, or None and
None), `none` None where the truth names a channel, `wrong` another channel, `named` a channel where the truth is
None (every channel)."""


def _channel_outcome(predicted: int | None, true: int | None) -> str:
    if predicted == true:
        return "right"
    if predicted is None:
        return "none"
    return "named" if true is None else "wrong"


def channel_agreement(
    preds: Sequence[Mapping[str, Any]], trues: Sequence[Mapping[str, Any]], iou: float = 0.5
) -> dict[str, Any]:
    """Whether the spans a model places right also name the right channel, over a corpus.

    `preds[i]` and `trues[i]` are results of series i, `{"spans", "channels"}` (a channel index, or None for
    every channel; a result without `"channels"` names none, None for each span). Within each series, predictions
    are matched one to one to true spans at IoU >= `iou`, labels ignored (`span_prf`'s maximum matching, of its
    maximum matchings one of the largest total IoU); each matched pair is one `CHANNEL_OUTCOMES` outcome. None is
    one more answer, right only against None: a prediction of None for a defect on one channel is not right.
    Returns `{"accuracy": right / matched (vacuously 1 with no match), "matched": pairs, **{outcome: count}}`.
    """
    _same_size(preds, trues)
    threshold = _check_iou(iou)
    counts = Counter({outcome: 0 for outcome in CHANNEL_OUTCOMES})
    for pred, true in zip(preds, trues, strict=True):
        p_spans, t_spans = _as_spans(pred["spans"], "predicted spans"), _as_spans(true["spans"], "true spans")
        p_channels = list(pred.get("channels") or [None] * len(p_spans))
        t_channels = list(true.get("channels") or [None] * len(t_spans))
        _check_labels(p_channels, p_spans, "predicted channels")
        _check_labels(t_channels, t_spans, "true channels")
        for r, c in _matched_pairs(p_spans, t_spans, threshold, None, None):
            counts[_channel_outcome(p_channels[r], t_channels[c])] += 1
    matched = sum(counts.values())
    return {"accuracy": _ratio(counts["right"], matched), "matched": matched, **counts}


def label_agreement(
    preds: Sequence[Mapping[str, Any]], trues: Sequence[Mapping[str, Any]], iou: float = 0.5
) -> dict[str, Any]:
    """Whether the spans placed right also carry the right label, over a corpus: what span-to-category accuracy is
    for an annotator that finds its own spans. `preds[i]` and `trues[i]` are results of series i, `{"spans",
    "labels"}`; within each series, predictions are matched one to one to true spans at IoU >= `iou`, labels
    ignored (as `channel_agreement`). Returns `{"accuracy": same label / matched (vacuously 1 with no match),
    "matched": pairs}`."""
    _same_size(preds, trues)
    threshold = _check_iou(iou)
    right = matched = 0
    for pred, true in zip(preds, trues, strict=True):
        p_spans, t_spans = _as_spans(pred["spans"], "predicted spans"), _as_spans(true["spans"], "true spans")
        p_labels = _check_labels(pred["labels"], p_spans, "predicted labels")
        t_labels = _check_labels(true["labels"], t_spans, "true labels")
        pairs = _matched_pairs(p_spans, t_spans, threshold, None, None)
        matched += len(pairs)
        right += sum(p_labels[r] == t_labels[c] for r, c in pairs)
    return {"accuracy": _ratio(right, matched), "matched": matched}


# ---------------------------------------------------------------------------------------------------------
# Anomalies: event-wise F1 and affiliation


def _overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each span of `a` shares at least one sample with each span of `b`, `[len(a) x len(b)]`."""
    return (a[:, None, 0] < b[None, :, 1]) & (b[None, :, 0] < a[:, None, 1])


def _event_counts(pred: Spans, true: Spans) -> tuple[int, int, int, int]:
    p, t = _as_spans(pred, "pred"), _as_spans(true, "true")
    hit = _overlaps(p, t)
    return int(hit.any(axis=1).sum()), len(p), int(hit.any(axis=0).sum()), len(t)


def _event_result(pred_hits: int, n_pred: int, detected: int, n_true: int) -> dict[str, Any]:
    precision, recall = _ratio(pred_hits, n_pred), _ratio(detected, n_true)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "pred_hits": pred_hits,
        "pred_events": n_pred,
        "detected": detected,
        "true_events": n_true,
    }


def event_f1(pred: Spans, true: Spans) -> dict[str, Any]:
    """Event-wise precision, recall and F1 of one series (spans in samples, labels ignored).

    A true event is detected when at least one predicted span shares a sample with it (touching spans do
    not); recall = detected / true events. Precision = predicted spans sharing a sample with some true
    event / predicted spans. Several predictions may detect the same event and one prediction may detect
    several. Returns `{"precision", "recall", "f1", "pred_hits", "pred_events", "detected", "true_events"}`.
    """
    return _event_result(*_event_counts(pred, true))


def event_f1_corpus(preds: Sequence[Spans], trues: Sequence[Spans]) -> dict[str, Any]:
    """`event_f1` over a corpus, counts summed over series (micro average)."""
    _same_size(preds, trues)
    counts = np.zeros(4, dtype=np.int64)
    for pred, true in zip(preds, trues, strict=True):
        counts += _event_counts(pred, true)
    return _event_result(*counts.tolist())


def _union(spans: np.ndarray) -> list[Interval]:
    """Sorted union of spans as disjoint intervals; touching spans merge (the series points they cover)."""
    merged: list[list[float]] = []
    for start, end in sorted(spans.tolist()):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _far_mass(d: np.ndarray | float, side: float) -> np.ndarray:
    """Integral over [0, d] of max(side - u, 0) du: how much of one side of a zone lies farther than u."""
    d = np.minimum(d, side)
    return side * d - d * d / 2


def _affiliation_precision(pieces: list[Interval], zone: Interval, event: Interval) -> float:
    """Mean over the predicted points y of the zone of P(a uniform point of the zone is farther from the event)."""
    (lo, hi), (s, e) = zone, event
    left, right = s - lo, hi - e
    total = integral = 0.0
    for u, v in pieces:
        total += v - u
        integral += max(0.0, min(v, e) - max(u, s))  # inside the event: probability 1
        if u < s:  # distances s - y for y in [u, min(v, s)]
            near, far = s - min(v, s), s - u
            integral += sum(_far_mass(far, side) - _far_mass(near, side) for side in (left, right)) / (hi - lo)
        if v > e:  # distances y - e for y in [max(u, e), v]
            near, far = max(u, e) - e, v - e
            integral += sum(_far_mass(far, side) - _far_mass(near, side) for side in (left, right)) / (hi - lo)
    return float(integral / total)


def _affiliation_recall(pieces: list[Interval], zone: Interval, event: Interval) -> float:
    """Mean over the event's points x of P(a uniform point of the zone is farther from x than the predictions)."""
    (lo, hi), (s, e) = zone, event
    starts = np.array([u for u, _ in pieces])
    ends = np.array([v for _, v in pieces])

    def survival(x: np.ndarray) -> np.ndarray:
        gap = np.maximum(np.maximum(starts[None, :] - x[:, None], x[:, None] - ends[None, :]), 0.0).min(axis=1)
        return (np.maximum(x - lo - gap, 0.0) + np.maximum(hi - x - gap, 0.0)) / (hi - lo)

    # The survival is piecewise linear in x; its kinks are at piece ends, midpoints between pieces and where a
    # term of the max reaches 0, so the trapezoid rule on these breakpoints is exact.
    ends_all = np.concatenate([starts, ends])
    kinks = np.concatenate([[s, e], ends_all, (ends[:-1] + starts[1:]) / 2, (lo + ends_all) / 2, (hi + ends_all) / 2])
    x = np.unique(np.clip(kinks, s, e))
    y = survival(x)
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (e - s))


def affiliation_prf(pred: Spans, true: Spans, length: int) -> dict[str, Any]:
    """Affiliation precision, recall and F1 of Huet, Navarro and Rossi (KDD 2022) for one series.

    Spans are read as intervals of time `[start, end]` on `[0, length]` (a sample i covers `[i, i + 1]`, as the
    reference implementation's `convert_vector_to_events` does); overlapping or touching spans are merged
    and labels ignored. Each true event j owns an affiliation zone: the points of `[0, length]` closer to it
    than to any other true event (zone borders halfway between consecutive events).

    - Precision of zone j, defined when predictions fall in it: the mean over predicted points y of the zone
      of the probability that a point drawn uniformly in the zone is farther from event j than y (1 inside
      the event).
    - Recall of zone j: the mean over points x of event j of the probability that a point drawn uniformly in
      the zone is farther from x than the nearest prediction of the zone (0 without predictions in the zone).

    Precision is the mean over zones where it is defined, recall the mean over all zones, F1 their harmonic
    mean. Empty cases follow the module convention where the reference is undefined: with true events but no
    predictions, precision is 1 (the reference gives NaN), recall 0; without true events (the reference
    refuses), precision is 1 without predictions and 0 with some, and recall is 1.
    Returns `{"precision", "recall", "f1"}`.
    """
    n = _check_length(length)
    predicted = _union(_as_spans(pred, "pred", n))
    events = _union(_as_spans(true, "true", n))
    if not events:
        precision = 0.0 if predicted else 1.0
        return {"precision": precision, "recall": 1.0, "f1": _f1(precision, 1.0)}
    borders = [0.0, *((events[j][1] + events[j + 1][0]) / 2 for j in range(len(events) - 1)), float(n)]
    precisions, recalls = [], []
    for j, event in enumerate(events):
        zone = (borders[j], borders[j + 1])
        pieces = [(max(u, zone[0]), min(v, zone[1])) for u, v in predicted if min(v, zone[1]) > max(u, zone[0])]
        if pieces:
            precisions.append(_affiliation_precision(pieces, zone, event))
            recalls.append(_affiliation_recall(pieces, zone, event))
        else:
            recalls.append(0.0)
    precision = float(np.mean(precisions)) if precisions else 1.0
    recall = float(np.mean(recalls))
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def affiliation_prf_corpus(preds: Sequence[Spans], trues: Sequence[Spans], lengths: Sequence[int]) -> dict[str, Any]:
    """`affiliation_prf` over a corpus: precision averaged over the series with predictions, recall over the
    series with true events (the reference averages zones the same way), F1 the harmonic mean of the two.
    Each average is vacuously 1 when no series qualifies."""
    _same_size(preds, trues)
    _same_size(lengths, trues, "lengths")
    precisions, recalls = [], []
    for pred, true, n in zip(preds, trues, lengths, strict=True):
        scores = affiliation_prf(pred, true, n)
        if len(pred):
            precisions.append(scores["precision"])
        if len(true):
            recalls.append(scores["recall"])
    precision = float(np.mean(precisions)) if precisions else 1.0
    recall = float(np.mean(recalls)) if recalls else 1.0
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


# ---------------------------------------------------------------------------------------------------------
# Anomaly scores per sample: AUC-PR and VUS-PR (threshold-free, as TSB-AD reports them)

VUS_THRESHOLDS = 250
"""Thresholds of TSB-AD's VUS (`thre`): the scores at 250 evenly spaced ranks of the sorted scores."""
TSB_AD_HINT = "pip install --no-deps tsb-ad==1.5 (its metrics need only NumPy, SciPy, statsmodels and scikit-learn)"


def point_labels(spans: Spans, length: int) -> np.ndarray:
    """0/1 per sample (int `[length]`): 1 inside a span of `spans` (half-open, in samples)."""
    n = _check_length(length)
    labels = np.zeros(n, dtype=np.int64)
    for start, end in _as_spans(spans, "true", n):
        labels[int(start) : int(end)] = 1
    return labels


def _check_point_scores(labels: np.ndarray, scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    array = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or array.shape != labels.shape:
        raise ValueError(f"scores must be one per sample: {array.shape} scores for {labels.shape} labels")
    if not np.isfinite(array).all():
        raise ValueError(f"scores must be finite; {int((~np.isfinite(array)).sum())} are not")
    if not set(np.unique(labels).tolist()) <= {0, 1}:
        raise ValueError("labels must be 0 or 1 per sample")
    return labels.astype(np.int64), array


def auc_pr(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the precision-recall curve of per-sample `scores` against per-sample 0/1 `labels`, as TSB-AD's
    AUC-PR: scikit-learn's `average_precision_score` (step-wise, no interpolation). A constant score gives the
    share of true samples. ValueError when the labels are all 0 or all 1 (the curve is then not defined)."""
    from sklearn.metrics import average_precision_score

    labels, array = _check_point_scores(np.asarray(labels), scores)
    if labels.min() == labels.max():
        raise ValueError(f"AUC-PR needs true and normal samples; all {len(labels)} labels are {labels[0]}")
    return float(average_precision_score(labels, array))


def vus_pr(labels: Sequence[int], scores: Sequence[float], window: int) -> float:
    """Volume under the precision-recall surface (Paparrizos et al., VLDB 2022), TSB-AD's implementation
    (`tsb-ad`'s `generate_curve`, its `opt` version with `VUS_THRESHOLDS` thresholds): the range-based PR curve
    (each true run extended by a buffer of `b // 2` samples on each side, weighted by a square-root ramp, recall
    times the share of runs found) averaged over buffer lengths `b = 0 .. window` samples. `window` is TSB-AD's
    `slidingWindow` (`vus_window`). ValueError when the labels are all 0 or all 1, ImportError without tsb-ad."""
    labels, array = _check_point_scores(np.asarray(labels), scores)
    if labels.min() == labels.max():
        raise ValueError(f"VUS-PR needs true and normal samples; all {len(labels)} labels are {labels[0]}")
    if int(window) < 0:
        raise ValueError(f"window must be >= 0 samples, got {window}")
    try:
        from TSB_AD.evaluation.basic_metrics import generate_curve
    except ImportError:
        raise ImportError(f"VUS-PR is TSB-AD's: {TSB_AD_HINT}") from None
    *_, vus = generate_curve(labels, array, int(window), version="opt", thre=VUS_THRESHOLDS)
    return float(vus)


def vus_window(series: Sequence[float]) -> int:
    """TSB-AD's window of VUS for a series (`slidingWindow` of its benchmark scripts, which take the first channel
    of a multichannel series): `find_length_rank(rank=1)`, the lag in 6..303 samples of the highest local maximum
    of the autocorrelation (lags 3..400 of the first 20,000 samples), 125 when there is none. `series`: one channel
    `(time,)`; missing values are interpolated linearly (TSB-AD drops them). ImportError without tsb-ad."""
    try:
        from TSB_AD.utils.slidingWindows import find_length_rank
    except ImportError:
        raise ImportError(f"the window of VUS-PR is TSB-AD's: {TSB_AD_HINT}") from None
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"vus_window takes one channel (time,), got shape {x.shape}")
    observed = np.isfinite(x)
    if not observed.all():
        index = np.arange(len(x))
        x = np.interp(index, index[observed], x[observed]) if observed.any() else np.zeros(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant series: the autocorrelation divides by 0, TSB-AD gives 125
        return int(find_length_rank(x, rank=1))


def point_scores_corpus(
    scores: Sequence[Sequence[float]], trues: Sequence[Spans], lengths: Sequence[int], windows: Sequence[int]
) -> dict[str, Any]:
    """`auc_pr` and `vus_pr` over a corpus: the mean over the series that have both true and normal samples (the
    curves are not defined on the others; TSB-AD's series all have anomalies), as TSB-AD averages series. `scores`
    one sequence per series (one score per sample of its `lengths`), `trues` the true spans, `windows` the
    `vus_window` of each. Returns `{"auc_pr", "vus_pr", "series"}` (`series`: how many were averaged; the means
    are None when none)."""
    _same_size(scores, trues)
    _same_size(lengths, trues, "lengths")
    _same_size(windows, trues, "windows")
    aucs, volumes = [], []
    for score, true, n, window in zip(scores, trues, lengths, windows, strict=True):
        labels = point_labels(true, n)
        if len(score) != n:
            raise ValueError(f"scores must be one per sample: {len(score)} scores for a series of {n} samples")
        if labels.min() == labels.max():
            continue
        aucs.append(auc_pr(labels, score))
        volumes.append(vus_pr(labels, score, window))
    if not aucs:
        return {"auc_pr": None, "vus_pr": None, "series": 0}
    return {"auc_pr": float(np.mean(aucs)), "vus_pr": float(np.mean(volumes)), "series": len(aucs)}


# ---------------------------------------------------------------------------------------------------------
# Segmentation: covering and change-point F1 (TSSB)


def _boundaries(items: Sequence[Any], length: int, name: str) -> list[int]:
    """Sorted change points in (0, length) of a list of change points or of segments `[start, end)`.

    Segments give every start and end strictly inside the series, so a gap between two segments is a
    segment of its own. Points must be sample indices in [0, length); 0 is the start of the series, no change.
    """
    points: set[int] = set()
    for item in items:
        if isinstance(item, Sequence | np.ndarray):
            start, end = (operator.index(v) for v in item)
            if not 0 <= start < end <= length:
                raise ValueError(f"{name}: segment [{start}, {end}) must satisfy 0 <= start < end <= {length}")
            points.update((start, end))
        else:
            point = operator.index(item)
            if not 0 <= point < length:
                raise ValueError(f"{name}: change point {point} must satisfy 0 <= point < {length}")
            points.add(point)
    return sorted(p for p in points if 0 < p < length)


def covering(pred_segments_or_change_points: Sequence[Any], true_change_points: Sequence[Any], length: int) -> float:
    """Segmentation covering of the true segmentation by the predicted one (TSSB, Ermshaus et al. 2023; the
    TCPDBench definition of van den Burg and Williams, after Arbelaez et al. 2011).

    Both arguments are change points (sample indices where a new segment starts) or segments `[start, end)`;
    they cut `[0, length)` into segments. Covering = (1 / length) * sum over true segments A of
    |A| * max over predicted segments B of |A n B| / |A u B| (sizes in samples). In [0, 1]; 1 when both
    segmentations agree, including a series of length 1 or with no change point on either side.
    """
    n = _check_length(length)

    def segments(points: list[int]) -> np.ndarray:
        cuts = [0, *points, n]
        return np.array(list(zip(cuts[:-1], cuts[1:], strict=True)), dtype=np.float64)

    true = segments(_boundaries(true_change_points, n, "true_change_points"))
    pred = segments(_boundaries(pred_segments_or_change_points, n, "pred_segments_or_change_points"))
    best = span_iou(true, pred).max(axis=1)
    return float(np.sum((true[:, 1] - true[:, 0]) * best) / n)


def margin_in_samples(margin: float, length: int) -> int:
    """A change-point margin in samples: an int is samples; a float in [0, 1) is a fraction of `length`,
    rounded down as TSSB does (`int(0.01 * length)`)."""
    if isinstance(margin, bool):
        raise TypeError(f"margin must be an int (samples) or a float in [0, 1) (fraction), got {margin!r}")
    if isinstance(margin, int | np.integer):
        if margin < 0:
            raise ValueError(f"margin must be >= 0 samples, got {margin}")
        return int(margin)
    if not 0 <= margin < 1:
        raise ValueError(f"a fractional margin must be in [0, 1), got {margin}; give samples as an int")
    return int(margin * _check_length(length))


def change_point_f1(
    pred_points: Sequence[Any], true_points: Sequence[Any], length: int, margin: float = 0.01
) -> dict[str, Any]:
    """Precision, recall and F1 of change points with a margin, as TSSB computes them (TCPDBench's
    `f_measure` with one annotator).

    `margin` is in samples when an int, a fraction of `length` when a float in [0, 1) (default 1%, rounded
    down: TSSB's `int(0.01 * n)`). Following TSSB, the start of the series (index 0) is added to both sets
    (it always matches), the end is not; so no change point on either side scores 1 and each spurious
    prediction costs precision: P = TP / (predictions + 1), R = TP / (true points + 1). True points, in
    increasing order, are each matched to the nearest unmatched prediction within the margin (at most one
    each, ties to the earlier prediction), as TSSB does greedily. Points may also be given as segments
    (their inner boundaries). Returns `{"precision", "recall", "f1", "margin"}`, `margin` in samples.
    """
    n = _check_length(length)
    tolerance = margin_in_samples(margin, n)
    true = [0, *_boundaries(true_points, n, "true_points")]
    predicted = {0, *_boundaries(pred_points, n, "pred_points")}
    tp = len(_matched_points(predicted, true, tolerance))
    precision, recall = tp / len(predicted), tp / len(true)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "margin": tolerance}


def _matched_points(predicted: set[int], true: Sequence[int], tolerance: int) -> set[int]:
    """The predicted points that TSSB's greedy matching pairs with a true one: true points in increasing order,
    each to the nearest unmatched prediction within `tolerance` samples (ties to the earlier prediction)."""
    free, matched = set(predicted), set()
    for tau in true:
        close = sorted((abs(tau - x), x) for x in free if abs(tau - x) <= tolerance)
        if close:
            free.remove(close[0][1])
            matched.add(close[0][1])
    return matched


def change_point_hits(
    pred_points: Sequence[int], true_points: Sequence[int], length: int, margin: float = 0.01
) -> list[bool]:
    """Whether each predicted change point (a sample index, in the order given) is right: matched to a true one
    by `change_point_f1`'s matching with the same `margin` (samples when an int, a fraction of `length` when a
    float in [0, 1)). As there, the start of the series is a true point, so a prediction at sample 0 is right."""
    n = _check_length(length)
    true = [0, *_boundaries(true_points, n, "true_points")]
    predicted = [operator.index(p) for p in pred_points]
    _boundaries(predicted, n, "pred_points")  # the range check
    matched = _matched_points({0, *predicted}, true, margin_in_samples(margin, n))
    return [p in matched for p in predicted]


# ---------------------------------------------------------------------------------------------------------
# Calibration of item scores


CALIBRATION_BINS = 10
"""Equal-width bins of [0, 1] of the expected calibration error and the reliability diagram."""


def _check_scored_hits(scores: Sequence[float], hits: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    s, h = np.asarray(scores, dtype=np.float64).reshape(-1), np.asarray(hits, dtype=bool).reshape(-1)
    if len(s) != len(h):
        raise ValueError(f"{len(s)} scores for {len(h)} outcomes")
    if not np.all((s >= 0) & (s <= 1)):
        raise ValueError("scores must be probabilities in [0, 1]")
    return s, h


def reliability_bins(
    scores: Sequence[float], hits: Sequence[bool], bins: int = CALIBRATION_BINS
) -> list[dict[str, float | int | None]]:
    """The reliability diagram of scored items: `bins` equal-width bins of [0, 1] (the last one closed, so a
    score of 1 is in it), each `{"lower", "upper", "count", "mean_score", "accuracy"}` where `accuracy` is the
    fraction of the bin's items that are right (`hits`) and `mean_score` their mean score (both None in an empty
    bin). A calibrated score has accuracy equal to mean score in every bin."""
    s, h = _check_scored_hits(scores, hits)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    index = np.minimum((s * bins).astype(np.int64), bins - 1)
    out: list[dict[str, float | int | None]] = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        out.append(
            {
                "lower": b / bins,
                "upper": (b + 1) / bins,
                "count": count,
                "mean_score": float(s[inside].mean()) if count else None,
                "accuracy": float(h[inside].mean()) if count else None,
            }
        )
    return out


def expected_calibration_error(scores: Sequence[float], hits: Sequence[bool], bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error of scored items (Guo et al. 2017): over `bins` equal-width bins of [0, 1]
    (`reliability_bins`), the mean over items of |accuracy of its bin - mean score of its bin|, i.e. the sum of
    `count / items * |accuracy - mean_score|`. In [0, 1], 0 for calibrated scores; 0 for no item."""
    table = reliability_bins(scores, hits, bins)
    total = sum(b["count"] for b in table)
    if not total:
        return 0.0
    return float(sum(b["count"] * abs(b["accuracy"] - b["mean_score"]) for b in table if b["count"]) / total)


# ---------------------------------------------------------------------------------------------------------
# Grounding and classification


def _phrase_key(phrase: str) -> str:
    return " ".join(phrase.lower().split())


def spans_by_label(result: Mapping[str, Any]) -> dict[str, list[list[float]]]:
    """`{label: [span, ...]}` of a result dict with `"spans"` and `"labels"` (e.g. phrase grounding)."""
    grouped: dict[str, list[list[float]]] = {}
    for span, label in zip(result["spans"], result["labels"], strict=True):
        grouped.setdefault(label, []).append(list(span))
    return grouped


def grounding_recall(
    pred_spans_per_phrase: Mapping[str, Spans], true_spans_per_phrase: Mapping[str, Spans], iou: float = 0.5
) -> dict[str, Any]:
    """Recall of phrase grounding: the share of true (phrase, span) pairs found by a predicted span of the same
    phrase with IoU >= `iou`, matching one to one within each phrase (as `span_prf`).

    Phrases are compared lower-cased with runs of whitespace collapsed; predicted phrases that are not in the
    truth are ignored. Vacuously 1 without true spans. Returns `{"recall", "tp", "true_spans"}`.
    """
    preds: dict[str, list[Span]] = {}
    for phrase, spans in pred_spans_per_phrase.items():
        preds.setdefault(_phrase_key(phrase), []).extend(spans)
    trues: dict[str, list[Span]] = {}
    for phrase, spans in true_spans_per_phrase.items():
        trues.setdefault(_phrase_key(phrase), []).extend(spans)
    tp = n_true = 0
    for phrase, spans in trues.items():
        found, _, total = _span_tp(preds.get(phrase, []), spans, iou, None, None)
        tp, n_true = tp + found, n_true + total
    return {"recall": _ratio(tp, n_true), "tp": tp, "true_spans": n_true}


def classification_scores(pred_labels: Sequence[str], true_labels: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro F1 of predicted class labels (compared after stripping surrounding whitespace).

    Macro F1 is the mean over every label that is predicted or true of that label's F1 (a label never both
    predicted and true scores 0), as `sklearn.metrics.f1_score(average="macro")`. Raises ValueError on
    lists of different or zero length. Returns `{"accuracy", "macro_f1"}`.
    """
    _same_size(pred_labels, true_labels, "labels")
    if not true_labels:
        raise ValueError("classification_scores needs at least one example")
    pred = [str(p).strip() for p in pred_labels]
    true = [str(t).strip() for t in true_labels]
    correct = Counter(t for p, t in zip(pred, true, strict=True) if p == t)
    n_pred, n_true = Counter(pred), Counter(true)
    f1s = [2 * correct[c] / (n_pred[c] + n_true[c]) for c in n_pred.keys() | n_true.keys()]
    return {"accuracy": sum(correct.values()) / len(true), "macro_f1": float(np.mean(f1s))}


# ---------------------------------------------------------------------------------------------------------
# Captions: ROUGE-L and attribute accuracy

_TOKEN_SPLIT_RE = re.compile(r"[^a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN_SPLIT_RE.sub(" ", text.lower()).split()


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of `prediction` against `reference`: with L the length of their longest common
    subsequence of tokens, P = L / prediction tokens, R = L / reference tokens, F = 2PR / (P + R).

    Tokens are the lower-cased runs of letters and digits (whitespace and punctuation separate them), as
    the default tokenizer of `rouge_score` without stemming, so "rises." and "Rises" are one token. Two
    empty texts score 1, one empty text 0.
    """
    pred, ref = _tokens(prediction), _tokens(reference)
    if not pred or not ref:
        return float(not pred and not ref)
    common = _lcs_length(pred, ref)
    return _f1(common / len(pred), common / len(ref))


_NUMBER_WORDS = {
    "no": 0, "zero": 0, "one": 1, "a single": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_COUNT = r"(?P<count>\d+|" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True)) + ")"
_GENERIC_EVENTS = ("event", "anomaly", "outlier", "incident")
_KNOWN_EVENTS = (
    "spike", "dip", "peak", "trough", "drop", "surge", "jump", "level shift", "shift", "step", "trend change",
    "variance burst", "oscillation burst", "burst", "flat line", "plateau", "gap", "missing stretch",
)  # fmt: skip
# Words that cannot stand between a count and its noun: "3 samples after the spike" counts no spike.
_COUNT_STOP = r"(?:samples?|at|in|on|of|and|or|with|after|before|per|every|near|around|between|from|to|than)\b"
# A number right after these is a place or a period, not a count: "at sample 1200 a spike".
_NOT_A_COUNT = re.compile(r"(?:samples?|index|position|t\s*=|period|every|cycle)\s*$")

_ADVERB = r"(?:\w+ly\s+|overall\s+|then\s+|also\s+)?"
_TREND_SUBJECT = r"\b(?:series|it|signal|values?|level|data|curve|line)\s+" + _ADVERB
_TREND_VERBS = {
    "rising": r"ris(?:e|es|ing)|increas(?:e|es|ing)|climb(?:s|ing)?|grow(?:s|ing)?|ascend(?:s|ing)?|go(?:es)? up|"
    r"(?:drift|trend|head|move)(?:s|ing)? (?:up|upward|upwards|higher)",
    "falling": r"fall(?:s|ing)?|decreas(?:e|es|ing)|declin(?:e|es|ing)|descend(?:s|ing)?|decay(?:s|ing)?|"
    r"go(?:es)? down|(?:drift|trend|head|move)(?:s|ing)? (?:down|downward|downwards|lower)",
    "flat": r"(?:stays?|remains?|is|are|holds?|keeps?) (?:flat|stable|steady|constant|level)|"
    r"(?:drift|trend|move)(?:s|ing)? sideways",
}
_TREND_ADJECTIVES = {
    "rising": r"upward|upwards|rising|increasing|growing|climbing|positive|up",
    "falling": r"downward|downwards|falling|decreasing|declining|negative|down",
    "flat": r"flat|no|no clear|no visible|no significant|no obvious|no noticeable|without a|without any",
}
# A trend verb followed in the same clause by a sample place describes an event: "rises sharply at sample 300".
_NOT_AN_EVENT = r"(?![^,;.!?]*\b(?:samples?|index|position)\s+\d)"
_TREND_RES = {
    trend: [
        re.compile(_TREND_SUBJECT + rf"(?:{_TREND_VERBS[trend]})\b" + _NOT_AN_EVENT),
        # "trend change" is an event, not a trend
        re.compile(rf"\b(?:{adjectives})[\s-]+trend\b(?!\s+change)"),
        re.compile(rf"\btrend\s+(?:is|remains|stays)\s+(?:{adjectives})\b"),
    ]
    for trend, adjectives in _TREND_ADJECTIVES.items()
}
_TREND_RES["rising"].append(re.compile(r"\b(?:uptrend|trend(?:s|ing)?\s+(?:up|upward|upwards|higher))\b"))
_TREND_RES["falling"].append(re.compile(r"\b(?:downtrend|trend(?:s|ing)?\s+(?:down|downward|downwards|lower))\b"))
_TREND_RES["flat"].append(re.compile(r"\btrendless\b"))

_CALENDAR_MINUTES = {"minute": 1, "hour": 60, "day": 1440, "week": 10080, "month": 43830, "quarter": 131490,
                     "year": 525960}  # fmt: skip
_CALENDAR_PERIODS = {("day", "year"): 365, ("week", "year"): 52, ("month", "year"): 12}
_SAMPLING_WORDS = {"minutely": "minute", "hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month",
                   "quarterly": "quarter", "yearly": "year", "annual": "year"}  # fmt: skip
_UNIT = r"minute|hour|day|week|month|quarter|year"
_SAMPLING_RE = re.compile(
    r"\b(?P<word>minutely|hourly|daily|weekly|monthly|quarterly)\s+(?:data|series|samples|sampling|observations|"
    r"readings|measurements|values|resolution)\b"
    rf"|\b(?:sampled|recorded|measured|observed)\s+(?:once\s+)?(?:every|each|per|a|an)\s+(?P<unit>{_UNIT})\b"
    r"|\b(?:sampled|recorded|measured|observed)\s+(?P<word2>minutely|hourly|daily|weekly|monthly|quarterly)\b"
    rf"|\bone\s+(?:sample|value|reading|observation)\s+(?:per|every|each|a|an)\s+(?P<unit2>{_UNIT})\b"
)
_CYCLE_RE = re.compile(
    r"\b(?P<word>hourly|daily|weekly|monthly|yearly|annual)\s+(?:cycles?|seasonality|periodicity|period|"
    r"pattern|rhythm|seasonal\s+pattern)\b"
)
_APPROX = r"(?:about\s+|around\s+|roughly\s+|approximately\s+|~\s*)?"
_PERIOD_RES = (
    re.compile(rf"\bperiods?\s+(?:is\s+|are\s+|of\s+)?{_APPROX}(?P<p>\d+(?:\s*(?:,|and)\s*\d+)*)\b(?!\.\d)"),
    re.compile(rf"\bperiodicity\s+(?:is\s+|of\s+)?{_APPROX}(?P<p>\d+)\b(?!\.\d)"),
    re.compile(rf"\bevery\s+{_APPROX}(?P<p>\d+)\s+(?:samples|steps|points|observations)\b"),
    re.compile(r"\b(?P<p>\d+)[-\s](?:samples?|steps?|points?)\s+(?:cycles?|periods?|periodicity|seasonality|"
               r"rhythm|pattern|oscillation)\b"),
    re.compile(rf"\bcycles?\s+of\s+{_APPROX}(?P<p>\d+)\s+(?:samples|steps|points)\b"),
)  # fmt: skip
_NO_PERIOD_RE = re.compile(
    r"\b(?:no\s+(?:clear\s+|obvious\s+|visible\s+|significant\s+|noticeable\s+)?(?:seasonality|periodicity|"
    r"cycles?|seasonal\s+pattern)|not\s+periodic|aperiodic|non-periodic|without\s+(?:any\s+)?(?:seasonality|"
    r"periodicity))\b"
)
_BETWEEN_RE = re.compile(r"\bbetween\s+(?:samples|indices|positions)\s+(?P<a>\d+)\s+and\s+(?P<b>\d+)")
_RANGE = r"\d+(?:\s*(?:-|–|to|through|until)\s*\d+)?"
_SAMPLE_PLACE_RE = re.compile(
    rf"\b(?:samples?|index|indices|positions?|t\s*=)\s*{_RANGE}(?:\s*(?:,|and|, and)\s*{_RANGE})*"
)
_RANGE_RE = re.compile(r"(?P<a>\d+)(?:\s*(?:-|–|to|through|until)\s*(?P<b>\d+))?")
_REGION_RE = re.compile(
    r"\b(?:at|near|around|towards?|close\s+to|by|in)\s+the\s+(?:very\s+)?(?P<where>start|beginning|middle|centre|"
    r"center|end)\b"
    r"|\bin\s+the\s+(?P<nth>first|second|third|fourth|last|final)\s+(?P<part>half|third|quarter)\b"
)
# Regions, as fractions of the length, that a relative place names; start/middle/end overlap on purpose
# so that "near the middle" said of an event at 30% of the series is not counted wrong.
_REGIONS = {"start": (0.0, 0.4), "beginning": (0.0, 0.4), "middle": (0.25, 0.75), "centre": (0.25, 0.75),
            "center": (0.25, 0.75), "end": (0.6, 1.0)}  # fmt: skip
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_PARTS = {"half": 2, "third": 3, "quarter": 4}
PLACE_TOLERANCE = 0.02
"""A stated sample place is right within this fraction of the length (at least 1 sample) of a true event."""
PERIOD_TOLERANCE = 0.05
"""A stated period is right within this fraction of a true period."""


def _plural(noun: str) -> str:
    if noun.endswith("y"):
        return re.escape(noun[:-1]) + r"(?:y|ies)"
    return re.escape(noun) + r"(?:es|s)?"


def _sentences(text: str) -> list[str]:
    # A period between two digits is a decimal point, not the end of a sentence.
    return [s for s in re.split(r"(?<!\d)[.!?;]|[.!?;](?!\d)", text) if s.strip()]


def _stated_trends(text: str) -> list[str]:
    found = sorted(
        (m.start(), trend) for trend, patterns in _TREND_RES.items() for p in patterns for m in p.finditer(text)
    )
    return list(dict.fromkeys(trend for _, trend in found))


def _sampling_unit(text: str, truth: Mapping[str, Any]) -> str | None:
    match = _SAMPLING_RE.search(text)
    if match:
        return match["unit"] or match["unit2"] or _SAMPLING_WORDS[match["word"] or match["word2"]]
    given = str(truth.get("sampling") or "").strip().lower()
    return _SAMPLING_WORDS.get(given) or (given if given in _CALENDAR_MINUTES else None)


def _stated_periods(text: str, truth: Mapping[str, Any]) -> list[tuple[str, int | None]]:
    """(caption fragment, period in samples or None for "no seasonality") of every stated period."""
    found = [
        (m[0], int(p)) for pattern in _PERIOD_RES for m in pattern.finditer(text) for p in re.findall(r"\d+", m["p"])
    ]
    unit = _sampling_unit(text, truth)
    if unit is not None:
        for m in _CYCLE_RE.finditer(text):
            cycle = _SAMPLING_WORDS[m["word"]]
            ratio = _CALENDAR_MINUTES[cycle] / _CALENDAR_MINUTES[unit]
            if ratio > 1:
                found.append((m[0], _CALENDAR_PERIODS.get((unit, cycle), round(ratio))))
    found += [(m[0], None) for m in _NO_PERIOD_RE.finditer(text)]
    return found


def _truth_events(truth: Mapping[str, Any]) -> list[tuple[float, float, str | None]]:
    events = []
    for event in truth.get("events") or []:
        if isinstance(event, Mapping):
            start, end, label = event["start"], event["end"], event.get("label")
        else:
            start, end, *rest = event
            label = rest[0] if rest else None
        events.append((start, end, None if label is None else str(label).lower()))
    return events


def _true_count(noun: str, truth: Mapping[str, Any]) -> int | None:
    """How many true events a stated count of `noun` should equal; None when the truth cannot tell."""
    if noun in _GENERIC_EVENTS:
        if truth.get("event_count") is not None:
            return int(truth["event_count"])
        return len(truth["events"]) if truth.get("events") is not None else None
    if truth.get("events") is None:
        return None
    # "3 bursts" counts variance and oscillation bursts alike
    return sum(
        1 for *_, label in _truth_events(truth) if label is not None and (label == noun or label.endswith(" " + noun))
    )


def _region(match: re.Match[str], n: int) -> tuple[float, float]:
    if match["where"]:
        lo, hi = _REGIONS[match["where"]]
    else:
        parts = _PARTS[match["part"]]
        k = parts if match["nth"] in ("last", "final") else min(_ORDINALS[match["nth"]], parts)
        lo, hi = (k - 1) / parts, k / parts
    return lo * n, hi * n


def caption_attribute_accuracy(caption: str, truth: Mapping[str, Any]) -> dict[str, Any]:
    """Which attributes a caption states, and whether they are right, read with regular expressions.

    `truth` may hold `trend` ("rising" / "falling" / "flat"), `periods` (seasonal periods in samples, [] for
    none), `event_count` (int), `events` (`(start, end, label)` tuples or dicts; samples, half-open), `length`
    (samples) and `sampling` ("hourly", "daily", ...). An attribute is scored when the caption states it and
    the truth holds what is needed to check it: True when everything the caption states about it is right,
    False otherwise; None when not stated or not checkable.

    - `trend`: "the series rises / increases / climbs / grows / drifts upward" (a verb after series, it,
      signal, values, ..., maybe with an adverb; not when its clause names a sample, which makes it an
      event), "upward trend", "uptrend" -> rising; falls / decreases / declines / downward -> falling;
      "stays flat / stable", "no clear trend", "trendless" -> flat ("trend change" is an event).
    - `period`: "period of 24 (samples)", "the period is 24", "periods of 24 and 168", "every 24 samples",
      "24-sample cycle", "cycle of 24 samples"; "daily / weekly / yearly cycle" only when the sampling is
      known (stated, as "hourly data" or "sampled every hour", else `truth["sampling"]`), converted with
      calendar durations (hourly data, daily cycle: 24); "no (clear) seasonality" states that there is none.
      Right within 5% of a true period (`PERIOD_TOLERANCE`).
    - `event_count`: a number (digits, "no", "zero" ... "twelve", "a single") before an event noun, with at
      most two words between ("3 large spikes", "three anomalies", "no dips"; not after "sample" or
      "period"). Generic nouns (events, anomalies, outliers, incidents) count every true event
      (`event_count`, else `len(events)`); other nouns count the true events whose label is the noun or ends
      with it ("2 bursts": variance and oscillation bursts). Nouns: known event kinds and the truth's labels.
    - `places`: in sentences naming an event noun, "sample 1,200", "samples 100 to 200", "samples 40 and
      90" (two places), "between samples 100 and 200", "index 50" are right within 2% of the length
      (`PLACE_TOLERANCE`, at least 1 sample) of a true event; "at the start / near the middle / towards the
      end" (first 40%, 25-75%, last 40% of the series) and "in the first / last quarter / third / half" are
      right when a true event overlaps that region. Needs `events` and `length`; a place is not tied to the
      event kind its sentence names.

    Thousands separators are removed first ("1,200" -> 1200). `contradictions` lists the caption fragments
    whose number the truth contradicts (a wrong period or count as written, a wrong place as "sample 500"
    or "samples 100 to 200"). `accuracy` is the share of
    scored attributes that are right, None when none is. Returns `{"trend", "period", "event_count",
    "places", "accuracy", "contradictions", "stated"}`; `stated` is what was read: `{"trend": [...],
    "periods": [...] (None for "no seasonality"), "counts": [(noun, n), ...], "places": [...]}`.
    """
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", caption.lower())
    stated: dict[str, list[Any]] = {"trend": _stated_trends(text), "periods": [], "counts": [], "places": []}
    contradictions: list[str] = []
    trend = None
    if stated["trend"] and truth.get("trend") is not None:
        trend = all(t == str(truth["trend"]).lower() for t in stated["trend"])
    nouns = _EventNouns(truth)
    scores: dict[str, bool | None] = {
        "trend": trend,
        "period": _period_verdict(text, truth, stated, contradictions),
        "event_count": _count_verdict(text, truth, nouns, stated, contradictions),
        "places": _place_verdict(text, truth, nouns, stated, contradictions),
    }
    scored = [v for v in scores.values() if v is not None]
    return {
        **scores,
        "accuracy": sum(scored) / len(scored) if scored else None,
        "contradictions": list(dict.fromkeys(contradictions)),
        "stated": stated,
    }


# The verdicts of `caption_attribute_accuracy` on one attribute each: True / False / None (not stated or not
# checkable); each adds what it read to `stated` and the fragments the truth contradicts to `contradictions`.


class _EventNouns:
    """The nouns that name events in a caption (generic ones, the known event kinds and the truth's labels),
    longest first, and the regular expression of any of them, singular or plural."""

    def __init__(self, truth: Mapping[str, Any]) -> None:
        labels = {label for *_, label in _truth_events(truth) if label}
        self.nouns = sorted({*_GENERIC_EVENTS, *_KNOWN_EVENTS, *labels}, key=len, reverse=True)
        self.pattern = "|".join(map(_plural, self.nouns))


def _period_verdict(text: str, truth: Mapping[str, Any], stated: dict, contradictions: list[str]) -> bool | None:
    periods = _stated_periods(text, truth)
    stated["periods"] = [p for _, p in periods]
    if not periods or truth.get("periods") is None:
        return None
    true_periods = [float(q) for q in truth["periods"]]
    checks = []
    for fragment, period in periods:
        if period is None:
            checks.append(not true_periods)
        else:
            checks.append(any(abs(period - q) <= PERIOD_TOLERANCE * q for q in true_periods))
            if not checks[-1]:
                contradictions.append(fragment)
    return all(checks)


def _count_verdict(
    text: str, truth: Mapping[str, Any], nouns: _EventNouns, stated: dict, contradictions: list[str]
) -> bool | None:
    count_re = re.compile(rf"\b{_COUNT}\s+(?:(?!{_COUNT_STOP})[a-z-]+\s+){{0,2}}?(?P<noun>{nouns.pattern})\b")
    checks = []
    for m in count_re.finditer(text):
        if _NOT_A_COUNT.search(text[: m.start()]):
            continue
        noun = next(n for n in nouns.nouns if re.fullmatch(_plural(n), m["noun"]))
        value = int(m["count"]) if m["count"].isdigit() else _NUMBER_WORDS[m["count"]]
        stated["counts"].append((noun, value))
        expected = _true_count(noun, truth)
        if expected is not None:
            checks.append(value == expected)
            if value != expected:
                contradictions.append(m[0])
    return all(checks) if checks else None


def _place_verdict(
    text: str, truth: Mapping[str, Any], nouns: _EventNouns, stated: dict, contradictions: list[str]
) -> bool | None:
    events = _truth_events(truth)
    n = truth.get("length")
    checkable = truth.get("events") is not None and n is not None
    names_event = re.compile(rf"\b(?:{nouns.pattern})\b")
    checks = []
    for sentence in filter(names_event.search, _sentences(text)):
        samples = [(int(m["a"]), int(m["b"])) for m in _BETWEEN_RE.finditer(sentence)]
        samples += [
            (int(r["a"]), int(r["b"] or r["a"]))
            for m in _SAMPLE_PLACE_RE.finditer(_BETWEEN_RE.sub(" ", sentence))
            for r in _RANGE_RE.finditer(m[0])
        ]
        for a, b in samples:  # samples a..b, both included
            stated["places"].append(a if a == b else (a, b))
            if checkable:
                tolerance = max(1.0, PLACE_TOLERANCE * n)
                checks.append(any(s - tolerance <= b and a < e + tolerance for s, e, _ in events))
                if not checks[-1]:
                    contradictions.append(f"sample {a}" if a == b else f"samples {a} to {b}")
        for m in _REGION_RE.finditer(sentence):
            stated["places"].append(m[0])
            if checkable:
                lo, hi = _region(m, n)
                checks.append(any(s < hi and lo < e for s, e, _ in events))
    return all(checks) if checks else None


__all__ = [
    "CALIBRATION_BINS",
    "CHANNEL_OUTCOMES",
    "COCO_IOUS",
    "PERIOD_TOLERANCE",
    "PLACE_TOLERANCE",
    "affiliation_prf",
    "affiliation_prf_corpus",
    "auc_pr",
    "caption_attribute_accuracy",
    "change_point_f1",
    "change_point_hits",
    "channel_agreement",
    "classification_scores",
    "covering",
    "event_f1",
    "event_f1_corpus",
    "expected_calibration_error",
    "grounding_recall",
    "label_agreement",
    "margin_in_samples",
    "point_labels",
    "point_scores_corpus",
    "reliability_bins",
    "rouge_l",
    "span_hits",
    "span_iou",
    "span_map",
    "span_prf",
    "span_prf_corpus",
    "spans_by_label",
    "vus_pr",
    "vus_window",
]
