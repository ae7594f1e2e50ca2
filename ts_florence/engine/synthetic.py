"""Synthetic and semi-synthetic series with exact ground truth (docs/architecture.md, Flow 2).

`generate_record(seed)` builds a corpus record from known parts: a trend, seasonal periods, a noise process,
regimes, placed anomalies and events, a unit (offset and scale) and optionally timestamps. Every annotation and
the `SeriesDescription` the caption writer reads (in `record["meta"]`, key "description") are exact.
`inject_events(record, seed)` places the same kinds of events in a real record (semi-synthetic): only the
injected events are known, so they are the record's only annotations.

Units: positions and widths are sample indices, spans half-open `[start, end)`; magnitudes and noise std are in
the series' units (its final values), except where a name says `base` (the generator's unit-free scale).

Labelling rules (chosen so that anomaly vs event vs regime is decided by what is visible, hence learnable):

- **Anomaly** (kind "anomaly", `records.ANOMALY_LABELS`): a short-lived departure from the series' own behaviour
  (a span of at most ~10% of the series, see `_width_bounds`), after which the series resumes it. Spike and dip:
  at most 6 samples wide, reaching 1-3 local robust ranges beyond anything nearby. Level shift: a temporary offset
  that comes back. Trend change: a stretch of different slope (the level it reached stays). Variance burst: added
  noise. Flat line: the last value before it, held. Missing stretch: a NaN run shorter than 5% of the series.
  Oscillation burst: an added oscillation of 2.5-4.5 samples per cycle (seasonal periods are 7 or more).
- **Event** (kind "event", `records.EVENT_LABELS`): an ordinary structure, deliberately placed. Peak and trough:
  smooth, broad bumps (at least 8 samples and 3% of the series) that return to the baseline. Gap: a NaN run of at
  least 10% of the series (on every channel of a multivariate series: the recording stopped). Level shift: the
  persistent step between two level regimes. Seasonal maxima are never events; "flat line" and "variance burst"
  are only ever anomalies here.
- **Regime**: a stretch of at least 20% of the series (and 16 samples) whose generating parameters differ from its
  neighbours' along one axis: noise ("calm" / "volatile"), slope ("rising" / "falling" / "flat"), level ("low
  level" / "high level") or seasonality ("seasonal" / "non-seasonal"). Piecewise trends only arise as trend
  regimes, so every kink is labelled. A series without regime change is one segment labelled by its dominant
  component (`_whole_series_label`).
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
import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
from scipy.signal import lfilter

from ts_florence import records
from ts_florence.engine import descriptions

SOURCE = "synthetic"
"""`source` of synthetic records and of their annotations."""
INJECTED_SOURCE = "injected"
"""`source` of the annotations of semi-synthetic records."""

NOISE_LEVELS: tuple[tuple[float, str], ...] = ((0.05, "low"), (0.15, "moderate"), (math.inf, "high"))
"""Noise label by noise std / robust range of the final values (`robust_range`): below 0.05 "low", below 0.15
"moderate", else "high". White noise alone is at ~0.30; noise std 0.1 of a sine's RMS amplitude is at ~0.04."""
TREND_MIN_STRENGTH = 0.3
"""Below this trend strength, a trend is "flat" whatever its change."""
TREND_MIN_CHANGE = 0.1
"""Below this |level change| / robust range of the final values, a trend is "flat"."""
SEASONAL_MIN_STRENGTH = 0.5
"""Seasonal strength from which a single-segment series is labelled "seasonal"."""

REGIME_LABELS: dict[str, tuple[str, ...]] = {
    "noise": ("calm", "volatile"),
    "trend": ("rising", "falling", "flat"),
    "level": ("low level", "high level"),
    "seasonal": ("seasonal", "non-seasonal"),
}
"""Segment labels by the axis along which neighbouring regimes differ."""
MIN_SEGMENT_FRACTION = 0.2
"""Shortest regime, as a fraction of the series (and at least `MIN_SEGMENT_LENGTH` samples)."""
MIN_SEGMENT_LENGTH = 16
MISSING_MAX_FRACTION = 0.05
"""Longest "missing stretch" (anomaly), as a fraction of the series."""
GAP_MIN_FRACTION = 0.10
"""Shortest "gap" (event), as a fraction of the series; nothing in between, so the two never look alike."""

EVENT_KINDS: dict[str, str] = {
    **dict.fromkeys(records.ANOMALY_LABELS, "anomaly"),
    "peak": "event",
    "trough": "event",
    "gap": "event",
}
"""Labels that `inject_events` places, with their kind."""
_PLACED_LABELS = tuple(label for label in EVENT_KINDS if label not in ("missing stretch", "gap"))
# NaN stretches come from `missing_probability` instead, so that their rate is a setting of its own.


@dataclass(frozen=True)
class _Calendar:
    step: np.timedelta64  # one sample
    periods: tuple[int, ...]  # seasonal periods natural at this sampling, in samples


_CALENDARS: dict[str, _Calendar] = {
    "minutely": _Calendar(np.timedelta64(1, "m"), (60, 1440)),
    "quarter-hourly": _Calendar(np.timedelta64(15, "m"), (96, 672)),
    "hourly": _Calendar(np.timedelta64(1, "h"), (24, 168)),
    "daily": _Calendar(np.timedelta64(1, "D"), (7, 365)),
    "weekly": _Calendar(np.timedelta64(7, "D"), (52,)),
    "monthly": _Calendar(np.timedelta64(1, "M"), (12,)),
}
_CALENDAR_NAMES = tuple(_CALENDARS)
_NATURAL_PERIODS = frozenset(p for calendar in _CALENDARS.values() for p in calendar.periods)
_STEP_NAMES = {
    1: "secondly",
    60: "minutely",
    300: "every 5 minutes",
    600: "every 10 minutes",
    900: "quarter-hourly",
    1800: "half-hourly",
    3600: "hourly",
    86400: "daily",
    604800: "weekly",
}
"""Sampling names of regular steps, in seconds; months, quarters and years are recognised by their length."""

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
_PLACEMENT_ATTEMPTS = 25


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
# Measurements shared with the description (public so that specialists measure real series the same way)


def _quantiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """`np.quantile(values, qs)` (linear interpolation) of a non-empty 1-D array, from one partition: the same
    numbers at a fraction of the cost for the short arrays the generator measures thousands of times."""
    last = len(values) - 1
    positions = [q * last for q in qs]
    below = [math.floor(p) for p in positions]
    kth = sorted({k for b in below for k in (b, min(b + 1, last))})
    ordered = np.partition(values, kth)
    return [
        float(ordered[b] + (p - b) * (ordered[min(b + 1, last)] - ordered[b]))
        for p, b in zip(positions, below, strict=True)
    ]


def robust_range(values: np.ndarray) -> float:
    """q95 - q5 (linear interpolation) of the finite values of a 1-D array, in its units; 0.0 with fewer than
    two finite values."""
    finite = values[np.isfinite(values)]
    if len(finite) < 2:
        return 0.0
    low, high = _quantiles(finite, (0.05, 0.95))
    return high - low


def noise_level(noise_std: float, series_range: float) -> str:
    """The noise label, "low" | "moderate" | "high", of `noise_std / series_range` (`NOISE_LEVELS`); both in series
    units, the range being `robust_range` of the values."""
    if series_range > 0:
        ratio = noise_std / series_range
    else:  # a constant channel: no noise is low noise, any noise on no range is high
        ratio = 0.0 if noise_std == 0 else math.inf
    return next((label for bound, label in NOISE_LEVELS if ratio < bound), NOISE_LEVELS[-1][1])


def trend_direction(trend_change: float, trend_strength: float, series_range: float) -> str:
    """The trend label, "rising" | "falling" | "flat": flat when the trend is weak (`TREND_MIN_STRENGTH`) or its
    change small next to the range of the series (`TREND_MIN_CHANGE`); `trend_change` (level at the end minus level
    at the start) and `series_range` (`robust_range` of the values) in series units."""
    if trend_strength < TREND_MIN_STRENGTH or abs(trend_change) < TREND_MIN_CHANGE * series_range:
        return "flat"
    return "rising" if trend_change > 0 else "falling"


def _strengths(components: np.ndarray, noises: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    """Wang, Smith & Hyndman (2006) strength of a component, per channel of `[channels x time]` arrays:
    max(0, 1 - var(noise) / var(component + noise)), 0 where the sum does not vary. `noise_var` is var(noise)."""
    total = np.var(components + noises, axis=1)
    ratio = np.divide(noise_var, total, out=np.ones_like(total), where=total > 0)
    return np.maximum(0.0, 1.0 - ratio)


# ---------------------------------------------------------------------------------------------------------
# Events: widths, magnitudes, placement and shapes (shared by the generator and the injector)


@dataclass
class _Event:
    label: str
    kind: str  # "anomaly" | "event"
    start: int
    end: int
    channel: int | None  # None: every channel
    magnitude: float | None  # in the units of the array it was applied to
    params: dict[str, float] = field(default_factory=dict)


def _width_bounds(label: str, n: int) -> tuple[int, int]:
    """Shortest and longest span of `label` in a series of `n` samples."""
    if label in ("spike", "dip"):
        return 1, int(np.clip(round(0.006 * n), 1, 6))
    if label == "missing stretch":
        return 1, max(1, math.floor(MISSING_MAX_FRACTION * n))
    if label == "gap":
        low = math.ceil(GAP_MIN_FRACTION * n)
        return low, max(low, math.floor(0.2 * n))
    low_samples, low_fraction, high_fraction = {
        "level shift": (4, 0.02, 0.08),
        "trend change": (6, 0.04, 0.10),
        "variance burst": (8, 0.03, 0.10),
        "flat line": (5, 0.02, 0.10),
        "oscillation burst": (8, 0.04, 0.10),
        "peak": (8, 0.03, 0.12),
        "trough": (8, 0.03, 0.12),
    }[label]
    low = max(low_samples, math.ceil(low_fraction * n))
    return low, max(low, math.floor(high_fraction * n))


def _margin(n: int) -> int:
    """Samples kept free between spans, and between spans and the ends of the series."""
    return max(2, n // 100)


def _candidate_slots(rng: np.random.Generator, free: np.ndarray, label: str) -> Iterator[tuple[int, int]]:
    """Up to `_PLACEMENT_ATTEMPTS` random spans for `label` whose surroundings (one margin each side) are all
    `free`."""
    n = len(free)
    margin = _margin(n)
    low, high = _width_bounds(label, n)
    for _ in range(_PLACEMENT_ATTEMPTS):
        width = int(rng.integers(low, high + 1))
        last_start = n - margin - width
        if last_start < margin:
            continue
        start = int(rng.integers(margin, last_start + 1))
        if free[start - margin : start + width + margin].all():
            yield start, start + width


class _Surroundings(NamedTuple):
    """The series around a span, in its units."""

    scale: float  # the unit of event sizes
    low: float  # q5
    high: float  # q95
    lowest: float
    highest: float


def _surroundings(values: np.ndarray, start: int, end: int, floor: float) -> _Surroundings | None:
    """The finite values of three span widths and 16 samples each side of `[start, end)` (span included); None
    with fewer than 3. The scale is their robust range (q95 - q5), at least 3 noise std (from the median absolute
    deviation of the differences; white noise alone has a robust range of 3.3 std, a quantised series can have
    none) and at least `floor`, so that an event shows at the scale of the whole series."""
    reach = 3 * (end - start) + 16
    window = values[max(0, start - reach) : end + reach]
    window = window[np.isfinite(window)]
    if len(window) < 3:
        return None
    steps = np.diff(window)
    (center,) = _quantiles(steps, (0.5,))
    (spread,) = _quantiles(np.abs(steps - center), (0.5,))
    low, high = _quantiles(window, (0.05, 0.95))
    scale = max(high - low, 3.0 * 1.4826 * spread / math.sqrt(2), floor)
    return _Surroundings(scale, low, high, float(window.min()), float(window.max()))


def _suits(label: str, inside: np.ndarray, around: _Surroundings) -> bool:
    """Whether `label` can go on a span of these values: the span holds no excursion of the series' own (beyond
    one scale outside q5..q95 of its surroundings) that the event would be confused with, and what the event
    changes would show (a flat line needs a span and surroundings that move, any sized event a series that varies
    at all)."""
    finite = inside[np.isfinite(inside)]
    if finite.size and (finite.min() < around.low - around.scale or finite.max() > around.high + around.scale):
        return False
    if label == "flat line":
        return around.high > around.low and finite.size > 0 and finite.max() > finite.min()
    return around.scale > 0 or label in ("missing stretch", "gap")


def _spike_profile(width: int) -> np.ndarray:
    """A triangle over `width` samples whose one or two middle samples are exactly 1."""
    steps = np.arange(width)
    return (np.minimum(steps, width - 1 - steps) + 1) / math.ceil(width / 2)


def _headroom(label: str, inside: np.ndarray, around: _Surroundings) -> float:
    """How far the apex of a spike (dip) starts below the highest (above the lowest) value around it, so that its
    size takes it beyond everything the series does nearby; 0 for other labels."""
    if label not in ("spike", "dip"):
        return 0.0
    apex = inside[_spike_profile(len(inside)) == 1]
    if label == "spike":
        return max(0.0, around.highest - float(apex.min()))
    return max(0.0, float(apex.max()) - around.lowest)


def _draw_magnitude(rng: np.random.Generator, label: str, scale: float, headroom: float) -> float | None:
    """Signed size of an event from the local `scale` (and, for spikes and dips, the `headroom` to the local
    extreme); what it measures is in `_apply`."""
    match label:
        case "spike":
            return headroom + rng.uniform(1.0, 3.0) * scale
        case "dip":
            return -(headroom + rng.uniform(1.0, 3.0) * scale)
        case "level shift" | "trend change":
            return (1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(1.0, 2.0) * scale
        case "variance burst":
            return rng.uniform(0.6, 1.2) * scale
        case "oscillation burst":
            return rng.uniform(0.5, 1.0) * scale
        case "peak":
            return rng.uniform(1.0, 2.0) * scale
        case "trough":
            return -rng.uniform(1.0, 2.0) * scale
    return None  # flat line, missing stretch, gap: no size


def _apply(rng: np.random.Generator, row: np.ndarray, event: _Event) -> None:
    """Writes `event` into the 1-D `row` in place. Magnitude: peak height for spike/dip/peak/trough, offset for a
    level shift, level reached at the end of the ramp for a trend change (it stays after), std of the added noise
    for a variance burst, amplitude for an oscillation burst."""
    start, end, size = event.start, event.end, event.magnitude
    width = end - start
    steps = np.arange(width)
    match event.label:
        case "spike" | "dip":
            row[start:end] += size * _spike_profile(width)
        case "peak" | "trough":
            row[start:end] += size * np.sin(np.pi * (steps + 1) / (width + 1)) ** 2
        case "level shift":
            row[start:end] += size
        case "trend change":
            row[start:end] += size * (steps + 1) / width
            row[end:] += size
        case "variance burst":
            row[start:end] += size * rng.standard_normal(width)
        case "oscillation burst":
            period = float(rng.uniform(2.5, min(4.5, width / 3)))
            row[start:end] += size * np.cos(2 * np.pi * steps / period)
            event.params["period"] = period
        case "flat line":
            # A stuck sensor holds its last reading.
            row[start:end] = row[start - 1]
        case "missing stretch" | "gap":
            row[start:end] = np.nan


def _place(
    rng: np.random.Generator,
    work: np.ndarray,
    clean: np.ndarray,
    floors: np.ndarray,
    label: str,
    free: np.ndarray,
    univariate: bool,
) -> _Event | None:
    """Places one `label` event in `work` ([channels x time], modified in place) and marks its span taken in
    `free`. Sizes come from the surroundings in `clean` (the values before any event) with the channel's `floors`
    (series units). None when no suitable span was found."""
    n_channels = len(work)
    if label == "gap":
        channel, rows = None, list(range(n_channels))
        usable = free & np.isfinite(clean).all(axis=0)
    else:
        channel = int(rng.integers(n_channels))
        rows = [channel]
        usable = free & np.isfinite(clean[channel])
    # A NaN next to a span would hide its edge (and a flat line would hold a NaN).
    usable[1:] &= usable[:-1].copy()
    usable[:-1] &= usable[1:].copy()
    values = clean[rows[0]]
    for start, end in _candidate_slots(rng, usable, label):
        around = _surroundings(values, start, end, floors[rows[0]])
        if around is None or not _suits(label, values[start:end], around):
            continue
        magnitude = _draw_magnitude(rng, label, around.scale, _headroom(label, values[start:end], around))
        event = _Event(label, EVENT_KINDS[label], start, end, None if univariate else channel, magnitude)
        for row in rows:
            _apply(rng, work[row], event)
        free[start:end] = False
        return event
    return None


def _size_floors(values: np.ndarray) -> np.ndarray:
    """Smallest unit of event sizes per channel of `[channels x time]` values: a tenth of the channel's full range,
    so that events show at the scale of the whole series even where it is locally quiet next to large swings
    elsewhere (its robust range would not do: in a mostly flat series with rare bursts it is near zero)."""
    finite_rows = (row[np.isfinite(row)] for row in values)
    return np.array([0.1 * float(np.ptp(row)) if row.size else 0.0 for row in finite_rows])


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


def _draw_periods(rng: np.random.Generator, calendar: str, longest: float, count: int) -> list[int]:
    """Up to `count` seasonal periods of at most `longest` samples, strongest first: mostly the calendar's
    natural periods, then random ones of 8 samples or more (slower than any oscillation burst), each at least 1.5
    times away from the others and none natural to a calendar (so that a natural main period names its sampling)."""
    natural = [p for p in _CALENDARS[calendar].periods if p <= longest]
    periods = [int(p) for p in rng.permutation(natural)[:count]] if rng.random() < 0.8 else []
    for _ in range(_PLACEMENT_ATTEMPTS):
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
    rng: np.random.Generator, n: int, n_channels: int, regime: _Regime, calendar: str, config: SyntheticConfig
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
        periods = _draw_periods(rng, calendar, longest_period, count)
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
        "calendar": calendar,
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


def _timestamps(rng: np.random.Generator, calendar: str, n: int) -> list[str]:
    """ISO 8601 timestamps at the calendar's sampling, ending between 2000 and 2025 at midnight."""
    end = np.datetime64("2000-01-01") + np.timedelta64(int(rng.integers(0, 25 * 365)), "D")
    if calendar == "monthly":
        stamps = (end.astype("datetime64[M]") - (n - 1) + np.arange(n)).astype("datetime64[s]")
    else:
        step = _CALENDARS[calendar].step.astype("timedelta64[s]")
        stamps = end.astype("datetime64[s]") - (n - 1) * step + np.arange(n) * step
    return np.datetime_as_string(stamps, unit="s").tolist()


def _sampling(timestamps: Sequence[str] | None) -> str | None:
    """The sampling name of regular ISO timestamps ("hourly", "every 5 minutes", ...); None when unknown."""
    if not timestamps or len(timestamps) < 2:
        return None
    try:
        seconds = np.diff(np.asarray(timestamps, dtype="datetime64[s]").astype(np.int64))
    except (ValueError, TypeError):
        return None
    step = int(np.median(seconds))
    days = step / 86400
    if 28 <= days <= 31:
        return "monthly"
    if 89 <= days <= 92:
        return "quarterly"
    if 365 <= days <= 366:
        return "yearly"
    return _STEP_NAMES.get(step)


# ---------------------------------------------------------------------------------------------------------
# Description


def _measured(name: str, values: np.ndarray) -> descriptions.ChannelDescription:
    """A channel description with what is measured on the final values alone (mean, extremes, missing)."""
    finite = np.isfinite(values)
    if not finite.any():
        return descriptions.ChannelDescription(name=name, missing_fraction=1.0)
    if finite.all():
        low_at, high_at = int(np.argmin(values)), int(np.argmax(values))
    else:
        low_at, high_at = (
            int(np.argmin(np.where(finite, values, np.inf))),
            int(np.argmax(np.where(finite, values, -np.inf))),
        )
    return descriptions.ChannelDescription(
        name=name,
        mean=float(values[finite].mean()),
        minimum=float(values[low_at]),
        minimum_at=low_at,
        maximum=float(values[high_at]),
        maximum_at=high_at,
        missing_fraction=float(1.0 - finite.mean()),
    )


def _describe_channels(
    parts: _Components, values: np.ndarray, scales: np.ndarray, names: Sequence[str]
) -> list[descriptions.ChannelDescription]:
    """Exact descriptions of the channels: trend, seasonality and noise from the clean components (before the
    events), in series units; mean, extremes and missing values from the final float32 `values`."""
    noise_var = np.var(parts.noises, axis=1)
    noise_stds = np.sqrt(noise_var) * scales
    trend_strengths = _strengths(parts.trends, parts.noises, noise_var)
    seasonal_strengths = (
        _strengths(parts.seasonals, parts.noises, noise_var) if parts.periods else np.zeros(len(values))
    )
    trend_changes = (parts.trends[:, -1] - parts.trends[:, 0]) * scales
    channels = []
    for c, row in enumerate(values.astype(np.float64)):
        channel = _measured(names[c], row)
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


def _whole_series_label(channel: descriptions.ChannelDescription) -> str:
    """The label of the only segment: the trend when there is one, else "seasonal" when seasonality is strong,
    else "volatile" for high noise and "calm" otherwise."""
    if channel.trend in ("rising", "falling"):
        return channel.trend
    if (channel.seasonal_strength or 0.0) >= SEASONAL_MIN_STRENGTH:
        return "seasonal"
    return "volatile" if channel.noise == "high" else "calm"


def _event_description(event: _Event, scale: float) -> descriptions.EventDescription:
    return descriptions.EventDescription(
        start=event.start,
        end=event.end,
        label=event.label,
        kind=event.kind,
        channel=event.channel,
        magnitude=None if event.magnitude is None else float(event.magnitude * scale),
    )


def description_dict(description: descriptions.SeriesDescription) -> dict[str, Any]:
    """`description.to_dict()`, built without `dataclasses.asdict`'s deep copy of every number (which took a fifth
    of the generator's time). Tests check that both agree."""
    plain = dict(vars(description))
    plain["channels"] = [{**vars(channel), "periods": list(channel.periods)} for channel in description.channels]
    plain["events"] = [dict(vars(event)) for event in description.events]
    plain["segments"] = [tuple(segment) for segment in description.segments]
    return plain


def _event_meta(event: _Event) -> dict[str, Any]:
    return {"label": event.label, "start": event.start, "end": event.end, "channel": event.channel, **event.params}


def _span(event: _Event, source: str) -> dict[str, Any]:
    return records.span(
        event.start, event.end, event.label, event.kind, channel=event.channel, score=1.0, source=source, round=0
    )


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
    calendar = _CALENDAR_NAMES[int(rng.integers(len(_CALENDAR_NAMES)))]
    parts = _draw_components(rng, n, n_channels, regime, calendar, config)
    _apply_regime(regime, parts)
    clean = parts.trends + parts.seasonals + parts.noises

    # Unit: scales from 1e-3 to 1e5, half of the channels kept positive like counts or prices.
    scales = 10.0 ** rng.uniform(-3.0, 5.0, size=n_channels)
    lowest = np.where(rng.random(n_channels) < 0.5, -clean.min(axis=1), 0.0)
    offsets = (lowest + rng.uniform(-3.0, 5.0, size=n_channels)) * scales

    # Regime boundaries stay free of spans; the steps between level regimes are level shift events.
    margin = _margin(n)
    free = np.ones(n, dtype=bool)
    events: list[_Event] = []
    for b in regime.bounds[1:-1]:
        free[b - margin : b + margin] = False
        if regime.axis == "level":
            # The step concerns every channel; one magnitude can only be given for a single channel.
            step = float(parts.trends[0, b] - parts.trends[0, b - 1]) if n_channels == 1 else None
            half = max(1, math.ceil(n / 1000))  # at least one location bin each side of the step
            events.append(_Event("level shift", "event", b - half, b + half, None, step))
    work = clean.copy()
    floors = _size_floors(clean)
    labels = [
        _PLACED_LABELS[int(rng.integers(len(_PLACED_LABELS)))] for _ in range(rng.integers(config.max_events + 1))
    ]
    if rng.random() < config.missing_probability:
        labels.append("gap" if rng.random() < config.gap_probability else "missing stretch")
    for label in labels:
        event = _place(rng, work, clean, floors, label, free, n_channels == 1)
        if event is not None:
            events.append(event)
    events.sort(key=lambda e: (e.start, -1 if e.channel is None else e.channel))
    values = (offsets[:, None] + scales[:, None] * work).astype(np.float32)

    if rng.random() < 0.5 and n_channels <= len(_CHANNEL_NAMES):
        names = [str(name) for name in rng.choice(_CHANNEL_NAMES, size=n_channels, replace=False)]
    else:
        names = [f"ch{c}" for c in range(n_channels)]
    timestamps = _timestamps(rng, calendar, n) if rng.random() < config.timestamp_probability else None

    channels = _describe_channels(parts, values, scales, names)
    if regime.axis is None:
        regime.labels = [_whole_series_label(channels[0])]
    segments = list(zip(regime.bounds[:-1], regime.bounds[1:], regime.labels, strict=True))
    description = descriptions.SeriesDescription(
        length=n,
        channels=channels,
        events=[_event_description(e, scales[0 if e.channel is None else e.channel]) for e in events],
        segments=segments,
        sampling=calendar if timestamps is not None else None,
    )
    meta = {
        "generator": "ts_florence.engine.synthetic.generate_record",
        "seed": int(seed),
        "config": _config_dict(config),
        **parts.params,
        "scales": scales.tolist(),
        "offsets": offsets.tolist(),
        "regime": {"axis": regime.axis, "bounds": regime.bounds, "labels": regime.labels, "sizes": regime.sizes},
        "events": [_event_meta(e) for e in events],
        "description": description_dict(description),
    }
    record = records.new_record(
        f"{id_prefix}-{seed}", SOURCE, values, split=split, timestamps=timestamps, channel_names=names, meta=meta
    )
    record["spans"] = [_span(e, SOURCE) for e in events]
    record["segments"] = [records.segment(s, e, label, source=SOURCE) for s, e, label in segments]
    points = dict.fromkeys(regime.bounds[1:-1], "regime change")
    for e in events:
        if e.label in ("level shift", "trend change") and e.kind == "anomaly":
            points.setdefault(e.start, e.label)
            points.setdefault(e.end, e.label)
    record["change_points"] = [records.change_point(i, label=points[i], source=SOURCE) for i in sorted(points)]
    return record


# ---------------------------------------------------------------------------------------------------------
# Semi-synthetic


def inject_events(
    record: dict[str, Any], seed: int, *, max_events: int = 3, kinds: Sequence[str] | None = None
) -> dict[str, Any]:
    """A new record: the values of `record` with 1..`max_events` known events placed in them, a function of
    `seed`, the record's id and its values. `record` is not modified.

    `kinds` are labels of `EVENT_KINDS` (default: the 8 of `records.ANOMALY_LABELS`). Sizes are relative to the
    series' own variation around each event, and at least a tenth of its full range (`_size_floors`), so they
    show without being absurd; events avoid stretches where the series already makes an excursion of its own,
    and NaN already there; a missing stretch or gap sets NaN. Events go on a random channel (a gap on every
    channel).

    The annotations are exactly the injected events (`source` "injected"): the input's own annotations and
    captions are dropped because nothing says they are complete, while label, timestamps and channel names stay.
    Raises ValueError for unknown kinds, `max_events < 1`, series shorter than 32 samples, or when no event fits.
    """
    labels = tuple(records.ANOMALY_LABELS if kinds is None else kinds)
    unknown = sorted(set(labels) - set(EVENT_KINDS))
    if not labels or unknown:
        raise ValueError(f"kinds must be a non-empty selection of {list(EVENT_KINDS)}; unknown: {unknown}")
    if max_events < 1:
        raise ValueError(f"max_events must be >= 1, got {max_events}")
    original = records.values_array(record)  # a float64 copy, [channels x time]
    n_channels, n = original.shape
    if n < 32:
        raise ValueError(f"record {record['id']!r} has {n} samples; injecting events needs at least 32")

    # The record's id joins the seed so that a corpus injected with one seed does not get its events at the same
    # places in every series of the same length.
    rng = np.random.default_rng([seed, int.from_bytes(hashlib.sha1(str(record["id"]).encode()).digest()[:8], "big")])
    wanted = int(rng.integers(1, max_events + 1))
    work = original.copy()
    floors = _size_floors(original)
    free = np.ones(n, dtype=bool)
    events: list[_Event] = []
    for _ in range(wanted * _PLACEMENT_ATTEMPTS):
        if len(events) == wanted:
            break
        event = _place(rng, work, original, floors, labels[int(rng.integers(len(labels)))], free, n_channels == 1)
        if event is not None:
            events.append(event)
    if not events:
        raise ValueError(f"record {record['id']!r}: no room for any of {list(labels)} among its {n} samples")
    events.sort(key=lambda e: (e.start, -1 if e.channel is None else e.channel))

    values = work.astype(np.float32)
    names = record.get("channel_names") or [f"ch{c}" for c in range(n_channels)]
    description = descriptions.SeriesDescription(
        length=n,
        channels=[_measured(names[c], values[c].astype(np.float64)) for c in range(n_channels)],
        events=[_event_description(e, 1.0) for e in events],
        sampling=_sampling(record.get("timestamps")),
        label=record.get("label"),
    )
    try:
        original_meta = json.loads(record.get("meta") or "{}")
    except (TypeError, ValueError):
        original_meta = record.get("meta")
    meta = {
        "generator": "ts_florence.engine.synthetic.inject_events",
        "seed": int(seed),
        "max_events": max_events,
        "kinds": list(labels),
        "original_id": record["id"],
        "original_source": record["source"],
        "original_meta": original_meta,
        "events": [_event_meta(e) for e in events],
        "description": description_dict(description),
    }
    injected = records.new_record(
        f"{record['id']}+inj{seed}",
        f"semi:{record['source']}",
        values,
        split=record.get("split", "train"),
        timestamps=record.get("timestamps"),
        channel_names=names,
        label=record.get("label"),
        meta=meta,
    )
    injected["spans"] = [_span(e, INJECTED_SOURCE) for e in events]
    return injected
