"""Synthetic and semi-synthetic series with exact ground truth (docs/architecture.md, Flow 2).

`generate_record(seed)` builds a corpus record from known parts: a trend, seasonal periods, a noise process,
regimes, placed anomalies and events, a unit (offset and scale) and optionally timestamps. Every annotation and
the `SeriesDescription` the caption writer reads (in `record["meta"]`, key "description") are exact.
`inject_events(record, seed)` places the same kinds of events in a real record (semi-synthetic): only the
injected events are known, so they are the record's only annotations. Both place their events with
`injection.py` (widths, sizes, placement, shapes; `inject_events` lives there and is re-exported here); labels and
thresholds are the vocabulary's (`ts_florence/vocabulary.py`).

Units: positions and widths are sample indices, spans half-open `[start, end)`; magnitudes and noise std are in
the series' units (its final values), except where a name says `base` (the generator's unit-free scale).

Labelling rules (chosen so that anomaly vs event vs regime is decided by what is visible, hence learnable):

- **Anomaly** (kind "anomaly", `vocabulary.ANOMALY_LABELS`): a short-lived departure from the series' own behaviour
  (a span of at most ~10% of the series, see `injection._width_bounds`), after which the series resumes it. Spike
  and dip: at most 6 samples wide, reaching 1-3 local robust ranges beyond anything nearby. Level shift: a temporary
  offset that comes back. Trend change: a stretch of different slope (the level it reached stays). Variance burst:
  added noise. Flat line: the last value before it, held. Missing stretch: a NaN run shorter than 5% of the series.
  Oscillation burst: an added oscillation of 2.5-4.5 samples per cycle (seasonal periods are 7 or more).
- **Event** (kind "event", `vocabulary.EVENT_LABELS`): an ordinary structure, deliberately placed. Peak and trough:
  smooth, broad bumps (at least 8 samples and 3% of the series) that return to the baseline. Gap: a NaN run of at
  least 10% of the series (on every channel of a multivariate series: the recording stopped). Level shift: the
  persistent step between two level regimes. Seasonal maxima are never events; "flat line" and "variance burst"
  are only ever anomalies here.
- **Regime**: a stretch of at least 20% of the series (and 16 samples) whose generating parameters differ from its
  neighbours' along one axis: noise ("calm" / "volatile"), slope ("rising" / "falling" / "flat"), level ("low
  level" / "high level") or seasonality ("seasonal" / "non-seasonal"). Piecewise trends only arise as trend
  regimes, so every kink is labelled. A series without regime change is one segment labelled by its dominant
  component (`vocabulary.whole_series_label`).
- **Change points**: the regime boundaries ("regime change") and both ends of level shift and trend change
  anomalies, where the level or the slope changes and changes back ("level shift" / "trend change").
- Spans of different events never overlap, on any channel (the span-input tasks carry no channel token), keep a
  margin between them and the ends of the series, and contain no regime boundary (but the level shift events
  that mark one).
- Channels: a span concerns one channel (`channel` = its index) in a multivariate series and `channel` is None in a
  univariate one; gaps and the level shift events of level regimes concern every channel (None).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.signal import lfilter

from ts_florence import records
from ts_florence.engine import descriptions
from ts_florence.engine.descriptions import description_dict, measured_channel, robust_range
from ts_florence.engine.injection import (
    EVENT_KINDS,
    INJECTED_SOURCE,
    PLACEMENT_ATTEMPTS,
    Event,
    event_description,
    event_meta,
    event_span,
    inject_events,
    place_event,
    size_floors,
    span_margin,
)
from ts_florence.tasks import bin_to_end
from ts_florence.vocabulary import (
    GAP_MIN_FRACTION,
    MIN_SEGMENT_FRACTION,
    MIN_SEGMENT_LENGTH,
    MISSING_MAX_FRACTION,
    REGIME_LABELS,
    SAMPLING_SECONDS,
    noise_level,
    trend_direction,
    whole_series_label,
)

__all__ = [  # the generator's names, and those of the injector and the vocabulary it has always offered
    "DEFAULT_CONFIG",
    "EVENT_KINDS",
    "GAP_MIN_FRACTION",
    "INJECTED_SOURCE",
    "MIN_SEGMENT_FRACTION",
    "MISSING_MAX_FRACTION",
    "REGIME_LABELS",
    "SOURCE",
    "SyntheticConfig",
    "description_dict",
    "generate_record",
    "inject_events",
    "noise_level",
    "robust_range",
    "trend_direction",
]

SOURCE = "synthetic"
"""`source` of synthetic records and of their annotations."""
_PLACED_LABELS = tuple(label for label in EVENT_KINDS if label not in ("missing stretch", "gap"))
# NaN stretches come from `missing_probability` instead, so that their rate is a setting of its own.


_SAMPLING_PERIODS: dict[str, tuple[int, ...]] = {
    "minutely": (60, 1440),
    "quarter-hourly": (96, 672),
    "hourly": (24, 168),
    "daily": (7, 365),
    "weekly": (52,),
    "monthly": (12,),
}
"""The samplings a synthetic series is drawn at (names and steps: `SAMPLING_SECONDS`; months are calendar months)
and the seasonal periods natural at each, in samples."""
_SAMPLING_NAMES = tuple(_SAMPLING_PERIODS)
_NATURAL_PERIODS = frozenset(p for periods in _SAMPLING_PERIODS.values() for p in periods)
_CHANNEL_NAMES = (
    "temperature",
    "humidity",
    "pressure",
    "load",
    "demand",
    "price",
    "volume",
    "flow",
    "voltage",
    "current",
    "speed",
    "occupancy",
    "sales",
    "visits",
    "rainfall",
    "wind speed",
)
_NOISE_KINDS = ("gaussian", "student-t", "ar1", "heteroscedastic")


@dataclass(frozen=True)
class SyntheticConfig:
    """Distribution of the synthetic series. Probabilities are per series."""

    min_length: int = 64  # shortest series, in samples
    max_length: int = 4096  # longest series, in samples; lengths are drawn log-uniformly in between
    multivariate_probability: float = 0.25  # chance that a series has 2..max_channels channels
    max_channels: int = 6  # most channels of a multivariate series
    max_events: int = 4  # most anomalies/events placed per series; the count is uniform in 0..max_events
    regime_change_probability: float = 0.35  # chance that the series is made of 2-4 regimes
    missing_probability: float = 0.15  # chance of one NaN stretch, on top of the events
    gap_probability: float = 0.4  # share of those NaN stretches that are long gaps (events), not missing stretches
    seasonality_probability: float = 0.75  # chance of at least one seasonal period
    trend_probability: float = 0.7  # chance of a linear or exponential trend (not with trend or level regimes)
    timestamp_probability: float = 0.5  # chance that ISO timestamps consistent with the main period are attached

    def __post_init__(self) -> None:
        if not 32 <= self.min_length <= self.max_length:
            raise ValueError(f"need 32 <= min_length ({self.min_length}) <= max_length ({self.max_length})")
        if not 2 <= self.max_channels <= 64:
            raise ValueError(f"max_channels must be in [2, 64], got {self.max_channels}")
        if self.max_events < 0:
            raise ValueError(f"max_events must be >= 0, got {self.max_events}")
        for name in (
            "multivariate_probability",
            "regime_change_probability",
            "missing_probability",
            "gap_probability",
            "seasonality_probability",
            "trend_probability",
            "timestamp_probability",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


DEFAULT_CONFIG = SyntheticConfig()


@functools.lru_cache(maxsize=16)
def _config_dict(config: SyntheticConfig) -> dict[str, Any]:
    return asdict(config)


# ---------------------------------------------------------------------------------------------------------
# Components


@dataclass
class _Regime:
    axis: str | None  # a key of REGIME_LABELS; None: a single segment
    bounds: list[int]  # segment edges, 0 ... length
    labels: list[str]  # one per segment ([] until the single segment is labelled)
    sizes: list[float] = field(default_factory=list)  # per segment, in multiples of a channel's own variation


@dataclass
class _Components:
    """The clean parts of a series, each `[channels x time]` in base units (before the unit and the events)."""

    trends: np.ndarray
    seasonals: np.ndarray
    noises: np.ndarray
    periods: list[int]  # strongest first; every channel has them
    params: dict[str, Any]  # what was drawn, for the record's meta


def _draw_length(rng: np.random.Generator, config: SyntheticConfig) -> int:
    low, high = math.log(config.min_length), math.log(config.max_length + 1)
    return min(config.max_length, int(math.exp(rng.uniform(low, high))))


def _draw_regime(rng: np.random.Generator, n: int, config: SyntheticConfig) -> _Regime:
    min_length = max(MIN_SEGMENT_LENGTH, math.ceil(MIN_SEGMENT_FRACTION * n))
    most = min(4, n // min_length)
    if most < 2 or rng.random() >= config.regime_change_probability:
        return _Regime(None, [0, n], [])
    count = int(rng.integers(2, most + 1))
    lengths = min_length + np.floor(rng.dirichlet(np.ones(count)) * (n - count * min_length)).astype(int)
    lengths[-1] += n - int(lengths.sum())
    bounds = [0, *np.cumsum(lengths).tolist()]
    axis = str(rng.choice(tuple(REGIME_LABELS)))
    names = REGIME_LABELS[axis]
    if axis == "trend":
        labels = [names[int(rng.integers(3))]]
        for _ in range(count - 1):
            others = [name for name in names if name != labels[-1]]
            labels.append(others[int(rng.integers(2))])
    else:
        first = int(rng.integers(2))
        labels = [names[(first + i) % 2] for i in range(count)]
    return _Regime(axis, bounds, labels, rng.uniform(1.2, 2.5, size=count).tolist())


def _draw_periods(rng: np.random.Generator, sampling: str, longest: float, count: int) -> list[int]:
    """Up to `count` seasonal periods of at most `longest` samples, strongest first: mostly the sampling's
    natural periods, then random ones of 8 samples or more (slower than any oscillation burst), each at least 1.5
    times away from the others and none natural to a sampling (so that a natural main period names its sampling)."""
    natural = [p for p in _SAMPLING_PERIODS[sampling] if p <= longest]
    periods = [int(p) for p in rng.permutation(natural)[:count]] if rng.random() < 0.8 else []
    for _ in range(PLACEMENT_ATTEMPTS):
        if len(periods) >= count or longest < 8:
            break
        candidate = round(math.exp(rng.uniform(math.log(8), math.log(longest))))
        if candidate not in _NATURAL_PERIODS and all(max(candidate, p) / min(candidate, p) >= 1.5 for p in periods):
            periods.append(candidate)
    return periods


def _seasonal_shape(rng: np.random.Generator, period: int, n: int) -> np.ndarray:
    """A zero-mean cycle of `period` samples with unit RMS: a fundamental and up to two harmonics."""
    t = 2 * np.pi * np.arange(n) / period
    harmonics = int(rng.integers(1, 4))
    shape = np.zeros(n)
    power = 0.0
    for h in range(1, harmonics + 1):
        if period / h < 2.5:  # a harmonic this fast would alias
            break
        weight = 1.0 if h == 1 else rng.uniform(0.0, 0.5) / h
        shape += weight * np.sin(h * t + rng.uniform(0, 2 * np.pi))
        power += weight**2 / 2
    return shape / math.sqrt(power)


def _unit_noise(rng: np.random.Generator, kind: str, n: int) -> tuple[np.ndarray, dict[str, float]]:
    """Noise of one of `_NOISE_KINDS` with (close to) unit std, and its parameters."""
    match kind:
        case "student-t":
            dof = float(rng.uniform(4.0, 10.0))
            return rng.standard_t(dof, n) / math.sqrt(dof / (dof - 2)), {"dof": dof}
        case "ar1":
            phi = float(rng.uniform(0.3, 0.9))
            innovations = rng.standard_normal(n) * math.sqrt(1 - phi**2)
            # Starting from the stationary distribution avoids a warm-up transient.
            noise, _ = lfilter([1.0], [1.0, -phi], innovations, zi=[phi * rng.standard_normal()])
            return noise, {"phi": phi}
        case "heteroscedastic":
            # At most e times calmer or wilder than average: far from the 4x of a volatile regime.
            cycle = float(rng.uniform(0.3, 1.5) * n)
            envelope = np.exp(0.5 * np.sin(2 * np.pi * np.arange(n) / cycle + rng.uniform(0, 2 * np.pi)))
            return rng.standard_normal(n) * envelope / math.sqrt(np.mean(envelope**2)), {"envelope_cycle": cycle}
    return rng.standard_normal(n), {}


def _trend_shape(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    """A trend from 0 to 1 over the series."""
    t = np.arange(n) / max(1, n - 1)
    if kind == "exponential":
        growth = rng.uniform(1.5, 4.0)
        return np.expm1(growth * t) / math.expm1(growth)
    return t if kind == "linear" else np.zeros(n)


def _draw_components(
    rng: np.random.Generator, n: int, n_channels: int, regime: _Regime, sampling: str, config: SyntheticConfig
) -> _Components:
    """Trend and seasonality of a shared factor, given to every channel with its loading, plus noise of each
    channel's own kind mixed with a shared noise factor, so that channels correlate beyond the shared shape."""
    # A seasonal regime needs 2.5 cycles in its shortest segment, any other series 3 in the whole.
    if regime.axis == "seasonal":
        longest_period = min(np.diff(regime.bounds)) / 2.5
    else:
        longest_period = n / 3
    periods: list[int] = []
    if regime.axis == "seasonal" or rng.random() < config.seasonality_probability:
        count = 1 + int(rng.random() < 0.3) + int(rng.random() < 0.15)
        periods = _draw_periods(rng, sampling, longest_period, count)
    # Each period at most 0.75 times as strong as the previous one, so that "strongest first" is unambiguous.
    amplitudes = np.cumprod([1.0, *rng.uniform(0.35, 0.75, size=max(0, len(periods) - 1))])[: len(periods)]
    seasonal = np.zeros(n)
    for period, amplitude in zip(periods, amplitudes, strict=True):
        seasonal += amplitude * _seasonal_shape(rng, period, n)

    # Trend and level regimes bring their own trend, which a global one would blur.
    trend_kind, trend_change = "none", 0.0
    if regime.axis not in ("trend", "level") and rng.random() < config.trend_probability:
        trend_kind = "linear" if rng.random() < 0.6 else "exponential"
        peak_to_peak = 2.8 * amplitudes[0] if periods else 1.0  # of the strongest cycle, about
        trend_change = (1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(0.3, 3.0) * peak_to_peak
    trend = trend_change * _trend_shape(rng, trend_kind, n)
    signal_scale = max(amplitudes[0] if periods else 0.0, abs(trend_change) / 3) or 1.0

    loadings = np.ones(n_channels)
    if n_channels > 1:
        loadings[1:] = rng.uniform(0.5, 1.5, size=n_channels - 1) * np.where(rng.random(n_channels - 1) < 0.2, -1, 1)
    shared_noise = _unit_noise(rng, "ar1", n)[0] if n_channels > 1 else np.zeros(n)
    most_noise = 0.4 if regime.axis == "seasonal" else 1.0  # seasonal regimes must show their cycles
    noises, noise_params = [], []
    for c in range(n_channels):
        kind = _NOISE_KINDS[int(rng.integers(len(_NOISE_KINDS)))]
        unit, params = _unit_noise(rng, kind, n)
        share = float(rng.uniform(0.3, 1.0)) if n_channels > 1 else 0.0
        # Noise std from 3% to 100% of the signal: the strongest cycle's RMS or a third of the trend's change (1 for
        # a series of noise alone).
        noise_std = math.exp(rng.uniform(math.log(0.03), math.log(most_noise))) * signal_scale
        noise_std *= abs(loadings[c])
        noises.append(noise_std * (unit + share * shared_noise) / math.sqrt(1 + share**2))
        noise_params.append({"kind": kind, "std_base": noise_std, "shared_share": share, **params})

    params = {
        "sampling": sampling,
        "periods": periods,
        "seasonal_amplitudes_base": amplitudes.tolist(),
        "trend": {"kind": trend_kind, "change_base": float(trend_change)},
        "loadings": loadings.tolist(),
        "noise": noise_params,
    }
    return _Components(np.outer(loadings, trend), np.outer(loadings, seasonal), np.array(noises), periods, params)


def _apply_regime(regime: _Regime, parts: _Components) -> None:
    """Makes neighbouring regimes differ along their axis, on every channel, by amounts in multiples of each
    channel's own variation (robust range of seasonality + noise) so that they show."""
    if regime.axis is None:
        return
    n_channels, n = parts.noises.shape
    variation = np.array([robust_range(parts.seasonals[c] + parts.noises[c]) for c in range(n_channels)])[:, None]
    per_segment = list(zip(regime.labels, regime.sizes, strict=True))
    if regime.axis == "noise":
        noise_std = np.array([p["std_base"] for p in parts.params["noise"]])[:, None]
        # At least 4x the calm noise, and enough to show next to large seasonal swings.
        boost = np.maximum(4.0, 0.6 * variation / noise_std)
        volatile = _segment_values(regime, [size / 1.2 if label == "volatile" else 0.0 for label, size in per_segment])
        parts.noises *= np.where(volatile > 0, boost * volatile, 1.0)
    elif regime.axis == "seasonal":
        parts.seasonals *= _segment_values(regime, [label == "seasonal" for label in regime.labels])
    elif regime.axis == "trend":
        sign = {"rising": 1.0, "falling": -1.0, "flat": 0.0}
        rises = [sign[label] * size for label, size in per_segment]
        slopes = _segment_values(regime, np.divide(rises, np.diff(regime.bounds)))
        parts.trends += variation * np.concatenate([[0.0], np.cumsum(slopes[:-1])])
    elif regime.axis == "level":
        parts.trends += variation * _segment_values(
            regime, [size if label == "high level" else 0.0 for label, size in per_segment]
        )


def _segment_values(regime: _Regime, per_segment: Sequence[float]) -> np.ndarray:
    """A step function over the series with one value per segment."""
    return np.repeat(np.asarray(per_segment, dtype=np.float64), np.diff(regime.bounds))


def _timestamps(rng: np.random.Generator, sampling: str, n: int) -> list[str]:
    """ISO 8601 timestamps at `sampling`, ending between 2000 and 2025 at midnight."""
    end = np.datetime64("2000-01-01") + np.timedelta64(int(rng.integers(0, 25 * 365)), "D")
    if sampling == "monthly":
        stamps = (end.astype("datetime64[M]") - (n - 1) + np.arange(n)).astype("datetime64[s]")
    else:
        step = np.timedelta64(int(SAMPLING_SECONDS[sampling]), "s")
        stamps = end.astype("datetime64[s]") - (n - 1) * step + np.arange(n) * step
    return np.datetime_as_string(stamps, unit="s").tolist()


# ---------------------------------------------------------------------------------------------------------
# Description


def _describe_channels(
    parts: _Components, values: np.ndarray, scales: np.ndarray, names: Sequence[str]
) -> list[descriptions.ChannelDescription]:
    """Exact descriptions of the channels: trend, seasonality and noise from the clean components (before the
    events), in series units; mean, extremes and missing values from the final float32 `values`."""
    noise_var = np.var(parts.noises, axis=1)
    noise_stds = np.sqrt(noise_var) * scales
    trend_strengths = descriptions.component_strength(parts.trends, parts.noises)
    seasonal_strengths = (
        descriptions.component_strength(parts.seasonals, parts.noises) if parts.periods else np.zeros(len(values))
    )
    trend_changes = (parts.trends[:, -1] - parts.trends[:, 0]) * scales
    channels = []
    for c, row in enumerate(values.astype(np.float64)):
        channel = measured_channel(names[c], row)
        series_range = robust_range(row)
        channel.trend_strength = float(trend_strengths[c])
        channel.trend_change = float(trend_changes[c])
        channel.trend = trend_direction(channel.trend_change, channel.trend_strength, series_range)
        channel.periods = list(parts.periods)
        channel.seasonal_strength = float(seasonal_strengths[c])
        channel.noise_std = float(noise_stds[c])
        channel.noise = noise_level(channel.noise_std, series_range)
        channels.append(channel)
    return channels


# ---------------------------------------------------------------------------------------------------------
# Generator


def generate_record(
    seed: int, *, config: SyntheticConfig = DEFAULT_CONFIG, split: str = "train", id_prefix: str = "syn"
) -> dict[str, Any]:
    """One synthetic record with exact annotations, a function of `seed` and `config` alone (bit-identical on
    reruns).

    `values` is `[channels][time]` float32; the record's `meta` (JSON) holds the generator's parameters and, under
    "description", the exact `descriptions.SeriesDescription` (magnitudes and noise std in series units). Captions and
    groundings are left empty for the caption writer. Labelling rules: see the module docstring.
    """
    rng = np.random.default_rng(seed)
    n = _draw_length(rng, config)
    n_channels = int(rng.integers(2, config.max_channels + 1)) if rng.random() < config.multivariate_probability else 1
    regime = _draw_regime(rng, n, config)
    sampling = _SAMPLING_NAMES[int(rng.integers(len(_SAMPLING_NAMES)))]
    parts = _draw_components(rng, n, n_channels, regime, sampling, config)
    _apply_regime(regime, parts)
    clean = parts.trends + parts.seasonals + parts.noises

    # Unit: scales from 1e-3 to 1e5, half of the channels kept positive like counts or prices.
    scales = 10.0 ** rng.uniform(-3.0, 5.0, size=n_channels)
    lowest = np.where(rng.random(n_channels) < 0.5, -clean.min(axis=1), 0.0)
    offsets = (lowest + rng.uniform(-3.0, 5.0, size=n_channels)) * scales

    # Regime boundaries stay free of spans; the steps between level regimes are level shift events.
    margin = span_margin(n)
    free = np.ones(n, dtype=bool)
    events: list[Event] = []
    for b in regime.bounds[1:-1]:
        free[b - margin : b + margin] = False
        if regime.axis == "level":
            # The step concerns every channel; one magnitude can only be given for a single channel.
            step = float(parts.trends[0, b] - parts.trends[0, b - 1]) if n_channels == 1 else None
            half = max(1, bin_to_end(0, n))  # at least one location bin (its samples) each side of the step
            events.append(Event("level shift", "event", b - half, b + half, None, step))
    work = clean.copy()
    floors = size_floors(clean)
    labels = [
        _PLACED_LABELS[int(rng.integers(len(_PLACED_LABELS)))] for _ in range(rng.integers(config.max_events + 1))
    ]
    if rng.random() < config.missing_probability:
        labels.append("gap" if rng.random() < config.gap_probability else "missing stretch")
    for label in labels:
        event = place_event(rng, work, clean, floors, label, free, n_channels == 1)
        if event is not None:
            events.append(event)
    events.sort(key=lambda e: (e.start, -1 if e.channel is None else e.channel))
    values = (offsets[:, None] + scales[:, None] * work).astype(np.float32)

    if rng.random() < 0.5 and n_channels <= len(_CHANNEL_NAMES):
        names = [str(name) for name in rng.choice(_CHANNEL_NAMES, size=n_channels, replace=False)]
    else:
        names = [f"ch{c}" for c in range(n_channels)]
    timestamps = _timestamps(rng, sampling, n) if rng.random() < config.timestamp_probability else None

    channels = _describe_channels(parts, values, scales, names)
    if regime.axis is None:
        first = channels[0]
        regime.labels = [whole_series_label(first.trend, first.seasonal_strength, first.noise)]
    segments = list(zip(regime.bounds[:-1], regime.bounds[1:], regime.labels, strict=True))
    description = descriptions.SeriesDescription(
        length=n,
        channels=channels,
        events=[event_description(e, scales[0 if e.channel is None else e.channel]) for e in events],
        segments=segments,
        sampling=sampling if timestamps is not None else None,
    )
    meta = {
        "generator": "ts_florence.engine.synthetic.generate_record",
        "seed": int(seed),
        "config": _config_dict(config),
        **parts.params,
        "scales": scales.tolist(),
        "offsets": offsets.tolist(),
        "regime": {"axis": regime.axis, "bounds": regime.bounds, "labels": regime.labels, "sizes": regime.sizes},
        "events": [event_meta(e) for e in events],
        "description": description_dict(description),
    }
    record = records.new_record(
        f"{id_prefix}-{seed}", SOURCE, values, split=split, timestamps=timestamps, channel_names=names, meta=meta
    )
    record["spans"] = [event_span(e, SOURCE) for e in events]
    record["segments"] = [records.segment(s, e, label, source=SOURCE) for s, e, label in segments]
    points = dict.fromkeys(regime.bounds[1:-1], "regime change")
    for e in events:
        if e.label in ("level shift", "trend change") and e.kind == "anomaly":
            points.setdefault(e.start, e.label)
            points.setdefault(e.end, e.label)
    record["change_points"] = [records.change_point(i, label=points[i], source=SOURCE) for i in sorted(points)]
    return record
