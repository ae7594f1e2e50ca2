"""What a caption may say about a series: the measured (or, for synthetic series, exact) facts the specialists
and the generator describe and the caption writer words."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EventDescription:
    """One anomaly or event, in samples."""

    start: int
    end: int
    label: str  # one of records.ANOMALY_LABELS / EVENT_LABELS
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
