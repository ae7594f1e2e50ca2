"""Windowed inference for series longer than the model's resolution, and 1-D non-maximum suppression.

A long series is cut into overlapping windows; each window is run through the model and its results,
in window indices, are shifted back to series indices and merged: detection spans by 1-D NMS, regime
segments and points by ownership (each window owns the part of the series nearest to its centre).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .tasks import get_task


def span_iou(
    a: Sequence[float] | Sequence[Sequence[float]], b: Sequence[float] | Sequence[Sequence[float]]
) -> float | np.ndarray:
    """Intersection over union of half-open spans `[start, end)` in samples, the one home of the formula (NMS, the
    engine's merge, the metrics): of two spans, a float; of two sequences of spans, every span of `a` against every
    span of `b`, an array `[len(a) x len(b)]` (a single span beside a sequence counts as a sequence of one).

    `[0, 5)` and `[5, 10)` share no sample: IoU 0. The IoU is 0 where the union is empty; spans are not checked
    (the metrics refuse a span with end <= start before they get here).
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    for spans, given in ((x, a), (y, b)):
        if spans.size and (spans.ndim not in (1, 2) or spans.shape[-1] != 2):
            raise ValueError(f"spans must be a [start, end) pair or a sequence of them, got {given!r}")
    one = x.ndim == 1 and y.ndim == 1 and x.size == y.size == 2
    x, y = x.reshape(-1, 2), y.reshape(-1, 2)
    inter = np.clip(np.minimum(x[:, None, 1], y[None, :, 1]) - np.maximum(x[:, None, 0], y[None, :, 0]), 0, None)
    union = (x[:, 1] - x[:, 0])[:, None] + (y[:, 1] - y[:, 0])[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return float(iou[0, 0]) if one else iou


def nms_1d(spans: Sequence[Sequence[int]], scores: Sequence[float | None], iou_threshold: float = 0.5) -> list[int]:
    """Indices of the spans kept by greedy non-maximum suppression, best score first: a span is dropped
    when it overlaps a kept one with IoU above `iou_threshold`. A score of None counts as 0."""
    order = sorted(range(len(spans)), key=lambda i: -(scores[i] if scores[i] is not None else 0.0))
    overlaps = span_iou(spans, spans) if len(spans) else None  # every pair once, not one call per pair
    kept: list[int] = []
    for i in order:
        if not kept or overlaps[i, kept].max() <= iou_threshold:
            kept.append(i)
    return kept


def window_starts(length: int, window: int, overlap: float = 0.25) -> list[int]:
    """Start indices of windows of `window` samples covering `[0, length)` with the given overlap fraction;
    the last window ends at `length`. A series no longer than the window gives one window at 0."""
    if window < 2:
        raise ValueError(f"window ({window}) must be at least 2 samples")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap ({overlap}) must be in [0, 1)")
    if length <= window:
        return [0]
    step = max(1, int(window * (1 - overlap)))
    starts = list(range(0, length - window, step))
    return starts + [length - window]


def _ownership(starts: Sequence[int], window: int, length: int) -> list[tuple[int, int]]:
    """The region `[lo, hi)` of the series each window answers for: boundaries at the middle of overlaps."""
    bounds = [0]
    for prev, nxt in zip(starts[:-1], starts[1:], strict=False):
        bounds.append((nxt + min(prev + window, length)) // 2)
    bounds.append(length)
    return list(zip(bounds[:-1], bounds[1:], strict=False))


def merge_windows(
    task: str,
    results: Sequence[dict],
    starts: Sequence[int],
    window: int,
    length: int,
    iou_threshold: float = 0.5,
) -> dict:
    """Merges per-window results (inner dicts of `post_process_generation`, window indices) into one
    result in series indices: points and segments by ownership, detection spans so that what two windows both saw
    is one span (see the comment below)."""
    spec = get_task(task)
    if spec.output_kind == "text":
        raise ValueError(f"windowed inference applies to span and point tasks, not to {task} (text output)")
    owners = _ownership(starts, window, length)
    if spec.output_kind == "points":
        points, scores = [], []
        for result, start, (lo, hi) in zip(results, starts, owners, strict=False):
            for p, s in zip(result.get("points", []), result.get("scores", []), strict=False):
                if lo <= p + start < hi:
                    points.append(p + start)
                    scores.append(s)
        order = np.argsort(points, kind="stable")
        return {"points": [points[i] for i in order], "scores": [scores[i] for i in order]}

    items: list[dict] = []
    seen_in: list[int] = []  # the window of each item
    margins: list[int] = []  # samples between the item and the nearer edge of its window (the series' ends excepted)
    for k, (result, start, (lo, hi)) in enumerate(zip(results, starts, owners, strict=False)):
        n = len(result.get("spans", []))
        for i in range(n):
            s, e = result["spans"][i]
            item = {key: result[key][i] for key in result if isinstance(result[key], list) and len(result[key]) == n}
            if spec.output_kind == "segments":
                # Segments tile the series: clip each window's segments to the region it owns.
                s, e = max(s + start, lo), min(e + start, hi)
                if s >= e:
                    continue
            else:
                s, e = s + start, e + start
            item["spans"] = [s, e]
            items.append(item)
            seen_in.append(k)
            left = s - start if start > 0 else length
            right = min(start + window, length) - e if start + window < length else length
            margins.append(min(left, right))

    if spec.output_kind == "segments":
        items.sort(key=lambda it: it["spans"][0])
        merged: list[dict] = []
        for item in items:
            if merged and merged[-1].get("labels") == item.get("labels") and merged[-1]["spans"][1] >= item["spans"][0]:
                merged[-1]["spans"] = [merged[-1]["spans"][0], max(merged[-1]["spans"][1], item["spans"][1])]
            else:
                merged.append(item)
        items = merged
    else:
        # One thing seen by two windows is one span: of spans of one label that overlap and come from different
        # windows, the one seen farthest from its window's edges is kept (a window cuts what crosses its edge);
        # within a window, spans of one label overlapping with IoU above the threshold are one (1-D NMS).
        spans = [it["spans"] for it in items]
        overlaps = span_iou(spans, spans) if spans else None
        order = sorted(range(len(items)), key=lambda i: (-margins[i], -(items[i].get("scores") or 0.0)))
        keep: list[int] = []
        for i in order:
            label = items[i].get("labels")
            if not any(
                items[j].get("labels") == label
                and (overlaps[i, j] > iou_threshold or (seen_in[i] != seen_in[j] and overlaps[i, j] > 0))
                for j in keep
            ):
                keep.append(i)
        items = sorted((items[i] for i in keep), key=lambda it: tuple(it["spans"]))

    keys = list(results[0].keys()) if results else ["spans"]
    return {key: [it.get(key) for it in items] for key in keys if key != "timestamps"}


def drop_repeated_spans(task: str, result: dict) -> dict:
    """`result` (series indices) without the spans that repeat an earlier one: of spans of one label and channel
    that overlap, the first is kept (the decoder's answer comes before the cell head's additions). Two spans that
    did not overlap as the model wrote them can after boundary refinement (`ts_florence.boundaries`): both snapped
    onto the same extreme sample, or onto the same stuck run."""
    if get_task(task).output_kind not in ("labelled_spans", "spans") or not result.get("spans"):
        return result
    spans, n = result["spans"], len(result["spans"])
    labels, channels = result.get("labels") or [None] * n, result.get("channels") or [None] * n
    keep: list[int] = []
    for i, (start, end) in enumerate(spans):
        if not any(
            labels[j] == labels[i] and channels[j] == channels[i] and start < spans[j][1] and spans[j][0] < end
            for j in keep
        ):
            keep.append(i)
    if len(keep) == n:
        return result
    return {key: [value[i] for i in keep] if isinstance(value, list) and len(value) == n else value
            for key, value in result.items()}  # fmt: skip


def merge_point_scores(scores: Sequence[np.ndarray], starts: Sequence[int], length: int) -> list[float]:
    """Per-sample scores of a series of `length` samples from those of its windows (window `k` covers samples
    `starts[k]` on): each sample takes the largest score of the windows that hold it."""
    out = np.full(length, -np.inf)
    for score, start in zip(scores, starts, strict=True):
        out[start : start + len(score)] = np.maximum(out[start : start + len(score)], score)
    return out.tolist()


__all__ = ["drop_repeated_spans", "span_iou", "nms_1d", "window_starts", "merge_windows", "merge_point_scores"]
