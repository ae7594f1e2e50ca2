"""Specialists: the field's own detectors, run over every series to annotate the corpus (docs/architecture.md, Flow 2).

A specialist is a callable `specialist(values, timestamps=None) -> dict` on `values` `[channels x time]` (float64,
NaN = missing) that returns only the keys it produces: "spans", "segments", "change_points" (lists built with
`records.span/segment/change_point`, `source=specialist.name`, `score` = confidence in [0, 1]) and "description"
(a `descriptions.SeriesDescription`). Specialists only add annotations; filters decide later what to keep.

Every specialist is deterministic, picklable (a dataclass of its thresholds, so it crosses `datasets.map(num_proc=N)`
unchanged) and never raises on odd but valid input (NaNs anywhere, constant channels, 16 to 100,000 samples, up to
64 channels): it returns fewer annotations instead. Only input that is not a series raises `ValueError`.

The package, one module a job:

    analysis.py       the per-channel decomposition every specialist starts from (`analyse_channel`, cached per
                      process on the channel's bytes), `describe_channel`, and the shared measurements
    base.py           `Specialist`, the contract
    describer.py      `RegimeDescriber`: what a caption may say about each channel
    outliers.py       `StlZScoreDetector`, `MatrixProfileDetector`, `IsolationForestDetector`: anomalies
    change_points.py  `ChangePointDetector`: change points, regimes, level and slope excursions
    events.py         `EventDetector`: gaps, flat lines, peaks and troughs, level shifts, bursts
    __init__.py       the registry (`SPECIALISTS`, `default_specialists`) and the names the rest of the code uses

Span descriptions ("spike of +4.1") and numbers are worded by `engine/phrases.py`.

Units: positions are sample indices, spans half-open `[start, end)`; values, magnitudes and noise std are in series
units; periods in samples.

Cost (2 slow cores): all six specialists take ~40-60 ms on a series of 512 samples, most of it the decomposition
(~8 ms) and the isolation forest (~25 ms, scikit-learn's fixed cost per tree). Long series are capped: STL up to
`AnalysisConfig.stl_max_length` samples (classical decomposition beyond), the matrix profile on at most
`MatrixProfileDetector.max_length` block means, change points on at most `ChangePointDetector.max_points`, the
isolation forest on at most `IsolationForestDetector.max_rows` rows; 100,000 samples take under a second each.

Labels and rules are the vocabulary's (`ts_florence/vocabulary.py`), which the synthetic generator follows too, so
that measured and exact annotations agree:
- spans: `ANOMALY_LABELS` are kind "anomaly", "peak"/"trough"/"gap" and the persistent step between two level
  regimes ("level shift") are kind "event". A level shift that comes back is an anomaly spanning the offset; one
  that stays is an event spanning the step. A NaN run is a "missing stretch" (anomaly) up to midway between the
  generator's bounds (`MISSING_MAX_FRACTION`, `GAP_MIN_FRACTION` of the series) and a "gap" (event) beyond.
- segments: regimes of at least `MIN_SEGMENT_FRACTION` of the series, labelled along one axis from `REGIME_LABELS`
  (calm/volatile, rising/falling/flat, low/high level, seasonal/non-seasonal); one segment is labelled by
  `whole_series_label`, as the generator labels it.
- change points (`CHANGE_LABELS`): "regime change" between regimes; "level shift" / "trend change" at both ends of
  a short excursion of the level or the slope.
- noise level and trend direction: `noise_level`, `trend_direction`; robust range: `descriptions.robust_range`
  (q95 - q5).
"""

from __future__ import annotations

from ...vocabulary import CHANGE_LABELS, SAMPLING_SECONDS
from ..descriptions import sampling_from_timestamps
from ..phrases import describe_event, format_number
from .analysis import (
    AnalysisConfig,
    ChannelAnalysis,
    analyse_channel,
    as_channels,
    clear_analysis_cache,
    describe_channel,
    difference_noise_std,
    event_magnitude,
    logistic,
    merge_runs,
    robust_std,
    runs,
)
from .base import Specialist
from .change_points import ChangePointDetector
from .describer import RegimeDescriber
from .events import EventDetector
from .outliers import IsolationForestDetector, MatrixProfileDetector, StlZScoreDetector

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


__all__ = [
    "CHANGE_LABELS",
    "SAMPLING_SECONDS",
    "SPECIALISTS",
    "AnalysisConfig",
    "ChangePointDetector",
    "ChannelAnalysis",
    "EventDetector",
    "IsolationForestDetector",
    "MatrixProfileDetector",
    "RegimeDescriber",
    "Specialist",
    "StlZScoreDetector",
    "analyse_channel",
    "as_channels",
    "clear_analysis_cache",
    "default_specialists",
    "describe_channel",
    "describe_event",
    "difference_noise_std",
    "event_magnitude",
    "format_number",
    "logistic",
    "merge_runs",
    "robust_std",
    "runs",
    "sampling_from_timestamps",
]
