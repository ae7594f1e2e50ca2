"""Events and event-like anomalies with the generator's kinds and labels: gaps and missing stretches, flat lines,
peaks and troughs, level shifts, variance and oscillation bursts."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import signal

from ...tasks import bin_to_end
from ...vocabulary import GAP_MIN_FRACTION, MISSING_MAX_FRACTION
from ..descriptions import robust_range
from .analysis import (
    AnalysisConfig,
    ChannelAnalysis,
    analyse_all,
    event_magnitude,
    hysteresis_runs,
    local_noise,
    logistic,
    robust_std,
    runs,
)
from .base import Specialist


@dataclass
class EventDetector(Specialist):
    """Events and event-like anomalies, with the generator's kinds and labels.

    - NaN runs of at least `gap_min_length` samples: "missing stretch" (anomaly) up to `gap_fraction` of the series,
      "gap" (event) beyond; a run on every channel of a multivariate series is one span for all (channel None).
    - flat lines (anomaly): runs of at least `flat_min_length` samples whose consecutive differences are 0 (within
      `flat_tolerance` of the robust range); none in a channel flat over `flat_normal_fraction` of its differences
      (flatness is then its normal behaviour, which the description states).
    - peaks/troughs (events): `scipy.signal.find_peaks` on the deseasonalized series (a cycle's crests are not
      events), prominence >= `peak_range_fraction` x range, >= `peak_noise_factor` x the local noise and >=
      `peak_surroundings` x the robust range of the values around (three widths each side), width at
      half prominence >= `peak_min_width` and `peak_min_fraction` of the series (narrower ones are spikes); the
      `max_peaks` most prominent per channel and kind. Span: twice the width at half prominence (a smooth bump's
      support), centred on it.
    - level shifts: difference of running medians over w = `shift_window` samples (fewer in short series) on each
      side, on the deseasonalized and linearly detrended series, z-scored against the larger of the statistic's own
      MAD-std (absorbs autocorrelated noise) and the local noise; a shift where |z| >= `shift_z` and its size >=
      `shift_range_fraction` x range. One followed by a shift back of a similar size is an anomaly spanning the
      offset; any other is an event spanning the step (one location bin, `tasks.bin_to_end(0, n)` samples, each side).
    - variance bursts (anomaly): local noise (running median |first difference| over `burst_window`) >=
      `burst_ratio` x the channel's, over at least burst_window / 2 samples; not when the stretch of at least half
      that ratio around it exceeds `burst_max_fraction` of the series (a volatile regime). "oscillation burst" when
      over `oscillation_power` of its power is at 2.2 to 5 samples per cycle.
    """

    name: ClassVar[str] = "events"
    produces: ClassVar[tuple[str, ...]] = ("spans",)

    gap_min_length: int = 2
    gap_fraction: float = (MISSING_MAX_FRACTION + GAP_MIN_FRACTION) / 2
    flat_min_length: int = 5
    flat_tolerance: float = 1e-9
    flat_normal_fraction: float = 0.5
    peak_noise_factor: float = 8.0
    peak_range_fraction: float = 0.3
    peak_surroundings: float = 0.75
    peak_min_width: float = 4.0
    peak_min_fraction: float = 0.015
    max_peaks: int = 3
    shift_window: int = 16
    shift_z: float = 6.0
    shift_range_fraction: float = 0.1
    shift_max_fraction: float = 0.1  # a shift back within this share of the series ends an excursion (anomaly)
    burst_window: int = 16
    burst_ratio: float = 3.0
    burst_max_fraction: float = 0.15  # the generator: bursts up to 10% of the series, regimes from 20%
    oscillation_power: float = 0.75  # white noise has ~0.5 of its power in that band
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __call__(self, values: np.ndarray, timestamps: Sequence[str] | None = None) -> dict[str, Any]:
        array = self._check(values, timestamps)
        n_channels, n = array.shape
        spans = []
        everywhere = np.isnan(array).all(axis=0) if n_channels > 1 else np.zeros(n, dtype=bool)
        for start, end in runs(everywhere):
            spans.extend(self._gaps(array[0], start, end, None))
        for c, (x, analysis) in enumerate(zip(array, analyse_all(array, self.analysis), strict=True)):
            channel = self._channel(c, n_channels)
            found: list[tuple[int, int, str, str, float, float | None]] = []  # start, end, label, kind, score, size
            for start, end in runs(~analysis.observed & ~everywhere):
                spans.extend(self._gaps(x, start, end, channel))
            if analysis.usable:
                found += self._flat_lines(x, analysis)
                found += self._peaks(analysis)
                found += self._level_shifts(x, analysis)
                found += self._bursts(analysis)
            for start, end, label, kind, score, size in sorted(found, key=lambda item: item[:3]):
                magnitude = size if size is not None else event_magnitude(x, start, end, label)
                spans.append(self._span(start, end, label, kind, channel=channel, magnitude=magnitude, score=score))
        return {"spans": sorted(spans, key=lambda s: (s["start"], -1 if s["channel"] is None else s["channel"]))}

    def _gaps(self, x: np.ndarray, start: int, end: int, channel: int | None) -> list[dict[str, Any]]:
        if end - start < self.gap_min_length:
            return []
        label, kind = ("gap", "event") if end - start > self.gap_fraction * len(x) else ("missing stretch", "anomaly")
        return [self._span(start, end, label, kind, channel=channel, magnitude=None, score=1.0)]

    def _flat_lines(self, x: np.ndarray, analysis: ChannelAnalysis) -> list[tuple[Any, ...]]:
        steps = np.abs(np.diff(x))
        still = steps <= self.flat_tolerance * analysis.value_range  # False where either sample is missing
        observed_steps = int(np.isfinite(steps).sum())
        if observed_steps == 0 or still.sum() > self.flat_normal_fraction * observed_steps:
            return []
        return [
            (a, b + 1, "flat line", "anomaly", 1.0, None) for a, b in runs(still) if b + 1 - a >= self.flat_min_length
        ]

    def _peaks(self, analysis: ChannelAnalysis) -> list[tuple[Any, ...]]:
        y = analysis.deseasonalized
        n = len(y)
        floor = self.peak_range_fraction * robust_range(y)
        if floor <= 0:
            return []
        # Judged against the local noise, so that the wiggles of a volatile stretch are not peaks.
        noise = np.maximum(local_noise(analysis, 4 * self.burst_window), analysis.step_noise)
        min_width = max(self.peak_min_width, self.peak_min_fraction * n)
        found = []
        for sign, label in ((1.0, "peak"), (-1.0, "trough")):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="some peaks have a width of 0")  # flat tops: dropped
                peaks, props = signal.find_peaks(sign * y, prominence=floor, width=min_width, rel_height=0.5)
            needed = np.maximum(floor, self.peak_noise_factor * noise[peaks])
            # A bump must also rise above what the series does around it, seasonal swings included (the generator's
            # peaks reach 1-2 robust ranges of their surroundings).
            needed = np.maximum(
                needed,
                [
                    self.peak_surroundings * _surroundings_range(analysis.filled, p, w)
                    for p, w in zip(peaks, props["widths"], strict=True)
                ],
            )
            keep = np.flatnonzero(props["prominences"] >= needed)
            keep = keep[np.argsort(-props["prominences"][keep], kind="stable")][: self.max_peaks]
            for k in keep:
                center = (props["left_ips"][k] + props["right_ips"][k]) / 2
                half = props["widths"][k]
                start, end = max(0, int(math.floor(center - half))), min(n, int(math.ceil(center + half)) + 1)
                excess = props["prominences"][k] / needed[k] - 1.0
                found.append((start, end, label, "event", logistic(2.0 * excess), sign * props["prominences"][k]))
        return found

    def _level_shifts(self, x: np.ndarray, analysis: ChannelAnalysis) -> list[tuple[Any, ...]]:
        y = analysis.deseasonalized
        n = len(y)
        window = max(4, min(self.shift_window, n // 32))
        if n < 4 * window:
            return []
        t = np.arange(n)
        y = y - np.polyval(np.polyfit(t, y, 1), t)
        # jump[i] = median(y[i + w : i + 2w]) - median(y[i : i + w]): a shift at sample i + w
        medians = np.median(np.lib.stride_tricks.sliding_window_view(y, window), axis=1)
        jump = medians[window:] - medians[:-window]
        local = local_noise(analysis, 2 * window)[window : n - window + 1]
        # The median of w Gaussian samples has sd ~1.2533 sigma / sqrt(w).
        spread = np.maximum(robust_std(jump), local * 1.2533 * math.sqrt(2.0 / window))
        z = jump / np.maximum(spread, 1e-9 * analysis.value_range)
        big = np.abs(jump) >= self.shift_range_fraction * analysis.value_range
        peaks, props = signal.find_peaks(np.where(big, np.abs(z), 0.0), height=self.shift_z, distance=window)
        shifts = [
            (int(p) + window, float(jump[p]), float(h)) for p, h in zip(peaks, props["peak_heights"], strict=True)
        ]
        # The statistic is flat-topped around a step: put each shift at the best split of its neighbourhood.
        shifts = [(_best_step(y, index, window), size, height) for index, size, height in shifts]
        half = max(1, bin_to_end(0, n))  # one location bin each side
        found = []
        k = 0
        while k < len(shifts):
            index, size, height = shifts[k]
            score = logistic((height - self.shift_z) / 2.0)
            following = shifts[k + 1] if k + 1 < len(shifts) else None
            returns = following is not None and abs(size + following[1]) <= 0.5 * max(abs(size), abs(following[1]))
            if returns and following[0] <= index:
                # A step and its return that `_best_step` put on the same or crossing samples: a burst of spikes
                # (the peak detector's), not a shift, and no span to give it.
                k += 2
            elif returns and following[0] - index <= self.shift_max_fraction * n:
                found.append((index, following[0], "level shift", "anomaly", score, None))
                k += 2
            else:
                found.append((max(0, index - half), min(n, index + half), "level shift", "event", score, size))
                k += 1
        return found

    def _bursts(self, analysis: ChannelAnalysis) -> list[tuple[Any, ...]]:
        n = len(analysis.filled)
        ratio = local_noise(analysis, max(3, min(self.burst_window, n // 4))) / analysis.step_noise
        found = []
        for start, end in hysteresis_runs(ratio, self.burst_ratio, self.burst_ratio / 2, gap=self.burst_window):
            if end - start > self.burst_max_fraction * n:
                continue  # a volatile regime, not a burst
            strong = np.flatnonzero(ratio[start:end] >= self.burst_ratio)
            first, last = start + int(strong[0]), start + int(strong[-1]) + 1
            if last - first < self.burst_window // 2:
                continue
            label = "oscillation burst" if self._oscillates(analysis.resid[first:last]) else "variance burst"
            found.append(
                (first, last, label, "anomaly", logistic(float(ratio[first:last].max()) - self.burst_ratio), None)
            )
        return found

    def _oscillates(self, part: np.ndarray) -> bool:
        """Whether over `oscillation_power` of the (demeaned) power is at 2.2 to 5 samples per cycle."""
        if len(part) < 8:
            return False
        frequencies, power = signal.periodogram(part - part.mean())
        total = float(power[1:].sum())
        band = (frequencies >= 1 / 5) & (frequencies <= 1 / 2.2)
        return total > 0 and float(power[band].sum()) >= self.oscillation_power * total


def _surroundings_range(x: np.ndarray, center: int, width: float) -> float:
    """Robust range (q95 - q5) of `x` within three `width`s and 16 samples of `center`, the bump excluded."""
    half, reach = int(math.ceil(width)), int(3 * math.ceil(width) + 16)
    around = np.r_[x[max(0, center - reach) : max(0, center - half)], x[center + half : center + reach]]
    return robust_range(around) if around.size >= 3 else 0.0


def _best_step(y: np.ndarray, index: int, window: int) -> int:
    """The split of y[index - window : index + window] into two constant levels with the least squared error."""
    start, end = max(0, index - window), min(len(y), index + window)
    part = y[start:end]
    if len(part) < 4:
        return index
    splits = np.arange(2, len(part) - 1)
    total, squares = np.cumsum(part), np.cumsum(part**2)
    left = squares[splits - 1] - total[splits - 1] ** 2 / splits
    right_count = len(part) - splits
    right_sum = total[-1] - total[splits - 1]
    right = (squares[-1] - squares[splits - 1]) - right_sum**2 / right_count
    return start + int(splits[np.argmin(left + right)])
