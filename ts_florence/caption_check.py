"""A caption's seasonal period checked against the series it describes, and stated from it where missing.

The bundled model states periods it cannot read (on the frozen split, 9% of the periods its brief captions state
are right, `ts-florence evaluate`): a wrong number is worse than none (issue [text]: numbers a caption states are
facts it must get right or leave out). So when the series is at hand (`TSFlorenceProcessor.post_process_generation`
with `series`, which the pipeline passes unless `refine_boundaries=False`), a period statement of a univariate
caption is kept only where the series repeats after that many samples: its autocorrelation, once the straight-line
trend is removed, has a peak (a local maximum) within 10% of the stated period that rises at least `PERIOD_SUPPORT`
above its lowest value at shorter lags (a repeat, not the closeness of neighbouring samples of a smooth series).
Otherwise the clause ("with a cycle of 60 samples", "with a 3-sample period") or the sentence ("The series repeats
every 60 samples.") goes. In a caption of several channels a period stays when some channel repeats at it (the
sentence may name one channel; the check does not read which).

`PERIOD_SUPPORT` was chosen on the univariate captions of the corpus' train split (bundled model; 351 brief
captions, support 0.2 / 0.4 / 0.6 / 0.8 / 1.0: precision of the periods stated 0.50 / 0.60 / 0.75 / 0.75 / 0.50,
unchecked 0.114; of all facts 0.444 / 0.444 / 0.445 / 0.445 / 0.443, unchecked 0.412, recall unchanged; 357
detailed captions: 0.585 at every support, unchecked 0.577), the lower of the two best, so that fewer statements
go (the bundled model's captions generated once, `check_periods` applied at each support); never on the frozen
split it is reported on.

Where a caption then states no period and the series repeats, `state_period` states the `measured_period`: the
shortest lag (at least `MIN_MEASURED_PERIOD` samples, three cycles in the series) with a peak of that same support,
in the corpus' own words (a brief caption's "with a cycle of 50 samples"; a univariate detailed caption's "The series
repeats every 50 samples.", in place of a statement of no seasonality). The period is then a measurement of the
signal, not the model's reading. On train-split captions of the bundled model (400 of each caption task, any channel
count), stating at support 0.6 / 0.8 / 1.0 / 1.2 / 1.5 gave brief period precision 0.75 / 0.75 / 0.79 /
0.74 / 0.69 and recall 0.47 / 0.40 / 0.38 / 0.32 / 0.23 (checked only: 0.60 / 0.06), all-fact precision 0.548 /
0.543 / 0.543 / 0.537 / 0.532 (0.526); detailed 0.584 / 0.577 / 0.569 / 0.568 / 0.565 (0.558): the check's own
support is the best of those, and a lower one would state periods the check removes.
"""

from __future__ import annotations

import re

import numpy as np

from .processing_ts_florence import autocorrelation

PERIOD_SUPPORT = 0.6
"""How far the autocorrelation must rise at a stated period above its lowest value at shorter lags."""
PERIOD_TOLERANCE = 0.10
"""A peak within this fraction of the stated period supports it."""
MIN_MEASURED_PERIOD = 4
"""The shortest period stated from the series (shorter cycles are not told from noise; the engine's `min_period`)."""

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


def _detrended_autocorrelation(values: np.ndarray) -> np.ndarray | None:
    """The autocorrelation of one channel `values` (NaN = missing) at every lag once its straight-line trend is
    removed; None under 4 observed samples."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    observed = np.isfinite(x)
    if observed.sum() < 4:
        return None
    t = np.arange(len(x))
    slope, intercept = np.polyfit(t[observed], x[observed], 1)
    z = np.where(observed, x - (slope * t + intercept), 0.0)
    return autocorrelation(z[None, :], observed[None, :])[0]


def period_support(values: np.ndarray, period: float) -> float:
    """How far the autocorrelation of one channel `values` (NaN = missing), detrended, rises at a peak within
    `PERIOD_TOLERANCE` of `period` above its lowest value at shorter lags; -1 where the period cannot be checked
    (under 2 samples, or more than half the series)."""
    acf = _detrended_autocorrelation(values)
    if acf is None:
        return -1.0
    low, high = int(np.floor(period * (1 - PERIOD_TOLERANCE))), int(np.ceil(period * (1 + PERIOD_TOLERANCE))) + 1
    if low < 2 or high + 1 > len(acf) // 2:
        return -1.0
    inside = acf[low:high]
    # a peak: higher than both neighbours, within the tolerance (not the shoulder of a peak beyond it)
    peaks = inside[(inside >= acf[low - 1 : high - 1]) & (inside >= acf[low + 1 : high + 1])]
    return float(peaks.max() - acf[1:low].min()) if len(peaks) else -1.0


def measured_period(values: np.ndarray, support: float = PERIOD_SUPPORT) -> int | None:
    """The period the series repeats at, in samples, or None: for each channel (`values [channels x time]` or 1-D,
    NaN = missing) the shortest lag of at least `MIN_MEASURED_PERIOD` samples, with three cycles in the series,
    where the detrended autocorrelation peaks `support` above its lowest value at shorter lags (`period_support`'s
    measure); of several channels, the one whose peak rises most."""
    x = np.asarray(values, dtype=np.float64)
    best: tuple[float, int] | None = None
    for channel in x.reshape(-1, x.shape[-1]):
        acf = _detrended_autocorrelation(channel)
        if acf is None or len(acf) // 3 < MIN_MEASURED_PERIOD + 2:
            continue
        lags = np.arange(MIN_MEASURED_PERIOD, len(acf) // 3)
        peaks = lags[(acf[lags] >= acf[lags - 1]) & (acf[lags] > acf[lags + 1])]
        lowest = np.minimum.accumulate(acf[1:])  # lowest[k - 2]: the lowest at lags 1 .. k - 1
        rise = acf[peaks] - lowest[peaks - 2]
        found = np.flatnonzero(rise >= support)
        if len(found) and (best is None or rise[found[0]] > best[0]):
            best = (float(rise[found[0]]), int(peaks[found[0]]))
    return None if best is None else best[1]


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


_NO_SEASON = re.compile(
    r"(?:(?<=^)|(?<=[.!?] ))(?:(?P<s>[^.!?]*?) (?:shows no seasonal cycle|has no clear seasonality)"
    r"|No regular cycle appears in (?P<o>[^.!?]*?))\."
)
_BRIEF_SUBJECT = re.compile(r"\bseries(?=[,.]|$)|^\d[\d,]* channels(?:, mostly [^,.]*)?")  # the brief template's
_MENTIONS_A_PERIOD = re.compile(r"\b(?:periods?|periodic\w*|cycles?|seasonal\w*|repeat\w*|every)\b", re.IGNORECASE)


def state_period(text: str, values: np.ndarray, brief: bool, support: float = PERIOD_SUPPORT) -> str:
    """`text` stating the `measured_period` of the series where it states no period: a brief caption (`brief`)
    gets the clause the corpus' brief captions use ("A clean flat series with a cycle of 50 samples, with one
    sharp spike."); a detailed caption of a univariate series has its statement of no seasonality replaced by
    "The series repeats every 50 samples." or, without one, that sentence after its first. Unchanged when the
    text already speaks of a period in any words (besides those statements of none), when a brief caption is not
    in the corpus' form, or when the series repeats at none."""
    if _MENTIONS_A_PERIOD.search(_NO_SEASON.sub("", text)):  # a period stated in any words: left as it is
        return text
    x = np.asarray(values, dtype=np.float64)
    univariate = x.ndim == 1 or x.shape[0] == 1
    if not (brief or univariate):
        return text
    period = measured_period(x, support)
    if period is None:
        return text
    samples = f"{period:,} samples"
    if brief:
        match = _BRIEF_SUBJECT.search(text)
        if match is None:
            return text
        joint = " " if match[0] == "series" else ", "
        return f"{text[: match.end()]}{joint}with a cycle of {samples}{text[match.end() :]}"
    negation = _NO_SEASON.search(text)
    if negation is not None:
        subject = negation["s"] or negation["o"]
        sentence = f"{subject[:1].upper()}{subject[1:]} repeats every {samples}."
        return f"{text[: negation.start()]}{sentence}{text[negation.end() :]}"
    first = re.search(r"(?:[^.!?]|(?<=\d)\.(?=\d))*[.!?]", text)
    if first is None:
        return text
    return f"{text[: first.end()]} The series repeats every {samples}.{text[first.end() :]}"


__all__ = [
    "MIN_MEASURED_PERIOD",
    "PERIOD_SUPPORT",
    "PERIOD_TOLERANCE",
    "check_periods",
    "measured_period",
    "period_support",
    "state_period",
]
