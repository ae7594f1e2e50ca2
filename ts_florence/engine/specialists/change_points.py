"""Change points, the regimes between them and the short excursions of level or slope (ruptures, then a model
choice of straight-line segments)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from ...records import change_point, segment
from ...vocabulary import MIN_SEGMENT_FRACTION, MIN_SEGMENT_LENGTH, REGIME_LABELS, whole_series_label
from ..descriptions import component_strength
from .analysis import (
    AnalysisConfig,
    ChannelAnalysis,
    analyse_all,
    block_reduce,
    describe_channel,
    difference_noise_std,
    event_magnitude,
    robust_std,
)
from .base import Specialist


@dataclass
class ChangePointDetector(Specialist):
    """Change points and the regimes between them.

    1. Candidates: ruptures KernelCPD (linear kernel: PELT on squared error, BIC penalty (d + 1) log m) on the
       deseasonalized level and the log |first difference| (volatility) of every channel, block-averaged to at most
       `max_points` = m points, each scaled to unit long-run noise (MAD-std around a running median, inflated by
       sqrt((1 + rho) / (1 - rho)) for lag-1 autocorrelation rho, so that autocorrelated noise is not a staircase).
    2. Model choice: adjacent segments merge while one straight line with its own noise variance per channel fits
       their union within `penalty_scale` x BIC ((3 per channel + 1) log m; gains weighted by the effective share of
       independent samples), and each remaining edge moves to the best split between its neighbours, until stable:
       a trend is one segment, a turn of the trend one change, a change of volatility a change.
    3. Regimes are at least `regime_min_fraction` of the series (and `regime_min_length` samples), as the
       generator's: a shorter segment between two similar neighbours is an excursion, a "level shift" or "trend
       change" anomaly span whose ends are change points of that label (a variance excursion is left to the span
       detectors); any other short segment joins its most similar neighbour. The other edges are "regime change"s.
    4. Regimes are labelled along the one axis (noise, trend, level, seasonal) on which neighbours differ most, in
       the channel that shows it (channel 0 unless another shows it twice as clearly); a single segment is labelled
       like the generator's whole series (`vocabulary.whole_series_label`).

    Score of a change point: gain / (gain + penalty), gain = likelihood lost if it were removed.
    """

    name: ClassVar[str] = "change_points"
    produces: ClassVar[tuple[str, ...]] = ("change_points", "segments", "spans")

    penalty_scale: float = 1.0
    max_points: int = 512
    min_segment_fraction: float = 0.03
    min_segment_points: int = 8  # a segment's own noise variance needs a few points to be believed
    regime_min_fraction: float = MIN_SEGMENT_FRACTION
    regime_min_length: int = MIN_SEGMENT_LENGTH
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __call__(self, values: np.ndarray, timestamps: Sequence[str] | None = None) -> dict[str, Any]:
        array = self._check(values, timestamps)
        n = array.shape[1]
        analyses = analyse_all(array, self.analysis)
        indices = [c for c, analysis in enumerate(analyses) if analysis.usable]
        usable = [(array[c], analyses[c]) for c in indices]
        edges, gains, penalty = self._edges(analyses, n)
        regimes, points, excursions = self._regimes(edges, gains, usable, n)
        change_points = [
            change_point(index, label=label, score=_confidence(gain, penalty), source=self.name)
            for index, (label, gain) in sorted(points.items())
        ]
        labels = _label_regimes(regimes, usable)
        scores = [_confidence(points[end][1], penalty) for _, end in regimes[:-1]]
        segments = []
        for k, ((start, end), label) in enumerate(zip(regimes, labels, strict=True)):
            around = [scores[i] for i in (k - 1, k) if 0 <= i < len(scores)]
            segments.append(segment(start, end, label, score=min(around) if around else 1.0, source=self.name))
        spans = []
        for start, end, label, gain in excursions:
            c = _strongest_channel((start, end), usable, "level" if label == "level shift" else "trend")
            magnitude = event_magnitude(usable[c][0], start, end, label)
            channel, score = self._channel(indices[c], len(analyses)), _confidence(gain, penalty)
            spans.append(self._span(start, end, label, "anomaly", channel=channel, magnitude=magnitude, score=score))
        return {"change_points": change_points, "segments": segments, "spans": spans}

    def _edges(self, analyses: list[ChannelAnalysis], n: int) -> tuple[list[int], list[float], float]:
        """Segment edges in samples (0 ... n), the gain of each inner edge and the penalty."""
        import ruptures

        factor = max(1, math.ceil(n / self.max_points))
        points = len(block_reduce(np.zeros(n), factor))
        levels, volatilities = [], []
        for analysis in analyses:
            if not analysis.usable:
                continue
            y = analysis.deseasonalized
            step = np.abs(np.diff(y, prepend=y[0]))
            step[~(analysis.observed & np.roll(analysis.observed, 1))] = np.nan  # interpolated stretches
            volatility = np.log(step + 0.1 * np.nanmedian(step) + 1e-12)
            volatility = np.where(np.isfinite(volatility), volatility, np.nanmedian(volatility))
            for column, bucket in ((y, levels), (volatility, volatilities)):
                scaled = _unit_noise(block_reduce(column, factor))
                if scaled is not None:
                    bucket.append(scaled)
        log_points = math.log(max(points, 2))
        penalty = self.penalty_scale * (3 * len(levels) + 1) * log_points
        min_size = max(self.min_segment_points, math.ceil(self.min_segment_fraction * points))
        if not levels or points < 2 * min_size:
            return [0, n], [], penalty
        candidates = np.column_stack([column for column, _ in levels + volatilities])
        try:
            breaks = (
                ruptures.KernelCPD(kernel="linear", min_size=min_size)
                .fit(candidates)
                .predict(pen=(candidates.shape[1] + 1) * log_points)
            )
        except ruptures.exceptions.BadSegmentationParameters:
            return [0, n], [], penalty
        level = np.column_stack([column for column, _ in levels])
        weights = np.array([weight for _, weight in levels])
        edges, gains = _merge_segments(level, weights, [0, *breaks[:-1], points], penalty, min_size)
        return [0, *(min(n - 1, edge * factor) for edge in edges[1:-1]), n], gains, penalty

    def _regimes(
        self, edges: list[int], gains: list[float], usable: list[tuple[np.ndarray, ChannelAnalysis]], n: int
    ) -> tuple[list[tuple[int, int]], dict[int, tuple[str, float]], list[tuple[int, int, str, float]]]:
        """Regimes `[(start, end)]`, change points {index: (label, gain)} and excursions `[(start, end, label,
        gain)]` from segment edges (step 3)."""
        shortest = max(self.regime_min_length, math.ceil(self.regime_min_fraction * n))
        edges, gain = list(edges), dict(zip(edges[1:-1], gains, strict=True))
        points: dict[int, tuple[str, float]] = {}
        excursions: list[tuple[int, int, str, float]] = []
        while len(edges) > 2:
            lengths = np.diff(edges)
            k = int(np.argmin(lengths))
            if lengths[k] >= shortest:
                break
            inner = 0 < k < len(lengths) - 1
            if inner:
                left, middle, right = (edges[k - 1], edges[k]), (edges[k], edges[k + 1]), (edges[k + 1], edges[k + 2])
                kind = _excursion(left, middle, right, usable)
                if kind is not None:
                    if kind != "variance":  # a burst of noise is the span detectors' business
                        for index in middle:
                            points[index] = (kind, gain.get(index, 0.0))
                        excursions.append((*middle, kind, min(gain.get(index, 0.0) for index in middle)))
                    del edges[k : k + 2]
                    continue
            # Join the short segment to its more similar neighbour (the only one at either end of the series).
            if k == 0:
                drop = 1
            elif k == len(lengths) - 1:
                drop = k
            else:
                to_left = _difference((edges[k - 1], edges[k]), (edges[k], edges[k + 1]), usable)
                to_right = _difference((edges[k], edges[k + 1]), (edges[k + 1], edges[k + 2]), usable)
                drop = k if to_left <= to_right else k + 1
            index = edges[drop]
            kind = _dominant_change((edges[drop - 1], index), (index, edges[drop + 1]), usable)
            if kind in ("level shift", "trend change"):
                points[index] = (kind, gain.get(index, 0.0))
            del edges[drop]
        for index in edges[1:-1]:
            points[index] = ("regime change", gain.get(index, 0.0))
        return list(zip(edges[:-1], edges[1:], strict=True)), points, excursions


def _confidence(gain: float, penalty: float) -> float:
    """gain / (gain + penalty): 0.5 for a change point that just pays its penalty, towards 1 for clear ones."""
    gain = max(0.0, gain)
    return gain / (gain + penalty) if gain + penalty > 0 else 0.0


def _unit_noise(column: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(`column` scaled to unit long-run noise, weight), None if constant. Noise: MAD-std around a running median,
    inflated by sqrt((1 + rho) / (1 - rho)) for lag-1 autocorrelation rho; the weight (1 - rho) / (1 + rho) is the
    share of effectively independent samples (it scales likelihood gains)."""
    window = max(5, (len(column) // 10) | 1)
    rough = column - ndimage.median_filter(column, size=window, mode="reflect")
    scale = robust_std(rough)
    if scale <= 0 or not np.isfinite(scale):
        return None
    rho = 0.0
    if len(rough) > 3 and np.std(rough[:-1]) > 0 and np.std(rough[1:]) > 0:
        rho = float(np.clip(np.corrcoef(rough[:-1], rough[1:])[0, 1], 0.0, 0.95))
    weight = (1 - rho) / (1 + rho)
    return (column - np.median(column)) * math.sqrt(weight) / scale, weight


class _LineCosts:
    """-2 log-likelihood (up to a constant) of a straight line with its own noise variance, per level column, of
    any interval, from prefix sums (O(1) per interval). Columns are weighted; variances are floored at 1e-4 (unit
    noise is 1) so that a flat stretch is not infinitely likely."""

    def __init__(self, level: np.ndarray, weights: np.ndarray) -> None:
        t = np.arange(len(level), dtype=np.float64)[:, None]
        terms = [
            np.ones_like(level),
            np.broadcast_to(t, level.shape),
            np.broadcast_to(t * t, level.shape),
            level,
            t * level,
            level * level,
        ]
        # [6 x (time + 1) x columns]: sums over [0, k) of 1, t, t^2, y, t y, y^2
        self.prefix = np.concatenate([np.zeros((6, 1, level.shape[1])), np.cumsum(np.stack(terms), axis=1)], axis=1)
        self.weights = weights

    def __call__(self, start: np.ndarray | int, end: np.ndarray | int) -> np.ndarray:
        """Cost of [start, end) (arrays broadcast; intervals of at least 3 samples)."""
        start, end = np.broadcast_arrays(np.asarray(start), np.asarray(end))
        count, s_t, s_tt, s_y, s_ty, s_yy = self.prefix[:, end] - self.prefix[:, start]
        sxx = s_tt - s_t * s_t / count
        sxy = s_ty - s_t * s_y / count
        syy = s_yy - s_y * s_y / count
        sse = np.maximum(syy - sxy * sxy / np.maximum(sxx, 1e-12), 0.0)
        return np.sum(self.weights * count * np.log(sse / count + 1e-4), axis=-1)


def _merge_segments(
    level: np.ndarray, weights: np.ndarray, edges: list[int], penalty: float, min_size: int
) -> tuple[list[int], list[float]]:
    """Greedily merge the adjacent pair whose union costs least extra while that extra is below the penalty, then
    move each remaining edge to the best split between its neighbours (a staircase step to a trend's turning point);
    repeat until stable. Returns the edges and the extra cost (gain) of removing each inner edge."""
    cost = _LineCosts(level, weights)
    edges = list(edges)

    def gains() -> np.ndarray:
        left, middle, right = (np.array(part, dtype=np.int64) for part in (edges[:-2], edges[1:-1], edges[2:]))
        return cost(left, right) - cost(left, middle) - cost(middle, right)

    for _ in range(5):
        before = list(edges)
        current = gains()
        while current.size and current.min() < penalty:
            del edges[int(np.argmin(current)) + 1]
            current = gains()
        for k in range(1, len(edges) - 1):
            splits = np.arange(edges[k - 1] + min_size, edges[k + 1] - min_size + 1)
            if splits.size:
                edges[k] = int(splits[np.argmin(cost(edges[k - 1], splits) + cost(splits, edges[k + 1]))])
        if edges == before:
            break
    return edges, [float(g) for g in gains()]


@dataclass(frozen=True)
class _Stats:
    """One channel over one segment, for contrasts between segments."""

    level: float  # median, series units
    rise: float  # change along a fitted line over the segment / robust range of the channel
    slope: float  # of that line / robust range, per sample
    noise: float  # difference-based noise std, series units
    seasonal: float  # strength of the seasonal component within the segment (0 without a period)
    length: int  # observed samples


def _segment_stats(analysis: ChannelAnalysis, start: int, end: int) -> _Stats:
    y = np.where(analysis.observed, analysis.deseasonalized, np.nan)[start:end]
    t = np.flatnonzero(np.isfinite(y))
    if len(t) < 3:
        return _Stats(float(np.median(analysis.filled)), 0.0, 0.0, analysis.step_noise, 0.0, max(1, len(t)))
    slope = float(np.polyfit(t, y[t], 1)[0]) / analysis.value_range
    seasonal = 0.0
    if analysis.periods:
        seasonal = component_strength(analysis.seasonal[start:end], analysis.resid[start:end])
    noise = difference_noise_std(y)
    return _Stats(float(np.median(y[t])), slope * (end - start - 1), slope, noise, seasonal, len(t))


def _contrasts(a: _Stats, b: _Stats, analysis: ChannelAnalysis, shortest: int) -> dict[str, float]:
    """How clearly two segments differ along each regime axis (1 = clearly): level by 0.2 of the range, slope by a
    rise of 0.25 of the range over the shorter segment, noise by a factor 2, seasonal strength by 0.3. A level or
    slope difference within 3 standard errors (from each segment's noise and length) counts as none: the slope of
    a short, noisy segment says little."""
    floor = 0.01 * analysis.step_noise + 1e-12  # a flat stretch has noise 0
    noise_a, noise_b = (s.noise / analysis.value_range for s in (a, b))
    level_error = 1.2533 * math.sqrt(noise_a**2 / a.length + noise_b**2 / b.length)  # of medians
    slope_error = math.sqrt(12 * noise_a**2 / a.length**3 + 12 * noise_b**2 / b.length**3)
    level = abs(a.level - b.level) / analysis.value_range
    slope = abs(a.slope - b.slope)
    return {
        "level": level / 0.2 if level > 3 * level_error else 0.0,
        "trend": slope * shortest / 0.25 if slope > 3 * slope_error else 0.0,
        "noise": abs(math.log((a.noise + floor) / (b.noise + floor))) / math.log(2),
        "seasonal": abs(a.seasonal - b.seasonal) / 0.3,
    }


def _pair_contrasts(
    first: tuple[int, int], second: tuple[int, int], usable: list[tuple[np.ndarray, ChannelAnalysis]]
) -> dict[str, float]:
    """Largest contrast over channels per axis between two segments."""
    best = dict.fromkeys(("level", "trend", "noise", "seasonal"), 0.0)
    shortest = min(first[1] - first[0], second[1] - second[0])
    for _, analysis in usable:
        found = _contrasts(_segment_stats(analysis, *first), _segment_stats(analysis, *second), analysis, shortest)
        for axis, value in found.items():
            best[axis] = max(best[axis], value)
    return best


def _difference(
    first: tuple[int, int], second: tuple[int, int], usable: list[tuple[np.ndarray, ChannelAnalysis]]
) -> float:
    return max(_pair_contrasts(first, second, usable).values(), default=0.0)


def _strongest_channel(interval: tuple[int, int], usable: list[tuple[np.ndarray, ChannelAnalysis]], axis: str) -> int:
    """Index in `usable` of the channel whose `interval` differs most along `axis` from the samples around it."""
    start, end = interval
    width = end - start
    best, best_contrast = 0, -1.0
    for c, (_, analysis) in enumerate(usable):
        n = len(analysis.filled)
        around = (max(0, start - width), start) if start - width >= 0 or end + width > n else (end, end + width)
        if around[1] - around[0] < 3:
            around = (end, min(n, end + width))
        if around[1] - around[0] < 3:
            continue
        contrast = _contrasts(_segment_stats(analysis, start, end), _segment_stats(analysis, *around), analysis, width)[
            axis
        ]
        if contrast > best_contrast:
            best, best_contrast = c, contrast
    return best


def _dominant_change(
    first: tuple[int, int], second: tuple[int, int], usable: list[tuple[np.ndarray, ChannelAnalysis]]
) -> str | None:
    """ "level shift" / "trend change" when that is what differs most between two segments, None otherwise."""
    contrasts = _pair_contrasts(first, second, usable)
    axis = max(contrasts, key=lambda key: contrasts[key])
    return {"level": "level shift", "trend": "trend change"}.get(axis) if contrasts[axis] >= 1 else None


def _excursion(
    left: tuple[int, int],
    middle: tuple[int, int],
    right: tuple[int, int],
    usable: list[tuple[np.ndarray, ChannelAnalysis]],
) -> str | None:
    """ "trend change" / "level shift" / "variance" when the short `middle` segment departs from two neighbours that
    agree with each other along that axis (slope first: a ramp also leaves the level changed), else None."""
    with_left = _pair_contrasts(left, middle, usable)
    with_right = _pair_contrasts(middle, right, usable)
    across = _pair_contrasts(left, right, usable)
    for axis, kind in (("trend", "trend change"), ("level", "level shift"), ("noise", "variance")):
        if with_left[axis] >= 1 and with_right[axis] >= 1 and across[axis] < 1:
            return kind
    return None


def _label_regimes(regimes: list[tuple[int, int]], usable: list[tuple[np.ndarray, ChannelAnalysis]]) -> list[str]:
    """A `vocabulary.REGIME_LABELS` label per regime (step 4 of `ChangePointDetector`)."""
    if not usable:
        return ["calm"] * len(regimes)
    if len(regimes) == 1:
        x, analysis = usable[0]
        channel = describe_channel(x, analysis, "")
        return [whole_series_label(channel.trend, channel.seasonal_strength, channel.noise)]
    # The axis and the channel: the largest mean contrast between neighbours.
    best: tuple[float, str, int] = (-1.0, "level", 0)
    per_channel = []
    for c, (_, analysis) in enumerate(usable):
        stats = [_segment_stats(analysis, *r) for r in regimes]
        pairs = [
            _contrasts(a, b, analysis, min(ra[1] - ra[0], rb[1] - rb[0]))
            for a, b, ra, rb in zip(stats[:-1], stats[1:], regimes[:-1], regimes[1:], strict=True)
        ]
        means = {axis: float(np.mean([pair[axis] for pair in pairs])) for axis in pairs[0]}
        axis = max(means, key=lambda key: means[key])
        per_channel.append((means[axis], axis, c, stats))
        if means[axis] > best[0]:
            best = (means[axis], axis, c)
    strongest, axis, c = best
    first = per_channel[0]
    if first[0] >= 0.5 * strongest:
        axis, c = first[1], 0
    stats = per_channel[c][3]
    labels = []
    for k, own in enumerate(stats):
        others = [s for i, s in enumerate(stats) if i != k]
        if axis == "trend":
            rising, falling, flat = REGIME_LABELS["trend"]
            labels.append(rising if own.rise > 0.15 else falling if own.rise < -0.15 else flat)
        else:
            # each axis names its lower side first (calm, low level), except seasonal / non-seasonal
            lower, higher = REGIME_LABELS[axis]
            above = getattr(own, axis) > np.median([getattr(s, axis) for s in others])
            if axis == "seasonal":
                lower, higher = higher, lower
            labels.append(higher if above else lower)
    return labels
