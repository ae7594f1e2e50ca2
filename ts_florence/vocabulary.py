"""The words of the corpus and the rules that choose them: one home for the labels of spans, segments and change
points, the sampling names, the words captions use for them (`NOUNS`, `PLURALS`, `PARTS`, `TREND_WORDS`,
`NOISE_WORDS`), and the thresholds of the noise, trend and regime labels.

The synthetic generator places and describes series with these labels and rules (`engine/synthetic.py`,
`engine/injection.py`), the specialists measure real series by the same rules so that measured and exact
annotations agree (`engine/specialists/`), the captions word them (`engine/phrases.py`) and the tokenizer learns
them (`tokenization_ts_florence.py`); `records.py` re-exports the span labels as part of the record's contract.
Plain Python: the core package reads it without the engine.

Ratios are against the robust range (q95 - q5) of a channel's values (`engine.descriptions.robust_range`);
lengths are fractions of the series (and samples).
"""

from __future__ import annotations

import math

# ----------------------------------------------------------------------------------------------------------- labels
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
"""Labels of anomaly spans, shared by the generator, the specialists and the caption writer."""

EVENT_LABELS = ("peak", "trough", "level shift", "flat line", "gap", "variance burst")
"""Event labels (events are ordinary structures; anomalies are departures from the series' own behaviour)."""

ALL_SPAN_LABELS = tuple(dict.fromkeys((*ANOMALY_LABELS, *EVENT_LABELS)))
"""Every label a span may carry, anomalies' first (each once): the labels the captions have words for."""

REGIME_LABELS: dict[str, tuple[str, ...]] = {
    "noise": ("calm", "volatile"),
    "trend": ("rising", "falling", "flat"),
    "level": ("low level", "high level"),
    "seasonal": ("seasonal", "non-seasonal"),
}
"""Segment labels by the axis along which neighbouring regimes differ."""

CHANGE_LABELS = ("regime change", "level shift", "trend change")
"""Change-point labels: between regimes, and at both ends of a level or slope excursion."""

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
"""Sampling names and their step in seconds, the one name of a sampling: the generator draws series at some of them
and `engine.descriptions.sampling_from_timestamps` names a median timestamp step within 10% of one by it."""

# ------------------------------------------------------------------------------------------------------ caption words
_OTHER_NOUN = {
    "spike": "sharp spike",
    "dip": "sharp dip",
    "level shift": "shift in level",
    "trend change": "change of slope",
    "variance burst": "burst of volatility",
    "flat line": "flatline",
    "missing stretch": "stretch of missing values",
    "oscillation burst": "burst of fast oscillation",
    "peak": "broad peak",
    "trough": "broad trough",
    "gap": "gap in the data",
}
NOUNS: dict[str, tuple[str, ...]] = {label: (label, _OTHER_NOUN[label]) for label in ALL_SPAN_LABELS}
"""The words a caption uses for each span label of the vocabulary (first: the label itself): the caption
writer's (`engine/phrases.py`) and the fact evaluation's (`evaluation/caption_facts.py`)."""

PLURALS: dict[str, str] = {
    "spike": "spikes", "sharp spike": "sharp spikes", "dip": "dips", "sharp dip": "sharp dips",
    "level shift": "level shifts", "shift in level": "shifts in level", "trend change": "trend changes",
    "change of slope": "changes of slope", "variance burst": "variance bursts",
    "burst of volatility": "bursts of volatility", "flat line": "flat lines", "flatline": "flatlines",
    "missing stretch": "missing stretches", "stretch of missing values": "stretches of missing values",
    "oscillation burst": "oscillation bursts", "burst of fast oscillation": "bursts of fast oscillation",
    "peak": "peaks", "broad peak": "broad peaks", "trough": "troughs", "broad trough": "broad troughs",
    "gap": "gaps", "gap in the data": "gaps in the data",
}  # fmt: skip
"""The plural of every noun of `NOUNS`."""
REGIME_NOUNS = ("stretch", "regime", "phase")
"""The nouns of a regime ("a calm phase from sample 0 to 318")."""
PARTS = (  # (phrase, lowest, highest relative position of a place it may name)
    ("near the start", 0.0, 0.1),
    ("early on", 0.0, 0.33),
    ("around the middle", 0.4, 0.6),
    ("late in the series", 0.67, 1.0),
    ("near the end", 0.9, 1.0),
)
"""The parts of a series a caption names a place by, with the relative positions (0: the first sample, 1: the last)
of the places each may name."""
TREND_WORDS: dict[str, tuple[str, ...]] = {
    "rising": ("rising", "upward-trending", "increasing"),
    "falling": ("falling", "downward-trending", "decreasing"),
    "flat": ("flat", "trendless", "level"),
}
"""The adjectives of a brief caption for each trend label ("A smooth upward-trending series")."""
NOISE_WORDS: dict[str, tuple[str, ...]] = {
    "low": ("smooth", "clean"),
    "moderate": ("moderately noisy", "somewhat noisy"),
    "high": ("noisy", "very noisy"),
}
"""The adjectives of a brief caption for each noise label."""

# ------------------------------------------------------------------------------------------------------- thresholds
NOISE_LEVELS: tuple[tuple[float, str], ...] = ((0.05, "low"), (0.15, "moderate"), (math.inf, "high"))
"""Noise label by noise std / robust range of the final values: below 0.05 "low", below 0.15 "moderate", else
"high". White noise alone is at ~0.30; noise std 0.1 of a sine's RMS amplitude is at ~0.04."""
TREND_MIN_STRENGTH = 0.3
"""Below this trend strength, a trend is "flat" whatever its change."""
TREND_MIN_CHANGE = 0.1
"""Below this |level change| / robust range of the final values, a trend is "flat"."""
SEASONAL_MIN_STRENGTH = 0.5
"""Seasonal strength from which a single-segment series is labelled "seasonal"."""

MIN_SEGMENT_FRACTION = 0.2
"""Shortest regime, as a fraction of the series (and at least `MIN_SEGMENT_LENGTH` samples)."""
MIN_SEGMENT_LENGTH = 16
MISSING_MAX_FRACTION = 0.05
"""Longest "missing stretch" (anomaly), as a fraction of the series."""
GAP_MIN_FRACTION = 0.10
"""Shortest "gap" (event), as a fraction of the series; nothing in between, so the two never look alike."""


# ------------------------------------------------------------------------------------------------------------ rules
def noise_level(noise_std: float, series_range: float) -> str:
    """The noise label, "low" | "moderate" | "high", of `noise_std / series_range` (`NOISE_LEVELS`); both in series
    units, the range being the robust range of the values."""
    if series_range > 0:
        ratio = noise_std / series_range
    else:  # a constant channel: no noise is low noise, any noise on no range is high
        ratio = 0.0 if noise_std == 0 else math.inf
    return next((label for bound, label in NOISE_LEVELS if ratio < bound), NOISE_LEVELS[-1][1])


def trend_direction(trend_change: float, trend_strength: float, series_range: float) -> str:
    """The trend label, "rising" | "falling" | "flat": flat when the trend is weak (`TREND_MIN_STRENGTH`) or its
    change small next to the range of the series (`TREND_MIN_CHANGE`); `trend_change` (level at the end minus level
    at the start) and `series_range` (the robust range of the values) in series units."""
    if trend_strength < TREND_MIN_STRENGTH or abs(trend_change) < TREND_MIN_CHANGE * series_range:
        return "flat"
    return "rising" if trend_change > 0 else "falling"


def whole_series_label(trend: str | None, seasonal_strength: float | None, noise: str | None) -> str:
    """The label of a series' only segment, from its first channel's description: the trend when there is one,
    else "seasonal" when seasonality is strong (`SEASONAL_MIN_STRENGTH`), else "volatile" for high noise and
    "calm" otherwise."""
    if trend in ("rising", "falling"):
        return trend
    if (seasonal_strength or 0.0) >= SEASONAL_MIN_STRENGTH:
        return "seasonal"
    return "volatile" if noise == "high" else "calm"
