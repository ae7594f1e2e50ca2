"""Clean cases: the defects a user expects any anomaly detector to find, one per series, on clean backgrounds, each
with its exact truth (span, label, channel), and the one rule by which a found span counts (`scripts/clean_cases.py`
scores the bundled model and the classical baselines with it).

Kinds (`KINDS`) and the label each must be given (`LABELS`, from `vocabulary.ANOMALY_LABELS`):

- spike / dip: one sample raised (lowered) one robust range (q95 - q5 of the channel) beyond the channel's highest
  (lowest) value. Truth: that sample.
- level shift: +-1.5 robust ranges from the onset to the end of the series (permanent, it does not come back).
- trend change: from the onset on, a ramp that has moved the level +-2 robust ranges by the end (permanent).
- flat line: the channel stuck at its last reading for 5% of the series (at least 8 samples).
- missing stretch: NaN for 3% of the series (at least 8 samples).
- variance burst: noise of std 0.5 robust range added for 5% of the series (at least 8 samples).
- seasonal break: for a whole number of periods (about 6% of the series, at least one period) the sine runs three
  times faster, phase-continuous at both ends. The vocabulary has no word for a pattern break; its closest label is
  "oscillation burst" (a stretch where the series oscillates otherwise than around it), so that is the label asked.
  Only on the sine backgrounds (the AR background has no pattern to break).

Spike, dip, level shift, trend change, flat line, variance burst and missing stretch are written by the engine's
own injector (`injection.apply_event`, the shapes the training corpus has), with these sizes and places.

Truth of the permanent kinds: a level shift or trend change has no end, so its truth is the onset region
`[t, t + onset_width(n))`, `onset_width(n) = max(2, ceil(n / 200))` samples from the first changed sample t (the
injector's rule for its permanent defects, `injection.DEFECTS`, that the training corpus holds); what NAB
and SKAB count is that a detector flags the change near where it happens, not that it covers the rest of the series.

Backgrounds (`BACKGROUNDS`): "sine 0.1" and "sine 0.3" (per channel a sine of amplitude 1, period 50, 40 or 60 for
channels 0, 1, 2, random phase, with white noise of std 0.1 or 0.3) and "ar" (per channel a stationary AR(1),
phi 0.9, unit innovations: a wandering background whose noise is its own, hence one level). Univariate, or 3
channels with the defect in one of them (`CleanCase.channel`; None for univariate series). The onset is uniform in
[0.3 n, 0.6 n). Everything is a function of the seed and the case's name, so a case is the same whichever others
are drawn with it.

Found (`found_mask`): a predicted span finds the truth when their IoU (`evaluation.metrics.span_iou`) is >= 0.5, or,
for a point-like truth (no longer than `point_tolerance(n) = max(8, ceil(n / 100))` samples: spikes, dips and the
onset regions), when the predicted span overlaps it and is itself no longer than `point_tolerance(n)`. The same rule
for every method and kind; the label and the channel are checked apart from it (`score_case`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ts_florence.engine.injection import Event, apply_event, onset_width
from ts_florence.evaluation.metrics import span_iou

KINDS = (
    "spike",
    "dip",
    "level shift",
    "trend change",
    "flat line",
    "missing stretch",
    "variance burst",
    "seasonal break",
)
LABELS = {kind: kind for kind in KINDS} | {"seasonal break": "oscillation burst"}
"""The label of `vocabulary.ANOMALY_LABELS` each kind must be given."""
PERMANENT = ("level shift", "trend change")
"""Kinds whose truth is their onset region."""
BACKGROUNDS = ("sine 0.1", "sine 0.3", "ar")
LENGTHS = (300, 1000, 3000, 10000, 100000)
CHANNELS = (1, 3)
PERIODS = (50, 40, 60)
"""Period of the sine of channels 0, 1, 2."""
IOU = 0.5


def point_tolerance(n: int) -> int:
    """Longest truth counted as point-like, and longest predicted span that finds one by overlapping it."""
    return max(8, math.ceil(n / 100))


@dataclass(frozen=True)
class CleanCase:
    name: str
    kind: str
    label: str
    background: str
    length: int
    channels: int
    start: int
    end: int
    """Truth span `[start, end)` in samples."""
    channel: int | None
    """Channel of the defect; None for a univariate series."""
    values: np.ndarray
    """`(time,)` for one channel, else `(time, channels)`, float64, NaN = missing: as the pipeline takes them."""

    @property
    def span(self) -> list[int]:
        return [self.start, self.end]

    def channel_major(self) -> np.ndarray:
        """The values `[channels x time]`, as the baselines take them."""
        return self.values[None, :] if self.values.ndim == 1 else self.values.T


def case_name(kind: str, background: str, length: int, channels: int) -> str:
    return f"{kind} | {background} | n={length} | {channels}ch"


def kinds_of(background: str) -> tuple[str, ...]:
    """The kinds drawn on `background` (no pattern to break on the AR background)."""
    return KINDS if background.startswith("sine") else tuple(k for k in KINDS if k != "seasonal break")


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big")])


def _background(rng: np.random.Generator, background: str, n: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """The values `[channels x n]` of a background and the phase of each channel's sine (0 for "ar")."""
    if background == "ar":
        phi = 0.9
        shocks = rng.standard_normal((channels, n))
        noise = np.empty((channels, n))
        noise[:, 0] = shocks[:, 0] / math.sqrt(1 - phi**2)  # stationary from the first sample
        for i in range(1, n):
            noise[:, i] = phi * noise[:, i - 1] + shocks[:, i]
        return noise, np.zeros(channels)
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; known: {list(BACKGROUNDS)}")
    std = float(background.split()[1])
    phases = rng.uniform(0, 2 * np.pi, channels)
    t = np.arange(n)
    pattern = np.stack([np.sin(2 * np.pi * t / PERIODS[c] + phases[c]) for c in range(channels)])
    return pattern + std * rng.standard_normal((channels, n)), phases


def make_case(kind: str, background: str, length: int, channels: int = 1, seed: int = 0) -> CleanCase:
    """One clean case (see the module's docstring), a function of its arguments."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {list(KINDS)}")
    if kind not in kinds_of(background):
        raise ValueError(f"no {kind!r} on the {background!r} background")
    if length < 100:
        raise ValueError(f"clean cases have at least 100 samples, got {length}")
    name = case_name(kind, background, length, channels)
    rng = _rng(seed, name)
    n = length
    work, phases = _background(rng, background, n, channels)
    channel = int(rng.integers(channels))
    row = work[channel]
    clean = row.copy()
    low, high = np.quantile(clean, (0.05, 0.95))
    scale = float(high - low)
    onset = int(rng.integers(int(0.3 * n), int(0.6 * n)))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    wide = {"flat line": 0.05, "missing stretch": 0.03, "variance burst": 0.05}
    if kind in ("spike", "dip"):
        size = clean.max() - clean[onset] + scale if kind == "spike" else clean.min() - clean[onset] - scale
        event, start, end = Event(kind, "anomaly", onset, onset + 1, channel, size), onset, onset + 1
    elif kind in PERMANENT:
        size = sign * (1.5 if kind == "level shift" else 2.0) * scale
        event, start, end = Event(kind, "anomaly", onset, n, channel, size), onset, onset + onset_width(n)
    elif kind in wide:
        width = max(8, round(wide[kind] * n))
        size = 0.5 * scale if kind == "variance burst" else None
        event, start, end = Event(kind, "anomaly", onset, onset + width, channel, size), onset, onset + width
    else:  # seasonal break: three times the frequency for whole periods, so the phase meets at both ends
        period = PERIODS[channel]
        width = period * max(1, round(0.06 * n / period))
        start, end = onset, onset + width
        angle = 2 * np.pi * np.arange(start, end) / period + phases[channel]
        row[start:end] += np.sin(angle + 2 * np.pi * 2 * np.arange(width) / period) - np.sin(angle)
        event = None
    if event is not None:
        apply_event(rng, row, event)
    values = work[0] if channels == 1 else work.T.copy()
    return CleanCase(
        name=name,
        kind=kind,
        label=LABELS[kind],
        background=background,
        length=n,
        channels=channels,
        start=int(start),
        end=int(end),
        channel=None if channels == 1 else channel,
        values=values,
    )


def clean_cases(
    seed: int = 0,
    lengths: Sequence[int] = LENGTHS,
    backgrounds: Sequence[str] = BACKGROUNDS,
    channels: Sequence[int] = CHANNELS,
    kinds: Sequence[str] = KINDS,
) -> list[CleanCase]:
    """Every case of the grid, shortest series first, then by background, channels and kind (so the first few
    are short series of different kinds)."""
    return [
        make_case(kind, background, n, c, seed)
        for n in lengths
        for background in backgrounds
        for c in channels
        for kind in kinds_of(background)
        if kind in kinds
    ]


# ---------------------------------------------------------------------------------------------------------
# Scoring


def found_mask(spans: Sequence[Sequence[int]], truth: Sequence[int], length: int) -> np.ndarray:
    """Which predicted `spans` find the truth span `[start, end)` of a series of `length` samples (the module's
    rule: IoU >= 0.5, or for a point-like truth a short predicted span that overlaps it)."""
    if not len(spans):
        return np.zeros(0, dtype=bool)
    predicted = np.asarray(spans, dtype=np.float64)
    iou = span_iou(predicted, [truth])[:, 0]
    tolerance = point_tolerance(length)
    point_like = truth[1] - truth[0] <= tolerance
    overlap = (predicted[:, 0] < truth[1]) & (predicted[:, 1] > truth[0])
    short = predicted[:, 1] - predicted[:, 0] <= tolerance
    return (iou >= IOU) | (point_like & overlap & short)


def score_case(case: CleanCase, result: dict[str, Any]) -> dict[str, Any]:
    """How an `<ANOMALY_DETECTION>`-shaped result answers a case: `found` (some span finds the truth),
    `labelled` (one of those has the case's label), `channel` (one of those is on the defect's channel; None for a
    univariate case) and `outcome`: "found" (right label), "wrong label", "wrong place" (spans, none finding the
    truth) or "nothing" (no span)."""
    spans = [list(map(int, s)) for s in result.get("spans", [])]
    labels = list(result.get("labels") or [None] * len(spans))
    channels = list(result.get("channels") or [None] * len(spans))
    hits = found_mask(spans, case.span, case.length)
    found = bool(hits.any())
    labelled = any(labels[i] == case.label for i in np.flatnonzero(hits))
    channel = None if case.channel is None else any(channels[i] == case.channel for i in np.flatnonzero(hits))
    if labelled:
        outcome = "found"
    elif found:
        outcome = "wrong label"
    else:
        outcome = "wrong place" if spans else "nothing"
    return {
        "found": found,
        "labelled": labelled,
        "channel": channel,
        "outcome": outcome,
        "labels_found": [labels[i] for i in np.flatnonzero(hits)],
    }
