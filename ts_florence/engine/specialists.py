"""Specialists: the field's own detectors, run over every series to annotate the corpus (docs/architecture.md, Flow 2).

A specialist is a callable `specialist(values, timestamps=None) -> dict` on `values` `[channels x time]` (float64,
NaN = missing) that returns only the keys it produces: "spans", "segments", "change_points" (lists built with
`records.span/segment/change_point`, `source=specialist.name`, `score` = confidence in [0, 1]) and "description"
(a `descriptions.SeriesDescription`). Specialists only add annotations; filters decide later what to keep.

Every specialist is deterministic, picklable (a dataclass of its thresholds, so it crosses `datasets.map(num_proc=N)`
unchanged) and never raises on odd but valid input (NaNs anywhere, constant channels, 16 to 100,000 samples, up to
64 channels): it returns fewer annotations instead. Only input that is not a series raises `ValueError`.

Units: positions are sample indices, spans half-open `[start, end)`; values, magnitudes and noise std are in series
units; periods in samples.

Shared measurements: every specialist starts from the same per-channel decomposition (`analyse_channel`): missing
values linearly interpolated, seasonal periods found in the periodogram and accepted on repetition and on STL
seasonal strength, then seasonal, trend and residual components and noise levels. It is cached per process on the
channel's bytes, so running all specialists on one series decomposes each channel once.

Cost (2 slow cores): all six specialists take ~40-60 ms on a series of 512 samples, most of it the decomposition
(~8 ms) and the isolation forest (~25 ms, scikit-learn's fixed cost per tree). Long series are capped: STL up to
`AnalysisConfig.stl_max_length` samples (classical decomposition beyond), the matrix profile on at most
`MatrixProfileDetector.max_length` block means, change points on at most `ChangePointDetector.max_points`, the
isolation forest on at most `IsolationForestDetector.max_rows` rows; 100,000 samples take under a second each.

Vocabularies and rules are the synthetic generator's (`synthetic.py`), so that measured and exact annotations agree:
- spans: `records.ANOMALY_LABELS` are kind "anomaly", "peak"/"trough"/"gap" and the persistent step between two level
  regimes ("level shift") are kind "event". A level shift that comes back is an anomaly spanning the offset; one
  that stays is an event spanning the step. A NaN run is a "missing stretch" (anomaly) up to midway between the
  generator's bounds (`MISSING_MAX_FRACTION`, `GAP_MIN_FRACTION` of the series) and a "gap" (event) beyond.
- segments: regimes of at least `synthetic.MIN_SEGMENT_FRACTION` of the series, labelled along one axis from
  `synthetic.REGIME_LABELS` (calm/volatile, rising/falling/flat, low/high level, seasonal/non-seasonal); one segment
  is labelled like the generator's `_whole_series_label`.
- change points (`CHANGE_LABELS`): "regime change" between regimes; "level shift" / "trend change" at both ends of
  a short excursion of the level or the slope.
- noise level, trend direction and robust range: `synthetic.noise_level`, `synthetic.trend_direction`,
  `synthetic.robust_range` (q95 - q5).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage, signal

from ..records import change_point, segment, span
from .descriptions import ChannelDescription, SeriesDescription
from .synthetic import (
    GAP_MIN_FRACTION,
    MIN_SEGMENT_FRACTION,
    MIN_SEGMENT_LENGTH,
    MISSING_MAX_FRACTION,
    REGIME_LABELS,
    SEASONAL_MIN_STRENGTH,
    noise_level,
    robust_range,
    trend_direction,
)

CHANGE_LABELS = ("regime change", "level shift", "trend change")
"""Change-point labels (the generator's): between regimes, and at both ends of a level or slope excursion."""

SAMPLING_SECONDS: dict[str, float] = {
    "secondly": 1.0,
    "minutely": 60.0,
    "every 5 minutes": 300.0,
    "every 10 minutes": 600.0,
    "quarter-hourly": 900.0,
    "half-hourly": 1800.0,
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 604800.0,
    "monthly": 2629746.0,  # a Gregorian year / 12
    "quarterly": 7889238.0,
    "yearly": 31556952.0,
}
"""Sampling names (the generator's) and their step in seconds; a median step within 10% of one gets its name."""

_MAD_TO_STD = 1.4826  # MAD of a Gaussian times this is its standard deviation
_DIFF_MEDIAN_TO_STD = 1.0484  # median |difference| of Gaussian noise is 0.6745 * sqrt(2) std


# ----------------------------------------------------------------------------------------------------- helpers
def as_channels(values: np.ndarray | Sequence[Any]) -> np.ndarray:
    """`values` as float64 `[channels x time]` with +-inf turned into NaN; a 1-D series is one channel.

    Raises ValueError when the input is not a series (not 1-D/2-D, no channel or no sample)."""
    array = np.array(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"values must be [channels x time] with channels > 0 and time > 0, got shape {array.shape}")
    array[~np.isfinite(array)] = np.nan
    return array


def format_number(value: float, digits: int = 3, signed: bool = False) -> str:
    """`value` rounded to `digits` significant digits in plain notation with thousands separators.

    4.1234 -> "4.12", 0.012345 -> "0.0123", 12345.6 -> "12,300", -0.5 -> "-0.5"; `signed` adds "+" to positives."""
    if not math.isfinite(value):
        return "nan"
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    rounded = round(value, digits - 1 - exponent)
    if rounded == 0:
        return "0"
    text = f"{rounded:,.{max(0, digits - 1 - exponent)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"+{text}" if signed and rounded > 0 else text


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open `[start, end)` runs of True in a 1-D boolean mask."""
    labels, _ = ndimage.label(np.asarray(mask, dtype=bool))
    return [(int(s.start), int(s.stop)) for (s,) in ndimage.find_objects(labels)]


def merge_runs(intervals: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Sorted runs with at most `gap` samples between them joined into one."""
    merged: list[list[int]] = []
    for start, end in intervals:
        if merged and start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def robust_std(x: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation (ignores NaN and up to half outliers)."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0
    return float(_MAD_TO_STD * np.median(np.abs(x - np.median(x))))


def difference_noise_std(x: np.ndarray) -> float:
    """Noise std from first differences of consecutive observed samples (robust to trends, steps and spikes):
    MAD-std of the differences / sqrt(2); from the mean absolute deviation when over half of them are equal."""
    diffs = np.diff(x)
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size == 0:
        return 0.0
    deviation = np.abs(diffs - np.median(diffs))
    scale = _MAD_TO_STD * float(np.median(deviation))
    if scale == 0:
        scale = math.sqrt(math.pi / 2) * float(np.mean(deviation))  # quantized or mostly flat series
    return scale / math.sqrt(2)


def logistic(x: float) -> float:
    """Confidence in [0, 1] from an excess over a threshold (0.5 at the threshold)."""
    return float(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x)))))


def sampling_from_timestamps(timestamps: Sequence[Any] | None) -> str | None:
    """The `SAMPLING_SECONDS` name whose step is within 10% of the median timestamp step, else None."""
    if timestamps is None or len(timestamps) < 2:
        return None
    import pandas as pd

    times = pd.to_datetime(pd.Series(list(timestamps)), errors="coerce", utc=True)
    steps = times.diff().dt.total_seconds().to_numpy(dtype=np.float64)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if steps.size == 0:
        return None
    step = float(np.median(steps))
    for name, seconds in SAMPLING_SECONDS.items():
        if abs(step - seconds) <= 0.1 * seconds:
            return name
    return None


def event_magnitude(x: np.ndarray, start: int, end: int, label: str) -> float | None:
    """Signed size of an event in series units, measured on one channel `x` (NaN = missing), as the generator
    defines it: spike/peak: highest value minus the surrounding level; dip/trough: lowest value minus it; level
    shift: level inside minus level before (after, for a shift at the start); trend change: level after minus level
    before; variance burst: std inside; oscillation burst: sqrt(2) x std inside (an amplitude); else None."""
    n = len(x)
    start, end = max(0, int(start)), min(n, int(end))
    inside = x[start:end]
    if end <= start or not np.isfinite(inside).any():
        return None
    width = max(5, end - start)
    before, after = x[max(0, start - width) : start], x[end : end + width]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods give NaN, handled below
        around = np.concatenate([before, after])
        baseline = float(np.nanmedian(around if np.isfinite(around).any() else x))
        if label in ("spike", "peak"):
            value = float(np.nanmax(inside)) - baseline
        elif label in ("dip", "trough"):
            value = float(np.nanmin(inside)) - baseline
        elif label == "level shift":
            if np.isfinite(before).any():
                value = float(np.nanmedian(inside) - np.nanmedian(before))
            else:
                value = float(np.nanmedian(inside) - np.nanmedian(after))
        elif label == "trend change":
            value = float(np.nanmedian(after) - np.nanmedian(before))
        elif label == "variance burst":
            value = float(np.nanstd(inside))
        elif label == "oscillation burst":
            value = float(math.sqrt(2) * np.nanstd(inside))
        else:
            return None
    return value if math.isfinite(value) else None


def describe_event(label: str, magnitude: float | None, length: int) -> str:
    """Short text for a span's `description`: "spike of +4.1", "gap of 20 samples", "flat line for 8 samples"."""
    samples = f"{format_number(length)} sample{'s' if length != 1 else ''}"
    if label in ("gap", "missing stretch"):
        return f"{label} of {samples}"
    if label == "flat line" or magnitude is None:
        return f"{label} for {samples}"
    if label == "variance burst":
        return f"variance burst with std {format_number(magnitude)} over {samples}"
    if label == "oscillation burst":
        return f"oscillation burst of amplitude {format_number(magnitude)} over {samples}"
    return f"{label} of {format_number(magnitude, signed=True)}"


def _running_median(x: np.ndarray, window: int) -> np.ndarray:
    """Centered running median over `window` samples that ignores NaN (pandas); edges use the samples there are."""
    import pandas as pd

    return pd.Series(x).rolling(max(1, window), center=True, min_periods=1).median().to_numpy()


def _block_reduce(x: np.ndarray, factor: int, reducer: Any = np.mean) -> np.ndarray:
    """`x` `[time, ...]` reduced over consecutive blocks of `factor` samples (the last block may be shorter)."""
    if factor <= 1:
        return x
    n_full = (len(x) // factor) * factor
    blocks = reducer(x[:n_full].reshape(len(x) // factor, factor, *x.shape[1:]), axis=1)
    if n_full < len(x):
        blocks = np.concatenate([blocks, reducer(x[n_full:], axis=0)[None]], axis=0)
    return blocks


# ------------------------------------------------------------------------------------------ shared decomposition
@dataclass(frozen=True)
class AnalysisConfig:
    """How a channel is decomposed; shared by all specialists (equal configs share cache entries)."""

    max_periods: int = 2  # seasonal periods looked for, strongest first
    min_period: int = 4  # in samples (shorter cycles cannot be told from noise by the repetition test)
    max_period: int | None = None  # in samples; None: no bound but `min_cycles` cycles in the series
    spectral_alpha: float = 0.05  # nominal chance that white noise yields a candidate (Bonferroni over frequencies)
    seasonal_strength_min: float = 0.3  # STL seasonal strength 1 - var(R) / var(S + R) to accept a period
    cycle_z: float = 2.0  # ... and the odd and even cycles' mean shapes must agree (Fisher z of their correlation)
    min_cycles: int = 3  # complete cycles needed (the generator draws periods of at most a third of the length)
    stl_seasonal: int = 7  # STL seasonal smoother, in cycles (odd >= 3)
    stl_max_length: int = 4096  # longer channels use the classical moving-average decomposition (STL is slow)
    trend_window: int = 31  # samples; running-median trend of channels without seasonality
    min_observed: int = 8  # fewer observed samples: levels and extremes only


@dataclass(frozen=True)
class ChannelAnalysis:
    """One channel decomposed as filled = seasonal + trend + resid (all `[time]`, series units)."""

    observed: np.ndarray  # bool, False where the input was NaN
    filled: np.ndarray  # NaN linearly interpolated (edges: nearest observed value)
    seasonal: np.ndarray  # sum of the accepted seasonal components (zeros when none)
    trend: np.ndarray
    resid: np.ndarray
    periods: tuple[int, ...]  # accepted seasonal periods in samples, strongest first
    seasonal_strength: float | None  # of the strongest period, None without one
    noise_std: float  # std of the residual where observed, clipped at 5 MAD-std (a spike is not noise)
    step_noise: float  # noise std from first differences of the deseasonalized series (innovations)
    value_range: float  # robust range (q95 - q5) of the observed values

    @property
    def deseasonalized(self) -> np.ndarray:
        return self.filled - self.seasonal

    @property
    def usable(self) -> bool:
        """Enough observed, varying samples to detect anything."""
        return bool(self.observed.sum() >= 8 and self.value_range > 0 and self.step_noise > 0)


_CACHE: OrderedDict[tuple[bytes, AnalysisConfig], ChannelAnalysis] = OrderedDict()
_CACHE_SIZE = 256  # channels
_CACHE_MAX_LENGTH = 16_384  # longer channels are not cached (memory); they are rare


def clear_analysis_cache() -> None:
    """Forget cached decompositions (for benchmarks that time one specialist alone)."""
    _CACHE.clear()


def analyse_channel(x: np.ndarray, config: AnalysisConfig = AnalysisConfig()) -> ChannelAnalysis:
    """Decompose one channel `x` `[time]` (NaN = missing); cached on the channel's bytes and `config`."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    key = (hashlib.blake2b(x.tobytes(), digest_size=16).digest(), config)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    analysis = _analyse(x, config)
    if len(x) <= _CACHE_MAX_LENGTH:
        _CACHE[key] = analysis
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return analysis


def _analyse(x: np.ndarray, config: AnalysisConfig) -> ChannelAnalysis:
    n = len(x)
    observed = np.isfinite(x)
    if not observed.any():
        zeros = np.zeros(n)
        return ChannelAnalysis(observed, zeros, zeros, zeros, zeros, (), None, 0.0, 0.0, 0.0)
    index = np.arange(n)
    filled = x.copy() if observed.all() else np.interp(index, index[observed], x[observed])
    value_range = robust_range(x)
    periods: list[int] = []
    strength: float | None = None
    seasonal, trend, resid = np.zeros(n), None, None
    if observed.sum() >= config.min_observed and value_range > 0:
        current = filled.copy()
        for _ in range(config.max_periods):
            found = None
            for period in _period_candidates(current, config, exclude=periods):
                # Cheap screen first (a moving average over one period is the classical trend): most candidates of
                # non-seasonal series stop here, before the costly STL.
                if not _cycles_agree(
                    current - _moving_average(current, period), period, config.cycle_z, config.min_cycles
                ):
                    continue
                component, stage_trend, stage_resid = _decompose(current, period, config)
                stage_strength = _strength(component, stage_resid)
                if stage_strength >= config.seasonal_strength_min and _cycles_agree(
                    current - stage_trend, period, config.cycle_z, config.min_cycles
                ):
                    found = (period, stage_strength, component, stage_trend, stage_resid)
                    break
            if found is None:
                break
            period, stage_strength, component, trend, resid = found
            periods.append(period)
            strength = stage_strength if strength is None else strength
            seasonal = seasonal + component
            current = current - component
    deseasonalized = filled - seasonal
    if trend is None or resid is None:
        # Without a cycle there is no STL: a running median follows the level and ignores spikes.
        window = min(config.trend_window, max(3, (n // 2) | 1))
        trend = ndimage.median_filter(deseasonalized, size=window, mode="nearest")
        resid = deseasonalized - trend
    observed_resid = resid[observed]
    center, spread = float(np.median(observed_resid)), robust_std(observed_resid)
    noise = float(np.std(np.clip(observed_resid, center - 5 * spread, center + 5 * spread)))
    step_noise = difference_noise_std(np.where(observed, deseasonalized, np.nan))
    return ChannelAnalysis(
        observed, filled, seasonal, trend, resid, tuple(periods), strength, noise, step_noise, value_range
    )


def _strength(component: np.ndarray, resid: np.ndarray) -> float:
    """Strength of a component (Wang, Smith & Hyndman 2006): max(0, 1 - var(R) / var(C + R)), in [0, 1]."""
    total = float(np.var(component + resid))
    return max(0.0, 1.0 - float(np.var(resid)) / total) if total > 0 else 0.0


def _moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Centered moving average over `window` samples (fewer at the edges)."""
    import pandas as pd

    return pd.Series(y).rolling(window, center=True, min_periods=1).mean().to_numpy()


def _cycles_agree(detrended: np.ndarray, period: int, z_min: float, min_cycles: int) -> bool:
    """Whether the cycle repeats: the mean shapes of the odd- and of the even-numbered cycles (at least
    `min_cycles` cycles) correlate with Fisher z >= `z_min`, on (period - 3) (1 - rho) / (1 + rho) degrees of
    freedom where rho is the lag-1 autocorrelation of their difference. Noise and random walks also fit an STL
    "seasonal" component, but it does not repeat; and the difference of two smooth random wiggles (random walk) is
    smooth, leaving few independent points, whereas a repeated shape cancels out of it."""
    n_cycles = len(detrended) // period
    if n_cycles < max(2, min_cycles) or period < 4:
        return False
    cycles = detrended[: n_cycles * period].reshape(n_cycles, period)
    odd, even = cycles[0::2].mean(axis=0), cycles[1::2].mean(axis=0)
    difference = odd - even
    if np.std(odd) == 0 or np.std(even) == 0:
        return False
    r = float(np.clip(np.corrcoef(odd, even)[0, 1], -0.999999, 0.999999))
    rho = 0.0
    if np.std(difference[1:]) > 0 and np.std(difference[:-1]) > 0:
        rho = float(np.clip(np.corrcoef(difference[1:], difference[:-1])[0, 1], 0.0, 0.99))
    return bool(np.arctanh(r) * math.sqrt((period - 3) * (1 - rho) / (1 + rho)) >= z_min)


def _period_candidates(y: np.ndarray, config: AnalysisConfig, exclude: Sequence[int] = ()) -> list[int]:
    """Up to three candidate seasonal periods (samples), strongest first: peaks of the periodogram of the linearly
    detrended series (Hann window, zero-padded 4x so that long periods are resolved to about a sample) whose power
    is at least ln(bins / `spectral_alpha`) times the background there, none within 10% of a stronger one or of an
    `exclude`d period. Background: a power law fitted (least squares on log power) to the frequencies within a
    factor of 3 around the peak, outside its main lobe, extrapolated where one side is missing (the longest periods).

    The periodogram separates several periods where autocorrelation peaks interfere (periods 96 and 44 put one at
    lag 89); the power-law background makes red noise (random walks, AR), whose power rises smoothly towards low
    frequencies, no candidate; white noise gives a candidate in about `spectral_alpha` of the channels."""
    from scipy.fft import next_fast_len

    n = len(y)
    longest = n / 2 if config.max_period is None else min(n / 2, config.max_period)
    if longest < config.min_period:
        return []
    t = np.arange(n)
    detrended = y - np.polyval(np.polyfit(t, y, 1), t)
    if np.std(detrended) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        return []
    nfft = next_fast_len(4 * n)
    pad = nfft / n  # padded bins per independent frequency bin
    frequencies, power = signal.periodogram(detrended, window="hann", nfft=nfft, detrend=False)
    log_power = np.log(np.maximum(power, 1e-300))
    # Periodogram ordinates are exponential around the background: P(power > c x background) = exp(-c).
    factor = math.log(max(2.0, n / 2) / config.spectral_alpha)
    lobe = math.ceil(3 * pad)  # the Hann main lobe reaches 2 bins each side
    peaks, _ = signal.find_peaks(power)
    peaks = peaks[(frequencies[peaks] >= 1 / longest) & (frequencies[peaks] <= 1 / config.min_period)]
    periods: list[int] = []
    for peak in peaks[np.argsort(-power[peaks], kind="stable")][:20]:
        low, high = max(1, peak // 3), min(len(power) - 1, max(3 * peak, peak + lobe + math.ceil(16 * pad)))
        around = np.r_[low : max(low, peak - lobe), peak + lobe + 1 : high + 1]
        if around.size < 4:
            continue
        slope, intercept = np.polyfit(np.log(frequencies[around]), log_power[around], 1)
        # the mean of log(exponential) is log(mean) - Euler's gamma
        background = math.exp(slope * math.log(frequencies[peak]) + intercept + np.euler_gamma)
        if power[peak] < factor * background:
            continue
        period = round(1 / frequencies[peak])
        if all(abs(period - q) > max(1, 0.1 * q) for q in [*periods, *exclude]):
            periods.append(period)
        if len(periods) == 3:
            break
    return periods


def _decompose(y: np.ndarray, period: int, config: AnalysisConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seasonal, trend, resid) of `y` for one period: STL up to `stl_max_length` samples, else the classical
    moving-average decomposition (O(n), for long channels)."""
    if len(y) <= config.stl_max_length:
        from statsmodels.tsa.seasonal import STL

        seasonal_window = max(3, config.stl_seasonal | 1)
        trend_window = _next_odd(1.5 * period / (1 - 1.5 / seasonal_window))  # statsmodels' default
        low_pass = _next_odd(period + 1)
        # Interpolating between every tenth loess fit (R's stl default) is ~4x faster and visually identical.
        result = STL(
            y,
            period=period,
            seasonal=seasonal_window,
            trend=trend_window,
            low_pass=low_pass,
            seasonal_jump=math.ceil(seasonal_window / 10),
            trend_jump=math.ceil(trend_window / 10),
            low_pass_jump=math.ceil(low_pass / 10),
        ).fit()
        return np.asarray(result.seasonal), np.asarray(result.trend), np.asarray(result.resid)
    from statsmodels.tsa.seasonal import seasonal_decompose

    result = seasonal_decompose(y, model="additive", period=period, extrapolate_trend=period)
    return np.asarray(result.seasonal), np.asarray(result.trend), np.asarray(result.resid)


def _next_odd(value: float) -> int:
    odd = int(math.ceil(value))
    return odd + 1 if odd % 2 == 0 else odd


def _analyse_all(values: np.ndarray, config: AnalysisConfig) -> list[ChannelAnalysis]:
    return [analyse_channel(channel, config) for channel in values]


def _local_noise(analysis: ChannelAnalysis, window: int) -> np.ndarray:
    """Noise std around each sample `[time]`: running median of |first difference| of the deseasonalized series over
    `window` samples, as a Gaussian std; NaN-aware, the channel's `step_noise` where nothing is known."""
    y = np.where(analysis.observed, analysis.deseasonalized, np.nan)
    steps = np.abs(np.diff(y, prepend=np.nan))
    return np.nan_to_num(_running_median(steps, max(3, window)) * _DIFF_MEDIAN_TO_STD, nan=analysis.step_noise)


def describe_channel(x: np.ndarray, analysis: ChannelAnalysis, name: str) -> ChannelDescription:
    """What a caption may say about one channel `x` `[time]`, measured from its decomposition.

    Trend: the trend component's strength against the residual (Wang, Smith & Hyndman, as the generator) and its
    change (mean of its last minus its first 2% of samples); direction by `synthetic.trend_direction`. Noise: the
    residual std and `synthetic.noise_level`. Seasonality: accepted periods, strongest first, and the strongest's
    STL strength."""
    observed = analysis.observed
    missing = float(1.0 - observed.mean())
    if not observed.any():
        return ChannelDescription(name=name, missing_fraction=missing)
    values = np.where(observed, x, np.nan)
    description = ChannelDescription(
        name=name,
        mean=float(np.nanmean(values)),
        minimum=float(np.nanmin(values)),
        minimum_at=int(np.nanargmin(values)),
        maximum=float(np.nanmax(values)),
        maximum_at=int(np.nanargmax(values)),
        missing_fraction=missing,
        periods=list(analysis.periods),
        seasonal_strength=analysis.seasonal_strength,
        noise_std=analysis.noise_std,
        # a constant channel has no noise (synthetic.noise_level has no answer for a zero range)
        noise=noise_level(analysis.noise_std, analysis.value_range) if analysis.value_range > 0 else "low",
    )
    edge = max(1, len(x) // 50)
    strength = _strength(analysis.trend[observed], analysis.resid[observed])
    change = float(np.mean(analysis.trend[-edge:]) - np.mean(analysis.trend[:edge]))
    description.trend_strength = strength
    description.trend_change = change
    description.trend = trend_direction(change, strength, analysis.value_range)
    return description


# --------------------------------------------------------------------------------------------------- specialists
class Specialist:
    """Base of all specialists: `specialist(values, timestamps=None) -> dict` of the keys in `produces`."""

    name: ClassVar[str] = "specialist"  # provenance `source` of everything it adds
    produces: ClassVar[tuple[str, ...]] = ()  # subset of ("spans", "segments", "change_points", "description")

    def __call__(self, values: np.ndarray, timestamps: Sequence[str] | None = None) -> dict[str, Any]:
        """Annotate `values` `[channels x time]` (NaN = missing); `timestamps`: one ISO 8601 string per sample."""
        raise NotImplementedError

    @staticmethod
    def _check(values: np.ndarray, timestamps: Sequence[str] | None) -> np.ndarray:
        array = as_channels(values)
        if timestamps is not None and len(timestamps) != array.shape[1]:
            raise ValueError(f"timestamps ({len(timestamps)}) != samples ({array.shape[1]})")
        return array

    @staticmethod
    def _channel(index: int, n_channels: int) -> int | None:
        # A univariate series' spans concern "every channel": no `<ch_0>` token in front of each of them.
        return None if n_channels == 1 else index


@dataclass
class RegimeDescriber(Specialist):
    """Describes each channel (`describe_channel`: trend, seasonal periods, noise level, levels and extremes, missing
    fraction) and the sampling of timestamped series. Events and segments are left to the detectors."""

    name: ClassVar[str] = "regime_describer"
    produces: ClassVar[tuple[str, ...]] = ("description",)

    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __call__(
        self, values: np.ndarray, timestamps: Sequence[str] | None = None, channel_names: Sequence[str] | None = None
    ) -> dict[str, Any]:
        return {"description": self.describe(values, timestamps, channel_names)}

    def describe(
        self, values: np.ndarray, timestamps: Sequence[str] | None = None, channel_names: Sequence[str] | None = None
    ) -> SeriesDescription:
        """The `SeriesDescription` of `values` `[channels x time]`; channels named "ch0", ... unless given."""
        array = self._check(values, timestamps)
        names = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(len(array))]
        if len(names) != len(array):
            raise ValueError(f"channel names ({len(names)}) != channels ({len(array)})")
        channels = [
            describe_channel(x, analysis, name)
            for x, analysis, name in zip(array, _analyse_all(array, self.analysis), names, strict=True)
        ]
        return SeriesDescription(
            length=array.shape[1], channels=channels, sampling=sampling_from_timestamps(timestamps)
        )


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
        for c, (x, analysis) in enumerate(zip(array, _analyse_all(array, self.analysis), strict=True)):
            z = _local_z(analysis, self.scale_window) if analysis.usable else None
            if z is None:
                continue
            for start, end in _hysteresis_runs(np.abs(z), self.threshold, self.extend_threshold, self.merge_gap):
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
                spans.append(
                    span(
                        start,
                        end,
                        label,
                        "anomaly",
                        channel=self._channel(c, len(array)),
                        description=describe_event(label, magnitude, end - start),
                        score=logistic(abs(peak) - self.threshold),
                        source=self.name,
                    )
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
    center = _running_median(resid, size)
    # Samples of a flat stretch (repeated values) say nothing about the noise around them.
    repeated = np.diff(analysis.filled) == 0
    flat = np.zeros(len(resid), dtype=bool)
    flat[1:] |= repeated
    flat[:-1] |= repeated
    spread = _MAD_TO_STD * _running_median(np.where(flat, np.nan, np.abs(resid - center)), size)
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


def _hysteresis_runs(strength: np.ndarray, high: float, low: float, gap: int) -> list[tuple[int, int]]:
    """Runs of `strength > low` that contain a sample `> high`, joined across `gap` samples."""
    core = strength > high
    kept = [(a, b) for a, b in runs(strength > low) if core[a:b].any()]
    return merge_runs(kept, gap)


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
        for c, (x, analysis) in enumerate(zip(array, _analyse_all(array, self.analysis), strict=True)):
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
        series = _block_reduce(analysis.filled, factor)
        missing = _block_reduce(~analysis.observed, factor, np.max)
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
            spans.append(
                span(start, end, label, "anomaly", channel=channel, source=self.name,
                     description=describe_event(label, magnitude, end - start),
                     score=logistic(height - self.threshold))
            )  # fmt: skip
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
        for c, analysis in enumerate(_analyse_all(array, self.analysis)):
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
                span(
                    first,
                    last,
                    label,
                    "anomaly",
                    channel=channel,
                    description=describe_event(label, magnitude, last - first),
                    score=confidence,
                    source=self.name,
                )
            )
        return spans


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
       like the generator's whole series (trend, else "seasonal" from `SEASONAL_MIN_STRENGTH`, else by noise).

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
        analyses = _analyse_all(array, self.analysis)
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
            spans.append(
                span(start, end, label, "anomaly", channel=self._channel(indices[c], len(analyses)), source=self.name,
                     score=_confidence(gain, penalty), description=describe_event(label, magnitude, end - start))
            )  # fmt: skip
        return {"change_points": change_points, "segments": segments, "spans": spans}

    def _edges(self, analyses: list[ChannelAnalysis], n: int) -> tuple[list[int], list[float], float]:
        """Segment edges in samples (0 ... n), the gain of each inner edge and the penalty."""
        import ruptures

        factor = max(1, math.ceil(n / self.max_points))
        points = len(_block_reduce(np.zeros(n), factor))
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
                scaled = _unit_noise(_block_reduce(column, factor))
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
        seasonal = _strength(analysis.seasonal[start:end], analysis.resid[start:end])
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
    """A `synthetic.REGIME_LABELS` label per regime (step 4 of `ChangePointDetector`)."""
    if not usable:
        return ["calm"] * len(regimes)
    if len(regimes) == 1:
        x, analysis = usable[0]
        channel = describe_channel(x, analysis, "")
        if channel.trend in ("rising", "falling"):
            return [channel.trend]
        if (channel.seasonal_strength or 0.0) >= SEASONAL_MIN_STRENGTH:
            return ["seasonal"]
        return ["volatile" if channel.noise == "high" else "calm"]
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
      offset; any other is an event spanning the step (one location bin, ceil(n / 1000) samples, each side).
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
        for c, (x, analysis) in enumerate(zip(array, _analyse_all(array, self.analysis), strict=True)):
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
                spans.append(
                    span(
                        start,
                        end,
                        label,
                        kind,
                        channel=channel,
                        description=describe_event(label, magnitude, end - start),
                        score=score,
                        source=self.name,
                    )
                )
        return {"spans": sorted(spans, key=lambda s: (s["start"], -1 if s["channel"] is None else s["channel"]))}

    def _gaps(self, x: np.ndarray, start: int, end: int, channel: int | None) -> list[dict[str, Any]]:
        if end - start < self.gap_min_length:
            return []
        label, kind = ("gap", "event") if end - start > self.gap_fraction * len(x) else ("missing stretch", "anomaly")
        return [
            span(
                start,
                end,
                label,
                kind,
                channel=channel,
                description=describe_event(label, None, end - start),
                score=1.0,
                source=self.name,
            )
        ]

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
        noise = np.maximum(_local_noise(analysis, 4 * self.burst_window), analysis.step_noise)
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
        local = _local_noise(analysis, 2 * window)[window : n - window + 1]
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
        half = max(1, math.ceil(n / 1000))
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
        ratio = _local_noise(analysis, max(3, min(self.burst_window, n // 4))) / analysis.step_noise
        found = []
        for start, end in _hysteresis_runs(ratio, self.burst_ratio, self.burst_ratio / 2, gap=self.burst_window):
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


SPECIALISTS: dict[str, type[Specialist]] = {
    cls.name: cls
    for cls in (
        RegimeDescriber,
        StlZScoreDetector,
        MatrixProfileDetector,
        IsolationForestDetector,
        ChangePointDetector,
        EventDetector,
    )
}
"""Specialists by name (their provenance `source`). The caption writer (`captions.CaptionWriter`) runs after the
filters, on the annotations kept, and is not in this registry."""


def default_specialists() -> list[Specialist]:
    """One of each registered specialist with its default thresholds."""
    return [cls() for cls in SPECIALISTS.values()]
