"""The channel analysis every specialist starts from, and the measurements they share.

`analyse_channel` decomposes one channel: missing values linearly interpolated, seasonal periods found in the
periodogram and accepted on repetition and on STL seasonal strength, then seasonal, trend and residual components
and noise levels. It is cached per process on the channel's bytes, so running all specialists on one series
decomposes each channel once (`clear_analysis_cache` forgets it). `describe_channel` turns it into what a caption
may say about the channel, by the vocabulary's rules (`ts_florence/vocabulary.py`).

Units: positions are sample indices, runs half-open `[start, end)`; values, magnitudes and noise std are in series
units; periods in samples.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, signal

from ...vocabulary import noise_level, trend_direction
from ..descriptions import ChannelDescription, component_strength, robust_range

MAD_TO_STD = 1.4826  # MAD of a Gaussian times this is its standard deviation
_DIFF_MEDIAN_TO_STD = 1.0484  # median |difference| of Gaussian noise is 0.6745 * sqrt(2) std


# ------------------------------------------------------------------------------------------------------------ helpers
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


def hysteresis_runs(strength: np.ndarray, high: float, low: float, gap: int) -> list[tuple[int, int]]:
    """Runs of `strength > low` that contain a sample `> high`, joined across `gap` samples."""
    core = strength > high
    kept = [(a, b) for a, b in runs(strength > low) if core[a:b].any()]
    return merge_runs(kept, gap)


def robust_std(x: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation (ignores NaN and up to half outliers)."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0
    return float(MAD_TO_STD * np.median(np.abs(x - np.median(x))))


def difference_noise_std(x: np.ndarray) -> float:
    """Noise std from first differences of consecutive observed samples (robust to trends, steps and spikes):
    MAD-std of the differences / sqrt(2); from the mean absolute deviation when over half of them are equal."""
    diffs = np.diff(x)
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size == 0:
        return 0.0
    deviation = np.abs(diffs - np.median(diffs))
    scale = MAD_TO_STD * float(np.median(deviation))
    if scale == 0:
        scale = math.sqrt(math.pi / 2) * float(np.mean(deviation))  # quantized or mostly flat series
    return scale / math.sqrt(2)


def logistic(x: float) -> float:
    """Confidence in [0, 1] from an excess over a threshold (0.5 at the threshold)."""
    return float(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x)))))


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


def running_median(x: np.ndarray, window: int) -> np.ndarray:
    """Centered running median over `window` samples that ignores NaN (pandas); edges use the samples there are."""
    import pandas as pd

    return pd.Series(x).rolling(max(1, window), center=True, min_periods=1).median().to_numpy()


def block_reduce(x: np.ndarray, factor: int, reducer: Any = np.mean) -> np.ndarray:
    """`x` `[time, ...]` reduced over consecutive blocks of `factor` samples (the last block may be shorter)."""
    if factor <= 1:
        return x
    n_full = (len(x) // factor) * factor
    blocks = reducer(x[:n_full].reshape(len(x) // factor, factor, *x.shape[1:]), axis=1)
    if n_full < len(x):
        blocks = np.concatenate([blocks, reducer(x[n_full:], axis=0)[None]], axis=0)
    return blocks


# ----------------------------------------------------------------------------------------------- shared decomposition
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
                if not cycles_agree(
                    current - moving_average(current, period), period, config.cycle_z, config.min_cycles
                ):
                    continue
                component, stage_trend, stage_resid = _decompose(current, period, config)
                stage_strength = component_strength(component, stage_resid)
                if stage_strength >= config.seasonal_strength_min and cycles_agree(
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


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Centered moving average over `window` samples (fewer at the edges)."""
    import pandas as pd

    return pd.Series(y).rolling(window, center=True, min_periods=1).mean().to_numpy()


def cycles_agree(detrended: np.ndarray, period: int, z_min: float, min_cycles: int) -> bool:
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


def analyse_all(values: np.ndarray, config: AnalysisConfig) -> list[ChannelAnalysis]:
    """`analyse_channel` of every channel of `values` `[channels x time]`."""
    return [analyse_channel(channel, config) for channel in values]


def local_noise(analysis: ChannelAnalysis, window: int) -> np.ndarray:
    """Noise std around each sample `[time]`: running median of |first difference| of the deseasonalized series over
    `window` samples, as a Gaussian std; NaN-aware, the channel's `step_noise` where nothing is known."""
    y = np.where(analysis.observed, analysis.deseasonalized, np.nan)
    steps = np.abs(np.diff(y, prepend=np.nan))
    return np.nan_to_num(running_median(steps, max(3, window)) * _DIFF_MEDIAN_TO_STD, nan=analysis.step_noise)


def describe_channel(x: np.ndarray, analysis: ChannelAnalysis, name: str) -> ChannelDescription:
    """What a caption may say about one channel `x` `[time]`, measured from its decomposition.

    Trend: the trend component's strength against the residual (Wang, Smith & Hyndman, as the generator) and its
    change (mean of its last minus its first 2% of samples); direction by `vocabulary.trend_direction`. Noise: the
    residual std and `vocabulary.noise_level`. Seasonality: accepted periods, strongest first, and the strongest's
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
        # a constant channel has no noise (vocabulary.noise_level has no answer for a zero range)
        noise=noise_level(analysis.noise_std, analysis.value_range) if analysis.value_range > 0 else "low",
    )
    edge = max(1, len(x) // 50)
    strength = component_strength(analysis.trend[observed], analysis.resid[observed])
    change = float(np.mean(analysis.trend[-edge:]) - np.mean(analysis.trend[:edge]))
    description.trend_strength = strength
    description.trend_change = change
    description.trend = trend_direction(change, strength, analysis.value_range)
    return description
