"""What a caption may say about a series: the measured (or, for synthetic series, exact) facts the specialists
and the generator describe and the caption writer words, and the measurements the generator and the specialists
share to state them (`robust_range`, the scale of the vocabulary's thresholds; `component_strength`, of trends and
seasonality; `sampling_from_timestamps`; `measured_channel`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..vocabulary import SAMPLING_SECONDS


@dataclass
class EventDescription:
    """One anomaly or event, in samples."""

    start: int
    end: int
    label: str  # one of vocabulary.ANOMALY_LABELS / EVENT_LABELS
    kind: str  # "anomaly" | "event"
    channel: int | None = None
    magnitude: float | None = None  # signed size in the series' units (height of a spike, size of a shift)


@dataclass
class ChannelDescription:
    """What a caption may say about one channel; every field is measured from the signal (or known exactly
    for synthetic series). None means unknown / not applicable."""

    name: str
    trend: str | None = None  # "rising" | "falling" | "flat"
    trend_strength: float | None = None  # 0..1 (share of variance explained by the trend)
    trend_change: float | None = None  # level at the end minus level at the start, in series units
    periods: list[int] = field(default_factory=list)  # seasonal periods in samples, strongest first
    seasonal_strength: float | None = None  # 0..1
    noise: str | None = None  # "low" | "moderate" | "high"
    noise_std: float | None = None  # in series units
    mean: float | None = None
    minimum: float | None = None
    minimum_at: int | None = None  # sample index
    maximum: float | None = None
    maximum_at: int | None = None
    missing_fraction: float = 0.0


@dataclass
class SeriesDescription:
    """Input of the caption writer: measured or exact facts about a series."""

    length: int
    channels: list[ChannelDescription]
    events: list[EventDescription] = field(default_factory=list)
    segments: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, regime label)
    sampling: str | None = None  # e.g. "hourly", "daily", from timestamps when known
    label: str | None = None  # series-level class

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesDescription:
        return cls(
            length=data["length"],
            channels=[ChannelDescription(**c) for c in data.get("channels", [])],
            events=[EventDescription(**e) for e in data.get("events", [])],
            segments=[tuple(s) for s in data.get("segments", [])],
            sampling=data.get("sampling"),
            label=data.get("label"),
        )


def description_dict(description: SeriesDescription) -> dict[str, Any]:
    """`description.to_dict()`, built without `dataclasses.asdict`'s deep copy of every number (which took a fifth
    of the generator's time). Tests check that both agree."""
    plain = dict(vars(description))
    plain["channels"] = [{**vars(channel), "periods": list(channel.periods)} for channel in description.channels]
    plain["events"] = [dict(vars(event)) for event in description.events]
    plain["segments"] = [tuple(segment) for segment in description.segments]
    return plain


# ---------------------------------------------------------------------------------------------------------
# Measurements shared by the generator and the specialists, so that they measure a series the same way


def quantiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
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
    low, high = quantiles(finite, (0.05, 0.95))
    return high - low


def component_strength(component: np.ndarray, resid: np.ndarray) -> float | np.ndarray:
    """Strength of a component C against the remainder R (Wang, Smith & Hyndman 2006), the one formula of trend and
    seasonal strength (the generator's exact ones, the specialists' measured ones): max(0, 1 - var(R) / var(C + R))
    in [0, 1], 0 where C + R does not vary. Of 1-D arrays a float; of `[channels x time]` arrays one per row."""
    total = np.asarray(np.var(component + resid, axis=-1))
    ratio = np.divide(np.var(resid, axis=-1), total, out=np.ones_like(total), where=total > 0)
    strength = np.maximum(0.0, 1.0 - ratio)
    return float(strength) if strength.ndim == 0 else strength


def sampling_from_timestamps(timestamps: Sequence[Any] | None) -> str | None:
    """The `SAMPLING_SECONDS` name whose step is within 10% of the median timestamp step, else None: the one rule
    that names a sampling, for the describer's measured descriptions and the injector's exact ones."""
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


def measured_channel(name: str, values: np.ndarray) -> ChannelDescription:
    """A channel description with what is measured on the final values alone (mean, extremes, missing)."""
    finite = np.isfinite(values)
    if not finite.any():
        return ChannelDescription(name=name, missing_fraction=1.0)
    if finite.all():
        low_at, high_at = int(np.argmin(values)), int(np.argmax(values))
    else:
        low_at, high_at = (
            int(np.argmin(np.where(finite, values, np.inf))),
            int(np.argmax(np.where(finite, values, -np.inf))),
        )
    return ChannelDescription(
        name=name,
        mean=float(values[finite].mean()),
        minimum=float(values[low_at]),
        minimum_at=low_at,
        maximum=float(values[high_at]),
        maximum_at=high_at,
        missing_fraction=float(1.0 - finite.mean()),
    )
