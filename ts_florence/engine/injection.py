"""Known events placed in series: the anomalies and events of the synthetic generator (`synthetic.generate_record`)
and of semi-synthetic records (`inject_events`: real windows with injected, exactly known events).

Widths, sizes, placement and shapes follow the labelling rules of `synthetic.py`'s docstring: sizes come from the
series' own variation around each span (at least a tenth of its full range), spans keep a margin between each
other and the ends of the series and avoid stretches where the series already makes an excursion of its own.
Labels and bounds are the vocabulary's (`ts_florence/vocabulary.py`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ts_florence import records
from ts_florence.engine import descriptions
from ts_florence.engine.descriptions import measured_channel, quantiles
from ts_florence.vocabulary import ANOMALY_LABELS, GAP_MIN_FRACTION, MISSING_MAX_FRACTION

INJECTED_SOURCE = "injected"
"""`source` of the annotations of semi-synthetic records."""

EVENT_KINDS: dict[str, str] = {
    **dict.fromkeys(ANOMALY_LABELS, "anomaly"),
    "peak": "event",
    "trough": "event",
    "gap": "event",
}
"""Labels that `inject_events` places, with their kind."""
DEFECTS: dict[str, str] = {
    "permanent level shift": "level shift",
    "permanent trend change": "trend change",
    "pattern break": "oscillation burst",
}
"""Defects that `inject_events` also places (`kinds`), with the vocabulary's label they are annotated with. What
users' benchmarks (NAB, SKAB, KPI sets) count and the events of `EVENT_KINDS` lack:

- permanent level shift: the channel moves by +-1..2 local scales from an onset to the end of the series.
- permanent trend change: from an onset on, a ramp that has moved the level +-1..3 local scales by the end.
- pattern break: a stretch (4-10% of the series) where the series plays three times faster (its own values from
  three widths, every third), bent back so that it meets the series at both ends; placed only where that raises
  the stretch's sample-to-sample variation by half (on a noise-like series a faster replay would not show).

A permanent change has no end: its annotation is the onset region `[t, t + onset_width(n))` (what NAB and SKAB
count is a flag near where the change happens), the event's `params` say `permanent`."""
PLACEMENT_ATTEMPTS = 25
"""Random draws tried before a placement (of a span, a period) is given up."""


# ---------------------------------------------------------------------------------------------------------
# Events: widths, magnitudes, placement and shapes (shared by the generator and the injector)


@dataclass
class Event:
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


def onset_width(n: int) -> int:
    """Samples of the annotation of a permanent change (`DEFECTS`), from its first changed sample."""
    return max(2, math.ceil(n / 200))


def span_margin(n: int) -> int:
    """Samples kept free between spans, and between spans and the ends of the series."""
    return max(2, n // 100)


def _candidate_slots(rng: np.random.Generator, free: np.ndarray, label: str) -> Iterator[tuple[int, int]]:
    """Up to `PLACEMENT_ATTEMPTS` random spans for `label` whose surroundings (one margin each side) are all
    `free`."""
    n = len(free)
    margin = span_margin(n)
    low, high = _width_bounds(label, n)
    for _ in range(PLACEMENT_ATTEMPTS):
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
    (center,) = quantiles(steps, (0.5,))
    (spread,) = quantiles(np.abs(steps - center), (0.5,))
    low, high = quantiles(window, (0.05, 0.95))
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
    extreme); what it measures is in `apply_event`."""
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


def apply_event(rng: np.random.Generator, row: np.ndarray, event: Event) -> None:
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


def place_event(
    rng: np.random.Generator,
    work: np.ndarray,
    clean: np.ndarray,
    floors: np.ndarray,
    label: str,
    free: np.ndarray,
    univariate: bool,
) -> Event | None:
    """Places one `label` event in `work` ([channels x time], modified in place) and marks its span taken in
    `free`. Sizes come from the surroundings in `clean` (the values before any event) with the channel's `floors`
    (series units). None when no suitable span was found."""
    if label in DEFECTS:
        return _place_defect(rng, work, clean, floors, label, free, univariate)
    n_channels = len(work)
    if label == "gap":
        channel, rows = None, list(range(n_channels))
        usable = _usable(free, np.isfinite(clean).all(axis=0))
    else:
        channel = int(rng.integers(n_channels))
        rows = [channel]
        usable = _usable(free, np.isfinite(clean[channel]))
    values = clean[rows[0]]
    for start, end in _candidate_slots(rng, usable, label):
        around = _surroundings(values, start, end, floors[rows[0]])
        if around is None or not _suits(label, values[start:end], around):
            continue
        magnitude = _draw_magnitude(rng, label, around.scale, _headroom(label, values[start:end], around))
        event = Event(label, EVENT_KINDS[label], start, end, None if univariate else channel, magnitude)
        for row in rows:
            apply_event(rng, work[row], event)
        free[start:end] = False
        return event
    return None


def _usable(free: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Samples free and finite with finite neighbours: a NaN next to a span would hide its edge (and a flat line
    would hold a NaN)."""
    usable = free & finite
    usable[1:] &= usable[:-1].copy()
    usable[:-1] &= usable[1:].copy()
    return usable


def _place_defect(
    rng: np.random.Generator,
    work: np.ndarray,
    clean: np.ndarray,
    floors: np.ndarray,
    defect: str,
    free: np.ndarray,
    univariate: bool,
) -> Event | None:
    """`place_event` for a defect of `DEFECTS`: the changed stretch written into one channel of `work`, the
    returned event (and the span marked taken in `free`) being its annotation."""
    n = work.shape[1]
    channel = int(rng.integers(len(work)))
    values = clean[channel]
    usable = _usable(free, np.isfinite(values))
    margin = span_margin(n)
    label = DEFECTS[defect]
    for _ in range(PLACEMENT_ATTEMPTS):
        if defect == "pattern break":
            low, high = _width_bounds(label, n)
            width = int(rng.integers(low, high + 1))
            start = int(rng.integers(margin, max(margin + 1, n - margin - 3 * width)))
            end, reach = start + width, start + 3 * width
            if reach >= n or not usable[start - margin : reach + 1].all():
                continue
            replay = values[start:reach:3][:width] - (values[reach] - values[end]) * np.arange(width) / width
            if np.abs(np.diff(replay)).mean() < 1.5 * np.abs(np.diff(values[start:end])).mean():
                continue
            work[channel, start:end] = replay
            event = Event(label, "anomaly", start, end, None if univariate else channel, None)
        else:
            start = int(rng.integers(max(margin, int(0.2 * n)), max(margin + 1, int(0.8 * n))))
            end = start + onset_width(n)
            if end + margin > n or not usable[start - margin : end + margin].all():
                continue
            around = _surroundings(values, start, end, floors[channel])
            if around is None or around.scale <= 0:
                continue
            reach = (1.0, 2.0) if label == "level shift" else (1.0, 3.0)
            size = (1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(*reach) * around.scale
            apply_event(rng, work[channel], Event(label, "anomaly", start, n, channel, size))
            event = Event(label, "anomaly", start, end, None if univariate else channel, size, {"permanent": 1.0})
        free[start:end] = False
        return event
    return None


def size_floors(values: np.ndarray) -> np.ndarray:
    """Smallest unit of event sizes per channel of `[channels x time]` values: a tenth of the channel's full range,
    so that events show at the scale of the whole series even where it is locally quiet next to large swings
    elsewhere (its robust range would not do: in a mostly flat series with rare bursts it is near zero)."""
    finite_rows = (row[np.isfinite(row)] for row in values)
    return np.array([0.1 * float(np.ptp(row)) if row.size else 0.0 for row in finite_rows])


def event_description(event: Event, scale: float) -> descriptions.EventDescription:
    """The event as a description says it, its magnitude times `scale` (in series units)."""
    return descriptions.EventDescription(
        start=event.start,
        end=event.end,
        label=event.label,
        kind=event.kind,
        channel=event.channel,
        magnitude=None if event.magnitude is None else float(event.magnitude * scale),
    )


def event_meta(event: Event) -> dict[str, Any]:
    """The event as a record's `meta` lists it (with the parameters its shape drew)."""
    return {"label": event.label, "start": event.start, "end": event.end, "channel": event.channel, **event.params}


def event_span(event: Event, source: str) -> dict[str, Any]:
    """The event as a record's span (exact: score 1)."""
    return records.span(
        event.start, event.end, event.label, event.kind, channel=event.channel, score=1.0, source=source, round=0
    )


# ---------------------------------------------------------------------------------------------------------
# Semi-synthetic


def inject_events(
    record: dict[str, Any], seed: int, *, max_events: int = 3, kinds: Sequence[str] | None = None
) -> dict[str, Any]:
    """A new record: the values of `record` with 1..`max_events` known events placed in them, a function of
    `seed`, the record's id and its values. `record` is not modified.

    `kinds` are labels of `EVENT_KINDS` or defects of `DEFECTS` (default: the 8 of `ANOMALY_LABELS`). Sizes are
    relative to the series' own variation around each event, and at least a tenth of its full range
    (`size_floors`), so they show without being absurd; events avoid stretches where the series already makes an
    excursion of its own, and NaN already there; a missing stretch or gap sets NaN. Events go on a random channel
    (a gap on every channel).

    The annotations are exactly the injected events (`source` "injected"): the input's own annotations and
    captions are dropped because nothing says they are complete, while label, timestamps and channel names stay.
    Raises ValueError for unknown kinds, `max_events < 1`, series shorter than 32 samples, or when no event fits.
    """
    labels = tuple(ANOMALY_LABELS if kinds is None else kinds)
    unknown = sorted(set(labels) - set(EVENT_KINDS) - set(DEFECTS))
    if not labels or unknown:
        known = list(EVENT_KINDS) + list(DEFECTS)
        raise ValueError(f"kinds must be a non-empty selection of {known}; unknown: {unknown}")
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
    floors = size_floors(original)
    free = np.ones(n, dtype=bool)
    events: list[Event] = []
    for _ in range(wanted * PLACEMENT_ATTEMPTS):
        if len(events) == wanted:
            break
        event = place_event(rng, work, original, floors, labels[int(rng.integers(len(labels)))], free, n_channels == 1)
        if event is not None:
            events.append(event)
    if not events:
        raise ValueError(f"record {record['id']!r}: no room for any of {list(labels)} among its {n} samples")
    events.sort(key=lambda e: (e.start, -1 if e.channel is None else e.channel))

    values = work.astype(np.float32)
    names = record.get("channel_names") or [f"ch{c}" for c in range(n_channels)]
    description = descriptions.SeriesDescription(
        length=n,
        channels=[measured_channel(names[c], values[c].astype(np.float64)) for c in range(n_channels)],
        events=[event_description(e, 1.0) for e in events],
        sampling=descriptions.sampling_from_timestamps(record.get("timestamps")),
        label=record.get("label"),
    )
    try:
        original_meta = json.loads(record.get("meta") or "{}")
    except (TypeError, ValueError):
        original_meta = record.get("meta")
    meta = {
        "generator": "ts_florence.engine.synthetic.inject_events",  # the name corpora record (synthetic re-exports it)
        "seed": int(seed),
        "max_events": max_events,
        "kinds": list(labels),
        "original_id": record["id"],
        "original_source": record["source"],
        "original_meta": original_meta,
        "events": [event_meta(e) for e in events],
        "description": descriptions.description_dict(description),
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
    injected["spans"] = [event_span(e, INJECTED_SOURCE) for e in events]
    return injected
