"""Point and short anomalies against the series' own behaviour: robust z-scores of the STL residual, matrix-profile
discords (stumpy) and an isolation forest (scikit-learn) on features of the residual."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from ..descriptions import robust_range
from .analysis import (
    MAD_TO_STD,
    AnalysisConfig,
    ChannelAnalysis,
    analyse_all,
    block_reduce,
    event_magnitude,
    hysteresis_runs,
    logistic,
    merge_runs,
    robust_std,
    running_median,
    runs,
)
from .base import Specialist


@dataclass
class StlZScoreDetector(Specialist):
    """Anomalies where the robust z-score of the STL residual exceeds `threshold`.

    z = (resid - running median) / running MAD-std over `scale_window` samples of the residual of `analyse_channel`
    (STL, classical decomposition beyond `analysis.stl_max_length`, or a running median without seasonality): local,
    so that a volatile regime is judged against itself (the spread is floored at half the channel's and ignores flat
    stretches). Runs with |z| > `threshold` grow while |z| > `extend_threshold` (hysteresis, for the span edges) and
    join across `merge_gap` samples. Label: "variance burst" with >= 2 exceedances of each sign; otherwise the run
    must also stand out of its surroundings (`_prominence` >= `min_prominence`, as the generator's spikes clear
    everything nearby: heavy-tailed noise has large |z| too, but among other large values), and is a "level shift"
    when one-signed and longer than `spike_max_length`, else "spike"/"dip" by the sign of the largest |z|.
    Score: logistic(max |z| - threshold).
    """

    name: ClassVar[str] = "stl_zscore"
    produces: ClassVar[tuple[str, ...]] = ("spans",)

    threshold: float = 4.5
    extend_threshold: float = 3.0
    merge_gap: int = 2
    spike_max_length: int = 6
    scale_window: int = 101
    min_prominence: float = 0.75
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __call__(self, values: np.ndarray, timestamps: Sequence[str] | None = None) -> dict[str, Any]:
        array = self._check(values, timestamps)
        spans = []
        for c, (x, analysis) in enumerate(zip(array, analyse_all(array, self.analysis), strict=True)):
            z = _local_z(analysis, self.scale_window) if analysis.usable else None
            if z is None:
                continue
            channel = self._channel(c, len(array))
            for start, end in hysteresis_runs(np.abs(z), self.threshold, self.extend_threshold, self.merge_gap):
                zs = z[start:end]
                positive, negative = int(np.sum(zs > self.threshold)), int(np.sum(zs < -self.threshold))
                peak = float(zs[np.argmax(np.abs(zs))])
                if positive >= 2 and negative >= 2:
                    label = "variance burst"
                elif _prominence(analysis.resid, start, end, peak > 0) < self.min_prominence:
                    continue
                elif end - start > self.spike_max_length and (positive == 0 or negative == 0):
                    label = "level shift"
                else:
                    label = "spike" if peak > 0 else "dip"
                magnitude = event_magnitude(x, start, end, label)
                score = logistic(abs(peak) - self.threshold)
                spans.append(
                    self._span(start, end, label, "anomaly", channel=channel, magnitude=magnitude, score=score)
                )
        return {"spans": spans}


def _local_z(analysis: ChannelAnalysis, window: int) -> np.ndarray | None:
    """Robust z-score `[time]` of the residual against its running median and running MAD-std over `window`
    samples; None for a channel whose residual has no spread."""
    resid = np.where(analysis.observed, analysis.resid, np.nan)
    overall = robust_std(resid)
    if overall <= 0:
        return None
    size = max(3, min(window, len(resid)))
    center = running_median(resid, size)
    # Samples of a flat stretch (repeated values) say nothing about the noise around them.
    repeated = np.diff(analysis.filled) == 0
    flat = np.zeros(len(resid), dtype=bool)
    flat[1:] |= repeated
    flat[:-1] |= repeated
    spread = MAD_TO_STD * running_median(np.where(flat, np.nan, np.abs(resid - center)), size)
    # Never below half the channel's spread: a calm stretch must not turn ordinary values into anomalies.
    spread = np.maximum(np.nan_to_num(spread, nan=overall), 0.5 * overall)
    return np.where(analysis.observed, np.nan_to_num((resid - center) / spread), 0.0)


def _prominence(resid: np.ndarray, start: int, end: int, upward: bool) -> float:
    """How far the extreme of resid[start:end] clears the most extreme value of its surroundings (three span widths
    and 16 samples each side), in robust ranges (q95 - q5) of the surroundings; inf without surroundings."""
    reach = 3 * (end - start) + 16
    around = np.concatenate([resid[max(0, start - reach) : start], resid[end : end + reach]])
    around = around[np.isfinite(around)]
    if around.size < 3:
        return math.inf
    sign = 1.0 if upward else -1.0
    spread = robust_range(around)
    if spread <= 0:
        return math.inf
    return (float(np.max(sign * resid[start:end])) - float(np.max(sign * around))) / spread


@dataclass
class MatrixProfileDetector(Specialist):
    """Discords: subsequences far from their nearest neighbour in the z-normalized matrix profile (stumpy.stump).

    Window: the channel's strongest period when it lies in [`min_window`, length / 8], else `default_window`. Long
    channels are block-averaged to at most `max_length` points first (the matrix profile is O(n^2); point spikes in
    long series are the STL detector's job), so spans then have the resolution of one block. A discord is kept when
    the robust z-score of its matrix-profile value is >= `threshold` (at most `max_discords` per channel, outside
    each other's windows); its span is narrowed to the samples that differ most from the nearest neighbour (at least
    `refine_fraction` of the largest mean-aligned difference), labelled "spike"/"dip" by that difference's sign, and
    discords within half a window of each other are joined (the pieces of one odd stretch).

    stumpy runs numba kernels on `numba_threads` threads (1: parallelism comes from the corpus workers; more threads
    on busy cores made it 50x slower here). The first call in a process compiles them: about 40 s, once.
    """

    name: ClassVar[str] = "matrix_profile"
    produces: ClassVar[tuple[str, ...]] = ("spans",)

    threshold: float = 5.0
    default_window: int = 16
    min_window: int = 4
    max_length: int = 2048
    max_discords: int = 3
    refine_fraction: float = 0.5
    numba_threads: int = 1
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __call__(self, values: np.ndarray, timestamps: Sequence[str] | None = None) -> dict[str, Any]:
        array = self._check(values, timestamps)
        spans = []
        for c, (x, analysis) in enumerate(zip(array, analyse_all(array, self.analysis), strict=True)):
            if analysis.usable:
                spans.extend(self._channel_spans(x, analysis, self._channel(c, len(array))))
        return {"spans": spans}

    def _matrix_profile(self, series: np.ndarray, window: int) -> np.ndarray:
        import numba
        import stumpy

        previous = numba.get_num_threads()
        numba.set_num_threads(min(self.numba_threads, numba.config.NUMBA_NUM_THREADS))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # stumpy warns about constant subsequences, which it handles
                return stumpy.stump(series, window)
        finally:
            numba.set_num_threads(previous)

    def _channel_spans(self, x: np.ndarray, analysis: ChannelAnalysis, channel: int | None) -> list[dict[str, Any]]:
        n = len(x)
        factor = max(1, math.ceil(n / self.max_length))
        series = block_reduce(analysis.filled, factor)
        missing = block_reduce(~analysis.observed, factor, np.max)
        length = len(series)
        window = max(1, round((analysis.periods[0] if analysis.periods else self.default_window) / factor))
        if not self.min_window <= window <= length // 8:
            window = min(self.default_window, length // 8)
        if window < self.min_window or np.ptp(series) == 0:
            return []
        profile = self._matrix_profile(series, window)
        distance = profile[:, 0].astype(np.float64)
        neighbour = profile[:, 1].astype(np.int64)
        # A window over interpolated missing values is a gap, not a discord (EventDetector reports gaps).
        touches_gap = np.convolve(missing.astype(np.float64), np.ones(window), mode="valid") > 0
        distance[touches_gap | ~np.isfinite(distance)] = np.nan
        scale = robust_std(distance)
        if not np.isfinite(distance).any() or scale <= 0:
            return []
        z = (distance - np.nanmedian(distance)) / scale
        available = np.isfinite(z)
        found: list[list[Any]] = []  # [start, end, label, z]
        for _ in range(self.max_discords):
            if not available.any():
                break
            i = int(np.argmax(np.where(available, z, -np.inf)))
            if z[i] < self.threshold:
                break
            available[max(0, i - window + 1) : i + window] = False
            j = int(neighbour[i])
            if j < 0:
                continue
            here, there = series[i : i + window], series[j : j + window]
            difference = (here - here.mean()) - (there - there.mean())
            strong = np.flatnonzero(np.abs(difference) >= self.refine_fraction * np.abs(difference).max())
            start, end = (i + int(strong[0])) * factor, min(n, (i + int(strong[-1]) + 1) * factor)
            label = "spike" if difference[np.argmax(np.abs(difference))] > 0 else "dip"
            found.append([start, end, label, float(z[i])])
        # Discords of one odd stretch come in pieces (each window holds part of it): join those within half a window.
        merged: list[list[Any]] = []
        for piece in sorted(found):
            if merged and piece[0] - merged[-1][1] <= window * factor // 2:
                last = merged[-1]
                last[1] = max(last[1], piece[1])
                if piece[3] > last[3]:
                    last[2], last[3] = piece[2], piece[3]
            else:
                merged.append(piece)
        spans = []
        for start, end, label, height in merged:
            magnitude = event_magnitude(x, start, end, label)
            score = logistic(height - self.threshold)
            spans.append(self._span(start, end, label, "anomaly", channel=channel, magnitude=magnitude, score=score))
        return spans


@dataclass
class IsolationForestDetector(Specialist):
    """Anomalies from a scikit-learn IsolationForest fitted per series on sliding-window features of the residual.

    Each sample is a row of (robust z of the residual, its centered mean over `window` samples, log of its centered
    std over `window` relative to the channel's median); all channels' rows go into one forest, the features being
    normalized per channel. Rows whose anomaly score (Liu et al. 2008: ~0.5 ordinary, 1 isolated at once) is >=
    `score_threshold` form runs; a run is kept when it holds a sample with |z| >= `min_z`, narrowed to those samples
    of the sign of the largest |z| ("spike"/"dip", kept when they stand out of their surroundings as in
    `StlZScoreDetector`), or kept whole as a "variance burst" when it holds two of each sign. Series with more
    than `max_rows` samples over all channels are scored on one row per block of f samples (the block's most
    extreme residual, so point anomalies survive): spans then have a resolution of f samples.
    Fitting costs ~1.6 ms per tree in scikit-learn, hence few trees.
    """

    name: ClassVar[str] = "isolation_forest"
    produces: ClassVar[tuple[str, ...]] = ("spans",)

    score_threshold: float = 0.7
    min_z: float = 3.5
    min_prominence: float = 0.75
    window: int = 8
    n_estimators: int = 10
    max_samples: int = 256
    max_rows: int = 20_000
    random_state: int = 0
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __call__(self, values: np.ndarray, timestamps: Sequence[str] | None = None) -> dict[str, Any]:
        from sklearn.ensemble import IsolationForest

        array = self._check(values, timestamps)
        n_channels, n = array.shape
        factor = max(1, math.ceil(n * n_channels / self.max_rows))
        tables, zs, channels = [], [], []
        for c, analysis in enumerate(analyse_all(array, self.analysis)):
            features = self._features(analysis)
            if features is None:
                continue
            z, table = features
            if factor > 1:
                n_blocks = math.ceil(n / factor)
                padded = np.pad(np.abs(z), (0, n_blocks * factor - n), constant_values=-1.0)
                pick = np.argmax(padded.reshape(n_blocks, factor), axis=1) + np.arange(n_blocks) * factor
                z, table = z[pick], table[pick]
            tables.append(table)
            zs.append(z)
            channels.append(c)
        rows = sum(len(table) for table in tables)
        if rows < 16:
            return {"spans": []}
        forest = IsolationForest(
            n_estimators=self.n_estimators, max_samples=min(self.max_samples, rows), random_state=self.random_state
        ).fit(np.concatenate(tables))
        spans = []
        for c, table, z in zip(channels, tables, zs, strict=True):
            score = -forest.score_samples(table)
            spans.extend(self._channel_spans(array[c], z, score, factor, self._channel(c, n_channels)))
        return {"spans": spans}

    def _features(self, analysis: ChannelAnalysis) -> tuple[np.ndarray, np.ndarray] | None:
        if not analysis.usable:
            return None
        resid = np.where(analysis.observed, analysis.resid, np.nan)
        scale = robust_std(resid)
        if scale <= 0:
            return None
        z = np.nan_to_num((resid - np.nanmedian(resid)) / scale)
        window = max(3, min(self.window, len(z) // 4))
        mean = ndimage.uniform_filter1d(z, window, mode="nearest")
        variance = np.maximum(ndimage.uniform_filter1d(z**2, window, mode="nearest") - mean**2, 0.0)
        log_std = np.log(np.sqrt(variance) + 0.1)
        return z, np.column_stack([np.clip(z, -50, 50), np.clip(mean, -50, 50), log_std - np.median(log_std)])

    def _channel_spans(
        self, x: np.ndarray, z: np.ndarray, score: np.ndarray, factor: int, channel: int | None
    ) -> list[dict[str, Any]]:
        n = len(x)
        spans = []
        for start, end in merge_runs(runs(score >= self.score_threshold), 1):
            zs = z[start:end]
            strong = np.flatnonzero(np.abs(zs) >= self.min_z)
            if strong.size == 0:
                continue
            if np.sum(zs >= self.min_z) >= 2 and np.sum(zs <= -self.min_z) >= 2:
                label, first, last = "variance burst", strong[0], strong[-1] + 1
            else:
                peak = zs[strong[np.argmax(np.abs(zs[strong]))]]
                label = "spike" if peak > 0 else "dip"
                same_sign = strong[np.sign(zs[strong]) == np.sign(peak)]
                first, last = same_sign[0], same_sign[-1] + 1
                if _prominence(z, start + int(first), start + int(last), peak > 0) < self.min_prominence:
                    continue
            first, last = (start + int(first)) * factor, min(n, (start + int(last)) * factor)
            magnitude = event_magnitude(x, first, last, label)
            confidence = logistic((float(score[start:end].max()) - self.score_threshold) / 0.05)
            spans.append(
                self._span(first, last, label, "anomaly", channel=channel, magnitude=magnitude, score=confidence)
            )
        return spans
