"""Boundary refinement at full resolution (DESIGN.md section 2.1): predicted spans and points snapped to the raw
samples.

Units. The model sees each channel reduced to `cells` *cells* (cell j covers samples `[floor(j*n/cells),
floor((j+1)*n/cells))`, `TSFlorenceSeriesFeatureExtractor`) and writes locations in 1000 *bins* (`tasks.py`).
Everything here is in *samples*: span boundaries (half-open `[start, end)`), points, the search `radius` and the
windows. A boundary the model places on the right cell comes back, through its bin, up to one cell plus one bin
away from the true sample; `refinement_radius` is that distance.

Boundaries move to where the raw samples put them as the data engine defines the exact span of each label
(`engine/injection.py`, `apply_event`; its specialists agree), never beyond `radius` samples outside the predicted span
(a spike's span may shrink to its one sample) and points by at most `radius`:

- spike, dip, outlier (narrow extremes): the extreme sample within the span widened by `radius` (the largest
  |deviation|) of the span's channel, or of the channel where it stands out most,
  grown over its neighbours that still deviate from a local running median by a fifth of the extreme's
  deviation and two noise stds (the engine's spikes are triangles whose edge samples reach a third of the apex);
  a one-sample spike gives `[i, i + 1)`. A spike or dip then takes the label of its extreme's sign (above the
  baseline: spike; below: dip): the sign is in the samples, and the model's own choice between the two is near
  a prior (on clean sines it wrote "dip" for 24 of 26 one-sample spikes and dips of either sign).
- level shift: in `<EVENT_DETECTION>` the step between two levels, written with one bin (`ceil(n / 1000)`
  samples) each side as the engine does; elsewhere an offset, each edge at its step.
- flat line: the run of samples equal to their predecessor (a stuck sensor holds its last reading, which is not
  part of the span); missing stretch, gap: the NaN run (on every channel for a span of all channels).
- `<CHANGE_POINT_DETECTION>` points and the boundaries between consecutive `<REGIME_SEGMENTATION>` segments: the
  step, fitted between the neighbouring points (segments), so order is kept and segments still tile the series.

A step is placed where adding it to a local straight-line fit removes the most squared error, and only when it is
clear (t-statistic at least `MIN_BREAK_Z`) and explains the samples better than a bend does; otherwise the
model's boundary stays. A narrow extreme that does not stand out of the noise (`MIN_EXTREME_Z`) stays too.

Left as the model gave them, because a seeded probe on the engine's series (cell-precise answers, lengths 64 to
4096) showed refinement losing: peaks and troughs (their support's edges fade into the baseline, and half-height
crossings are noisier than a cell) and trend changes (a ramp's bends are too gentle to place within a cell). So
are variance and oscillation bursts, free-text labels, text tasks, channels the series does not have and
stretches without observed samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .tasks import NUM_LOC_BINS, TASKS

MIN_BREAK_Z = 6.0
"""A step moves a boundary only when its t-statistic (its size over its standard error, from the residual of the
local fit) reaches this in one channel at least."""
MIN_EXTREME_Z = 4.0
"""A narrow extreme is refined only when its deviation from the local baseline is at least this many noise
standard deviations; otherwise nothing stands out and the span stays."""
EXTREME_FRACTION = 0.2
"""A neighbour of the extreme sample belongs to the span while it deviates by at least this share of the extreme's
deviation (the engine's spikes are triangles whose edge samples reach a third of the apex) ..."""
EXTREME_NOISE_Z = 2.0
"""... and by at least this many noise standard deviations."""
MAX_EXTREME_RADII = 8
"""A spike, dip or outlier span wider than this many radii is no narrow extreme answered within a cell: left as is."""
MAX_BASELINE_REACH = 64
"""Samples each side of a sample that its baseline (a running median) sees, at most."""
WINDOW_RADII = 3
"""Samples each side of a candidate boundary that the local fit sees, in radii (at least `MIN_WINDOW`)."""
MIN_WINDOW = 8

_EXTREME_LABELS = ("spike", "dip", "outlier")
_SIGNED_EXTREMES = {1: "spike", -1: "dip"}
_MAD_TO_STD = 1.4826
_CHUNK = 4096


def refinement_radius(length: int, cells: int) -> int:
    """Search radius, in samples, for a series of `length` samples seen as `cells` cells: one cell width
    (`ceil(length / cells)`) plus one bin width (`ceil(length / 1000)`), how far a boundary placed in the right
    cell can come back through its bin. (The larger of the two alone left 5 to 15% of the flat lines' and NaN
    runs' edges out of reach in the probe.)"""
    return max(1, -(-length // max(1, cells))) + -(-length // NUM_LOC_BINS)


def refine_result(task: str, result: Mapping[str, Any], values: np.ndarray, radius: int) -> dict[str, Any]:
    """A copy of `result` with its boundaries moved onto the raw samples.

    Args:
        task: the task token, e.g. `"<ANOMALY_DETECTION>"`.
        result: one task's parsed result (`TaskSpec.parse`): spans `[start, end)` or points, in sample indices.
        values: the series, `[channels x time]` (1-D: one channel), NaN = missing.
        radius: how far, in samples, a boundary may move (`refinement_radius`).

    Returns a dict with the same keys and items in the same order; only `"spans"` / `"points"` change, and the
    `"labels"` of spikes and dips (by their extreme's sign, module docstring). Spans stay
    valid (`0 <= start < end <= n`), segments stay contiguous where they were, points sorted and distinct. Never
    raises on what the parser produces: an item that cannot be refined is kept as it is.
    """
    refined = {key: list(value) if isinstance(value, list) else value for key, value in result.items()}
    spec = TASKS.get(task)
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if spec is None or spec.output_kind == "text" or x.ndim != 2 or x.size == 0 or radius < 1:
        return refined
    x = np.where(np.isfinite(x), x, np.nan)  # an infinite value is no measurement either
    radius = int(radius)
    if spec.output_kind == "points":
        if "points" in result:
            refined["points"] = _refine_points(list(result["points"]), x, radius)
        return refined
    if "spans" not in result:
        return refined
    spans = [list(span) for span in result["spans"]]
    if spec.output_kind == "segments":
        refined["spans"] = _refine_segments(spans, x, radius)
        return refined
    labels, channels = result.get("labels") or [], result.get("channels") or []
    refined["spans"] = []
    for i, span in enumerate(spans):
        label = labels[i] if i < len(labels) else None
        new, new_label = _refine_span(task, label, channels[i] if i < len(channels) else None, span, x, radius)
        refined["spans"].append(new)
        if new_label != label:
            refined["labels"][i] = new_label
    return refined


# ---------------------------------------------------------------------------------------------------------
# Items


def _is_index(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _refine_span(
    task: str, label: Any, channel: Any, span: list[Any], x: np.ndarray, radius: int
) -> tuple[list[Any], Any]:
    """`(span, label)` refined: the span on the raw samples, the label of a spike or dip by its extreme's sign."""
    n = x.shape[1]
    if len(span) != 2 or not all(_is_index(v) for v in span) or not 0 <= span[0] < span[1] <= n:
        return span, label
    rows = _rows(channel, x)
    name = label.strip().lower() if isinstance(label, str) else None
    if rows is None or name is None:
        return span, label
    start, end = int(span[0]), int(span[1])
    if name in _EXTREME_LABELS:
        found = _narrow_extreme(x[rows], start, end, radius)
        if found is None:
            return span, label
        new, sign = found
        if name in _SIGNED_EXTREMES.values():
            label = _SIGNED_EXTREMES[sign]
    elif name == "level shift" and task == "<EVENT_DETECTION>":
        new = _step_event(x[rows], start, end, radius)
    elif name == "level shift":
        # An offset: each edge is searched on its own side of the middle, so the other edge's step stays out of
        # its fit.
        middle = (start + end) // 2
        moved_start = _best_step(x[rows], start, radius, 0, middle + 1)
        moved_end = _best_step(x[rows], end, radius, middle, n)
        new = (start if moved_start is None else moved_start, end if moved_end is None else moved_end)
    elif name == "flat line":
        repeated = np.zeros_like(x[rows], dtype=bool)
        repeated[:, 1:] = x[rows][:, 1:] == x[rows][:, :-1]  # False where either sample is NaN
        new = _snap_to_run(repeated, start, end, radius)
    elif name in ("missing stretch", "gap"):
        missing = np.isnan(x[rows])
        # A span for every channel (channel None) of a multivariate series is a run missing on all of them.
        new = _snap_to_run(missing.all(axis=0, keepdims=True) if channel is None else missing, start, end, radius)
    else:
        return span, label
    if new is None or not 0 <= new[0] < new[1] <= n:
        return span, label
    return [int(new[0]), int(new[1])], label


def _rows(channel: Any, x: np.ndarray) -> list[int] | None:
    """The channels a span concerns: the one given, or all (None); None for a channel the series does not have."""
    if channel is None:
        return list(range(x.shape[0]))
    if _is_index(channel) and 0 <= channel < x.shape[0]:
        return [int(channel)]
    return None


def _refine_points(points: list[Any], x: np.ndarray, radius: int) -> list[Any]:
    """Each change point at the best step within `radius`, fitted on the samples between its neighbours, so that
    points keep their order and stay distinct."""
    n = x.shape[1]
    refined = list(points)
    for i, point in enumerate(points):
        if not _is_index(point) or not 0 < point < n:
            continue
        low = refined[i - 1] if i > 0 and _is_index(refined[i - 1]) else 0
        high = points[i + 1] if i + 1 < len(points) and _is_index(points[i + 1]) else n
        moved = _best_step(x, int(point), radius, low, high)
        refined[i] = point if moved is None else moved
    return refined


def _refine_segments(spans: list[list[Any]], x: np.ndarray, radius: int) -> list[list[Any]]:
    """Each boundary shared by two consecutive segments moved to the best step, fitted on the samples of those two
    segments; the outer ends and boundaries that are not shared stay, so segments that tiled the series still do."""
    refined = [list(span) for span in spans]
    for i in range(len(spans) - 1):
        left, right = refined[i], refined[i + 1]
        if len(left) != 2 or len(right) != 2 or not all(_is_index(v) for v in (*left, *right)):
            continue
        if left[1] != right[0] or not 0 <= left[0] < left[1] < right[1] <= x.shape[1]:
            continue
        moved = _best_step(x, int(left[1]), radius, int(left[0]), int(right[1]))
        if moved is not None:
            left[1] = right[0] = moved
    return refined


# ---------------------------------------------------------------------------------------------------------
# Narrow extremes


def _narrow_extreme(x: np.ndarray, start: int, end: int, radius: int) -> tuple[tuple[int, int], int] | None:
    """`((start, end), sign)`: the sample of largest |deviation| from the local baseline within `[start - radius,
    end + radius)`, grown over its neighbours that deviate the same way by at least `EXTREME_FRACTION` of its
    deviation and `EXTREME_NOISE_Z` noise stds, and the sign of its deviation (+1 above, -1 below). None when
    nothing stands out."""
    n = x.shape[1]
    if end - start > MAX_EXTREME_RADII * radius:
        return None
    low, high = max(0, start - radius), min(n, end + radius)
    # The baseline's window only has to be wide enough for the extreme's own samples not to move its median.
    reach = min(max(end - start, radius), MAX_BASELINE_REACH)
    best: tuple[float, int, np.ndarray, float] | None = None
    for row in x:
        deviation = row[low:high] - _running_median(row, low, high, reach)
        # From first differences, which a slow seasonal swing or a trend barely moves, unlike the deviations.
        noise = _difference_noise_std(row[max(0, low - reach) : high + reach])
        if np.isnan(deviation).all():
            continue
        i = int(np.nanargmax(np.abs(deviation)))
        if best is None or abs(deviation[i]) / noise > best[0]:
            best = (abs(deviation[i]) / noise, i, deviation, noise)
    if best is None or best[0] < MIN_EXTREME_Z:
        return None
    _, i, deviation, noise = best
    sign = 1 if deviation[i] > 0 else -1
    signed = deviation * sign
    threshold = max(EXTREME_FRACTION * signed[i], EXTREME_NOISE_Z * noise)
    strong = signed >= threshold  # NaN compares False
    first, last = i, i
    while first > 0 and strong[first - 1]:
        first -= 1
    while last + 1 < len(strong) and strong[last + 1]:
        last += 1
    return (low + first, low + last + 1), sign


def _running_median(row: np.ndarray, low: int, high: int, reach: int) -> np.ndarray:
    """Median of the observed samples within `reach` of each sample of `row[low:high]`, NaN where there is none."""
    padded = np.pad(row, reach, constant_values=np.nan)
    medians = np.empty(high - low)
    # In chunks, so that memory stays at `_CHUNK` windows whatever the length of the stretch.
    for at in range(low, high, _CHUNK):
        stop = min(high, at + _CHUNK)
        windows = np.lib.stride_tricks.sliding_window_view(padded[at : stop + 2 * reach], 2 * reach + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window gives NaN, as it should
            medians[at - low : stop - low] = np.nanmedian(windows, axis=1)
    return medians


def _difference_noise_std(part: np.ndarray) -> float:
    """Noise std from the first differences of the observed samples (robust to slopes, steps and a few
    extremes): their MAD-std / sqrt(2), from their mean absolute deviation when most are equal (a quantised
    series), and a hair above 0 when all are (then any deviation stands out)."""
    steps = np.diff(part)
    steps = steps[np.isfinite(steps)]
    if steps.size == 0:
        return math.inf
    deviation = np.abs(steps - np.median(steps))
    spread = _MAD_TO_STD * float(np.median(deviation)) or math.sqrt(math.pi / 2) * float(np.mean(deviation))
    return (spread or 1e-12 * max(1.0, float(np.nanmax(np.abs(part))))) / math.sqrt(2)


# ---------------------------------------------------------------------------------------------------------
# Steps


def _step_event(x: np.ndarray, start: int, end: int, radius: int) -> tuple[int, int] | None:
    """A level-shift event: the best step within the span, with one bin (`ceil(n / 1000)` samples) each side as the
    engine writes the step between two levels, no further than `radius` outside the span; None when no step is
    clear."""
    n = x.shape[1]
    half = -(-n // NUM_LOC_BINS)
    middle = (start + end) // 2
    reach = min(middle - start, end - middle) + radius - half
    if reach < 0:
        return None
    step = _best_step(x, middle, reach, 0, n)
    if step is None:
        return None
    return max(0, step - half), min(n, step + half)


def _best_step(x: np.ndarray, at: int, radius: int, low: int, high: int) -> int | None:
    """The boundary within `radius` samples of `at` where a step (a regressor 1 from the boundary on) added to a
    straight line best fits the samples of `[low, high)` around it, `WINDOW_RADII` radii (at least `MIN_WINDOW`
    samples) each side; two samples at least stay on each side, so the result lies strictly inside `(low, high)`.

    A candidate's score is the t-statistic of the step (its size over its standard error, from the residual of the
    fit; the line absorbs a slope, so a trend or a seasonal flank is no step); channels add their squares. None
    when no channel's t reaches `MIN_BREAK_Z` at any candidate, or with too few observed samples.
    """
    n = x.shape[1]
    w = max(MIN_WINDOW, WINDOW_RADII * radius)
    first, stop = max(low, 0, at - radius - w), min(high, n, at + radius + w)
    candidates = np.arange(max(first + 2, at - radius), min(stop - 2, at + radius) + 1)
    if candidates.size == 0:
        return None
    t = np.arange(first, stop, dtype=np.float64)
    total = np.zeros(len(candidates))
    strongest = np.zeros(len(candidates))
    for row in x:
        y = row[first:stop]
        seen = np.isfinite(y)
        if seen.sum() < 6:
            continue
        tt, yy = t[seen], y[seen]
        q, _ = np.linalg.qr(np.column_stack([np.ones_like(tt), tt - tt.mean()]))
        resid = yy - q @ (q.T @ yy)  # the samples without their line
        t2 = _t_squared(q, resid, (tt[None, :] >= candidates[:, None]).astype(np.float64))
        kinks = _t_squared(q, resid, np.maximum(0.0, tt[None, :] - candidates[:, None]))
        if kinks.max() >= t2.max():
            # A slope change explains these samples as well as a step: a bend (trend change, trend regime), whose
            # place a step would only guess.
            continue
        total += t2
        strongest = np.maximum(strongest, t2)
    clear = strongest >= MIN_BREAK_Z**2
    if not clear.any():
        return None
    return int(candidates[int(np.argmax(np.where(clear, total, -np.inf)))])


def _t_squared(q: np.ndarray, resid: np.ndarray, regressors: np.ndarray) -> np.ndarray:
    """Squared t-statistic of each regressor (a row of `[candidates x samples]`) added to a line (orthonormal
    basis `q`) fitted to samples whose residual from the line is `resid`."""
    regressors = regressors - (regressors @ q) @ q.T
    norm = np.einsum("ij,ij->i", regressors, regressors)
    # A regressor a line reproduces (every observed sample on one side) adds nothing.
    usable = norm > 1e-9 * max(1.0, float(norm.max()))
    gain = np.where(usable, (regressors @ resid) ** 2 / np.where(usable, norm, 1.0), 0.0)  # squared error removed
    # A step that explains every sample (a noiseless level shift) leaves no error: the floor keeps its t-squared
    # large and finite (1e12 times the sample count at most) rather than an overflow.
    rss = float(resid @ resid)
    variance = np.maximum(rss - gain, max(1e-12 * rss, 1e-300)) / (len(resid) - 3)
    return gain / variance


# ---------------------------------------------------------------------------------------------------------
# Runs (flat lines, missing values)


def _snap_to_run(mask: np.ndarray, start: int, end: int, radius: int) -> tuple[int, int] | None:
    """Each boundary moved onto the edge of the run of True (in any row of `mask`) that overlaps the span most,
    when that edge is within `radius`; None without a run within `radius` of the span."""
    n = mask.shape[1]
    low, high = max(0, start - radius), min(n, end + radius)
    best: tuple[int, int, int] | None = None  # overlap with the span, run start, run end
    for row in mask:
        for a, b in _runs(row[low:high]):
            # The run seen through the window may go on beyond it.
            before, after = np.flatnonzero(~row[: low + a]), np.flatnonzero(~row[low + b :])
            a = int(before[-1]) + 1 if before.size else 0
            b = low + b + int(after[0]) if after.size else n
            overlap = min(b, end) - max(a, start)
            if best is None or overlap > best[0]:
                best = (overlap, a, b)
    if best is None:
        return None
    _, a, b = best
    return (a if abs(a - start) <= radius else start), (b if abs(b - end) <= radius else end)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open runs of True in a 1-D boolean mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


__all__ = ["refine_result", "refinement_radius"]
