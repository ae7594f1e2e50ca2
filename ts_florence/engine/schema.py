"""The corpus record (one row per series, DESIGN.md section 4) and the description captions are written from.

A record is a plain dict so it moves through `datasets.map` and multiprocessing unchanged:

    id: str                        source: str (provenance: "package:file:column" or "synthetic")
    split: str                     values: list[list[float]]   [channels][time], NaN = missing
    timestamps: list[str] | None   (ISO 8601, one per sample)  channel_names: list[str]
    captions: {"brief", "detailed", "more_detailed", "source"}: str
    label: str | None              (series-level class, from labelled sources)
    spans: list[{start, end, channel, label, kind, description, score, source, round}]   kind: anomaly | event
    segments: list[{start, end, label, score, source, round}]
    change_points: list[{index, label, score, source, round}]
    groundings: list[{phrase, spans: [[start, end], ...], source}]
    meta: str                      JSON with anything else (generator parameters, window offset, ...)

Spans are half-open `[start, end)` in samples; `channel` is None when a span concerns every channel.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ANOMALY_LABELS = (
    "spike",
    "dip",
    "level shift",
    "trend change",
    "variance burst",
    "flat line",
    "missing stretch",
    "oscillation burst",
)
"""Anomaly/event labels shared by the generator, the specialists and the caption writer."""

EVENT_LABELS = ("peak", "trough", "level shift", "flat line", "gap", "variance burst")
"""Event labels (events are ordinary structures; anomalies are departures from the series' own behaviour)."""


def new_record(
    id: str,
    source: str,
    values: np.ndarray | Sequence[Sequence[float]],
    *,
    split: str = "train",
    timestamps: Sequence[str] | None = None,
    channel_names: Sequence[str] | None = None,
    label: str | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record with no annotations yet. `values` is `[channels][time]` (a 1-D array is one channel)."""
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"record {id}: values must be [channels][time] with time > 0, got shape {array.shape}")
    return {
        "id": id,
        "source": source,
        "split": split,
        "values": array.tolist(),
        "timestamps": list(timestamps) if timestamps is not None else None,
        "channel_names": list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(len(array))],
        "captions": {"brief": "", "detailed": "", "more_detailed": "", "source": ""},
        "label": label,
        "spans": [],
        "segments": [],
        "change_points": [],
        "groundings": [],
        "meta": json.dumps(meta or {}),
    }


def values_array(record: dict[str, Any]) -> np.ndarray:
    """The record's values as a float64 array `[channels x time]`."""
    return np.asarray(record["values"], dtype=np.float64)


def values_hash(record_or_values: dict[str, Any] | np.ndarray) -> str:
    """Hash of the values (float32 bytes, NaN-normalised): the contamination check between splits."""
    values = record_or_values["values"] if isinstance(record_or_values, dict) else record_or_values
    array = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
    array = np.where(np.isnan(array), np.float32(np.nan), array)
    return hashlib.sha1(array.tobytes() + str(array.shape).encode()).hexdigest()


def span(
    start: int,
    end: int,
    label: str,
    kind: str,
    *,
    channel: int | None = None,
    description: str | None = None,
    score: float = 1.0,
    source: str,
    round: int = 0,
) -> dict[str, Any]:
    return {
        "start": int(start),
        "end": int(end),
        "channel": channel,
        "label": label,
        "kind": kind,
        "description": description,
        "score": float(score),
        "source": source,
        "round": int(round),
    }


def segment(start: int, end: int, label: str, *, score: float = 1.0, source: str, round: int = 0) -> dict[str, Any]:
    return {
        "start": int(start),
        "end": int(end),
        "label": label,
        "score": float(score),
        "source": source,
        "round": int(round),
    }


def change_point(
    index: int, *, label: str = "change", score: float = 1.0, source: str, round: int = 0
) -> dict[str, Any]:
    return {"index": int(index), "label": label, "score": float(score), "source": source, "round": int(round)}


@dataclass
class EventDescription:
    """One anomaly or event, in samples."""

    start: int
    end: int
    label: str  # one of ANOMALY_LABELS / EVENT_LABELS
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
