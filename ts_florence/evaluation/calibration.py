"""Measuring and fitting the calibration of item scores (the maps are applied by `ts_florence.calibration`).

An item (a span of `<ANOMALY_DETECTION>` or `<EVENT_DETECTION>`, a point of `<CHANGE_POINT_DETECTION>`) is right
when it matches the exact truth: a span matched one to one at IoU >= `CALIBRATION_IOU` by `metrics.span_hits`
(labels and channels not compared), a change point by `metrics.change_point_hits` within the margin of the
change-point scorer (`scorers.CHANGE_POINT_MARGIN`, a fraction of the series length). The calibration error is
`metrics.expected_calibration_error` (`metrics.CALIBRATION_BINS` equal-width bins).

A map is fitted per task both ways, isotonic regression (scikit-learn) and temperature scaling (one parameter, by
maximum likelihood, SciPy), on a part of the fitting items; the one with the lower ECE on the held-out rest is
then refitted on all of them (`choose_calibration`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..calibration import calibrate_scores, check_calibration
from ..tasks import get_task
from .metrics import CALIBRATION_BINS, change_point_hits, expected_calibration_error, span_hits
from .scorers import CHANGE_POINT_MARGIN

CALIBRATION_IOU = 0.5
"""The IoU at which a span is right."""
HELD_OUT_FRACTION = 0.3
"""The part of the fitting items that chooses between the two methods."""
SPLIT_SEED = 0
"""Seed of the split of the fitting items, so that reruns choose alike."""
MAX_TEMPERATURE = 100.0  # the search range of the temperature is [1 / MAX_TEMPERATURE, MAX_TEMPERATURE]


def item_outcomes(task: str, result: Mapping[str, Any], truth: Mapping[str, Any], length: int) -> list[tuple]:
    """`(raw score, right)` of each scored item of one answer of `task` (the pipeline's result of the task, with
    `calibrate=False`) against the exact `truth` of the series (`{"spans": ...}` or `{"points": ...}` in samples,
    as `TaskSpec.extract` gives), a series of `length` samples. Unscored items are left out."""
    kind = get_task(task).output_kind
    scores = list(result.get("scores") or [])
    if kind == "points":
        hits = change_point_hits(result["points"], truth["points"], length, margin=CHANGE_POINT_MARGIN)
    elif kind in ("labelled_spans", "spans"):
        filled = [0.0 if s is None else s for s in scores]
        hits = span_hits(result["spans"], filled, truth["spans"], iou=CALIBRATION_IOU)
    else:
        raise ValueError(f"{task} answers with {kind}; only spans and points are calibrated")
    if len(scores) != len(hits):
        raise ValueError(f"{task}: {len(scores)} scores for {len(hits)} items")
    return [(float(s), bool(h)) for s, h in zip(scores, hits, strict=True) if s is not None]


def _arrays(scores: Sequence[float], hits: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    s, h = np.asarray(scores, dtype=np.float64), np.asarray(hits, dtype=np.float64)
    if len(s) != len(h) or len(s) == 0:
        raise ValueError(f"fitting needs one outcome per score and at least one item, got {len(s)} and {len(h)}")
    return s, h


def fit_isotonic(scores: Sequence[float], hits: Sequence[bool]) -> dict[str, Any]:
    """The isotonic regression of `hits` on `scores` (non-decreasing, in [0, 1]) as an entry of
    `ts_florence.calibration`: its breakpoints (scikit-learn's `X_thresholds_`, `y_thresholds_`), rounded to 6
    digits."""
    from sklearn.isotonic import IsotonicRegression

    s, h = _arrays(scores, hits)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(s, h)
    x = np.round(fitted.X_thresholds_, 6)
    y = np.maximum.accumulate(np.clip(np.round(fitted.y_thresholds_, 6), 0.0, 1.0))
    keep = np.concatenate([[True], np.diff(x) > 0])  # rounding may join two breakpoints
    return {"method": "isotonic", "x": x[keep].tolist(), "y": y[keep].tolist()}


def fit_temperature(scores: Sequence[float], hits: Sequence[bool]) -> dict[str, Any]:
    """The temperature T that maximises the likelihood of `hits` under `sigmoid(logit(score) / T)` (searched on
    log T in [-log MAX_TEMPERATURE, log MAX_TEMPERATURE]), as an entry of `ts_florence.calibration`."""
    from scipy.optimize import minimize_scalar

    s, h = _arrays(scores, hits)
    p = np.clip(s, 1e-6, 1 - 1e-6)
    logits = np.log(p / (1 - p))

    def loss(log_t: float) -> float:
        z = logits / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, z) - h * z))  # binary cross-entropy of sigmoid(z)

    bound = float(np.log(MAX_TEMPERATURE))
    found = minimize_scalar(loss, bounds=(-bound, bound), method="bounded")
    return {"method": "temperature", "temperature": round(float(np.exp(found.x)), 6)}


FITTERS = {"isotonic": fit_isotonic, "temperature": fit_temperature}
"""The fitting function of each method of `ts_florence.calibration.METHODS`."""


def choose_calibration(
    task: str,
    scores: Sequence[float],
    hits: Sequence[bool],
    held_out: float = HELD_OUT_FRACTION,
    bins: int = CALIBRATION_BINS,
) -> tuple[dict[str, Any], dict[str, float]]:
    """The calibration entry of `task` fitted on these items (raw scores, whether each is right): every method of
    `FITTERS` is fitted on a random `1 - held_out` of them (seed `SPLIT_SEED`) and scored by ECE on the rest; the
    method of the lowest ECE is refitted on all items. Returns the entry and the held-out ECE of `"raw"` and of each
    method."""
    s, h = _arrays(scores, hits)
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out}")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(s))
    cut = int(round(len(s) * (1 - held_out)))
    fit, test = order[:cut], order[cut:]
    if len(fit) == 0 or len(test) == 0:
        raise ValueError(f"{task}: {len(s)} items are too few to hold {held_out:.0%} of them out")
    found = {"raw": expected_calibration_error(s[test], h[test], bins)}
    for method, fitter in FITTERS.items():
        entry = check_calibration(task, fitter(s[fit], h[fit]))
        found[method] = expected_calibration_error(calibrate_scores(s[test].tolist(), entry), h[test], bins)
    best = min(FITTERS, key=lambda method: (found[method], method))
    return check_calibration(task, FITTERS[best](s, h)), found


__all__ = [
    "CALIBRATION_IOU",
    "FITTERS",
    "HELD_OUT_FRACTION",
    "choose_calibration",
    "fit_isotonic",
    "fit_temperature",
    "item_outcomes",
]
