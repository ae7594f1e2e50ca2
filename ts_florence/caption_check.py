"""A caption's seasonal period checked against the series it describes.

The bundled model states periods it cannot read (on the frozen split, 9% of the periods its brief captions state
are right, `ts-florence evaluate`): a wrong number is worse than none (issue [text]: numbers a caption states are
facts it must get right or leave out). So when the series is at hand (`TSFlorenceProcessor.post_process_generation`
with `series`, which the pipeline passes unless `refine_boundaries=False`), a period statement of a univariate
caption is kept only where the series repeats after that many samples: its autocorrelation, once the straight-line
trend is removed, has a peak (a local maximum) within 10% of the stated period that rises at least `PERIOD_SUPPORT`
above its lowest value at shorter lags (a repeat, not the closeness of neighbouring samples of a smooth series).
Otherwise the clause ("with a cycle of 60 samples", "with a 3-sample period") or the sentence ("The series repeats
every 60 samples.") goes. In a caption of several channels a period stays when some channel repeats at it (the
sentence may name one channel; the check does not read which). Statements of no seasonality are not checked.

`PERIOD_SUPPORT` was chosen on the univariate captions of the corpus' train split (bundled model; 351 brief
captions, support 0.2 / 0.4 / 0.6 / 0.8 / 1.0: precision of the periods stated 0.50 / 0.60 / 0.75 / 0.75 / 0.50,
unchecked 0.114; of all facts 0.444 / 0.444 / 0.445 / 0.445 / 0.443, unchecked 0.412, recall unchanged; 357
detailed captions: 0.585 at every support, unchecked 0.577), the lower of the two best, so that fewer statements
go (the bundled model's captions generated once, `check_periods` applied at each support); never on the frozen
split it is reported on.
"""

from __future__ import annotations

import re

import numpy as np

from .processing_ts_florence import autocorrelation

PERIOD_SUPPORT = 0.6
"""How far the autocorrelation must rise at a stated period above its lowest value at shorter lags."""
PERIOD_TOLERANCE = 0.10
"""A peak within this fraction of the stated period supports it."""

_NUM = r"\d[\d,]*(?:\.\d+)?"
_CLAUSE = re.compile(
    rf",? (?:with a cycle of|repeating every|following a cycle of) (?P<p>{_NUM}) samples(?: \([^)]*\))?"
    rf"|,? with an? (?P<q>{_NUM})-sample (?:period|cycle)"
)
_SENTENCE = re.compile(
    # a sentence: from the start or after a full stop, over any decimal point ("std about 0.000 repeats every ...")
    rf"(?:(?<=^)|(?<=[.!?] ))(?:[^.!?]|(?<=\d)\.(?=\d))*?"
    rf"\b(?:repeats every|follows a cycle of|weaker cycle of|second period of|seasonal period of [^.]{{1,40}}? is) "
    rf"(?P<p>{_NUM}) samples[^.!?]*[.!?] ?"
)


def period_support(values: np.ndarray, period: float) -> float:
    """How far the autocorrelation of one channel `values` (NaN = missing), detrended, rises at a peak within
    `PERIOD_TOLERANCE` of `period` above its lowest value at shorter lags; -1 where the period cannot be checked
    (under 2 samples, or more than half the series)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    observed = np.isfinite(x)
    if observed.sum() < 4:
        return -1.0
    t = np.arange(len(x))
    slope, intercept = np.polyfit(t[observed], x[observed], 1)
    z = np.where(observed, x - (slope * t + intercept), 0.0)
    acf = autocorrelation(z[None, :], observed[None, :])[0]
    low, high = int(np.floor(period * (1 - PERIOD_TOLERANCE))), int(np.ceil(period * (1 + PERIOD_TOLERANCE))) + 1
    if low < 2 or high + 1 > len(acf) // 2:
        return -1.0
    inside = acf[low:high]
    # a peak: higher than both neighbours, within the tolerance (not the shoulder of a peak beyond it)
    peaks = inside[(inside >= acf[low - 1 : high - 1]) & (inside >= acf[low + 1 : high + 1])]
    return float(peaks.max() - acf[1:low].min()) if len(peaks) else -1.0


def check_periods(text: str, values: np.ndarray, support: float = PERIOD_SUPPORT) -> str:
    """`text` without the period statements the series does not support (module docstring). `values`: the series,
    `[channels x time]` or 1-D."""
    x = np.asarray(values, dtype=np.float64)
    channels = x.reshape(-1, x.shape[-1])

    def unsupported(match: re.Match[str]) -> bool:
        period = float((match["p"] or match["q"]).replace(",", ""))
        return max(period_support(channel, period) for channel in channels) < support

    text = _SENTENCE.sub(lambda m: "" if unsupported(m) else m[0], text)
    return _CLAUSE.sub(lambda m: "" if unsupported(m) else m[0], text).strip()


__all__ = ["PERIOD_SUPPORT", "PERIOD_TOLERANCE", "check_periods", "period_support"]
