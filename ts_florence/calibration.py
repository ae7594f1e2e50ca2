"""Calibrated item scores: per task, a monotone map from the model's score of an item (a span or a point: the
geometric mean of its tokens' probabilities) to the probability that the item is right, kept in the model folder's
`generation_config.json` under `"calibration"` (task token -> entry) and applied by the pipeline to the `scores` it
returns (`calibrate=False` gives the raw ones).

An entry is one of:

- `{"method": "isotonic", "x": [...], "y": [...]}`: the breakpoints of an isotonic regression, `x` (raw scores)
  strictly increasing and `y` (calibrated scores) non-decreasing, both in [0, 1] and of one length (at least 1).
  A score between two breakpoints is interpolated linearly; below `x[0]` it maps to `y[0]`, above `x[-1]` to
  `y[-1]` (what scikit-learn's `IsotonicRegression(out_of_bounds="clip").predict` does).
- `{"method": "temperature", "temperature": T}`: `sigmoid(logit(p) / T)` with `T > 0` (T > 1 softens
  overconfident scores).

What "right" means and how a map is fitted and chosen: `ts_florence.evaluation.calibration` and
`scripts/calibrate.py`. This module is NumPy only, so the pipeline applies a map without scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .tasks import TASKS

CALIBRATION_KEY = "calibration"
"""The key of the calibration in `generation_config.json` (task token -> entry)."""
METHODS = ("isotonic", "temperature")
"""The forms of an entry."""
SCORE_DIGITS = 4
"""Calibrated scores are rounded as the parser rounds the raw ones (`ts_florence.tasks`)."""
_EPSILON = 1e-6  # scores are clipped to [eps, 1 - eps] before the logit of temperature scaling


def _where(task: str) -> str:
    return f"generation_config.{CALIBRATION_KEY}[{task!r}]"


def _probabilities(values: Any, name: str, task: str) -> np.ndarray:
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise ValueError(f"{_where(task)}: {name} must be a non-empty list of numbers in [0, 1], got {values!r}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{_where(task)}: {name} must hold numbers only, got {values!r}") from None
    if array.ndim != 1 or not np.all(np.isfinite(array)) or np.any((array < 0) | (array > 1)):
        raise ValueError(f"{_where(task)}: {name} must be numbers in [0, 1], got {values!r}")
    return array


def check_calibration(task: str, entry: Any) -> dict[str, Any]:
    """`entry` when it is a valid calibration of `task` (module docstring), else ValueError naming the task and
    what is wrong with it."""
    if task not in TASKS:
        raise ValueError(f"{_where(task)}: unknown task; known tasks: {', '.join(TASKS)}")
    if TASKS[task].output_kind == "text":
        raise ValueError(f"{_where(task)}: {task} answers with text; only scores of spans and points are calibrated")
    if not isinstance(entry, Mapping) or entry.get("method") not in METHODS:
        method = entry.get("method") if isinstance(entry, Mapping) else entry
        raise ValueError(f"{_where(task)}: method must be one of {', '.join(METHODS)}, got {method!r}")
    expected = {"method", "x", "y"} if entry["method"] == "isotonic" else {"method", "temperature"}
    if set(entry) != expected:
        keys = f"exactly the keys {sorted(expected)}, got {sorted(entry)}"
        raise ValueError(f"{_where(task)}: an entry of method {entry['method']} has {keys}")
    if entry["method"] == "temperature":
        t = entry["temperature"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t) or t <= 0:
            raise ValueError(f"{_where(task)}: temperature must be a number > 0, got {t!r}")
        return dict(entry)
    x, y = _probabilities(entry["x"], "x", task), _probabilities(entry["y"], "y", task)
    if len(x) != len(y):
        raise ValueError(f"{_where(task)}: x and y must have one length, got {len(x)} and {len(y)}")
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"{_where(task)}: x must be strictly increasing")
    if np.any(np.diff(y) < 0):
        raise ValueError(f"{_where(task)}: y must be non-decreasing (a calibration keeps the order of scores)")
    return dict(entry)


def calibrations(generation_config: Any) -> dict[str, dict[str, Any]]:
    """The checked calibration of every task in `generation_config` (an object with the attribute, or its JSON
    dict), {} when it has none; ValueError naming the entry when one is damaged."""
    found = (
        generation_config.get(CALIBRATION_KEY)
        if isinstance(generation_config, Mapping)
        else getattr(generation_config, CALIBRATION_KEY, None)
    )
    if found is None:
        return {}
    if not isinstance(found, Mapping):
        raise ValueError(f"generation_config.{CALIBRATION_KEY} must map task tokens to entries, got {found!r}")
    return {task: check_calibration(task, entry) for task, entry in found.items()}


def calibrate_scores(scores: Sequence[float | None], entry: Mapping[str, Any]) -> list[float | None]:
    """`scores` (probabilities in [0, 1]) through the map `entry` (module docstring), rounded to `SCORE_DIGITS`;
    None (an unscored item) stays None."""
    known = [i for i, s in enumerate(scores) if s is not None]
    out: list[float | None] = list(scores)
    if not known:
        return out
    raw = np.asarray([scores[i] for i in known], dtype=np.float64)
    if entry["method"] == "isotonic":
        mapped = np.interp(raw, entry["x"], entry["y"])
    else:
        p = np.clip(raw, _EPSILON, 1 - _EPSILON)
        mapped = 1 / (1 + np.exp(-np.log(p / (1 - p)) / entry["temperature"]))
    for i, value in zip(known, mapped.tolist(), strict=True):
        out[i] = round(float(value), SCORE_DIGITS)
    return out


def calibrate_result(result: dict[str, Any], task: str, generation_config: Any) -> dict[str, Any]:
    """`result` (one task's answer, `{"spans" or "points", "scores", ...}`) with its `scores` calibrated by the
    model's map for `task` (`generation_config.calibration`); unchanged when the model has none for it."""
    entry = calibrations(generation_config).get(task)
    if entry is None or not result.get("scores"):
        return result
    return {**result, "scores": calibrate_scores(result["scores"], entry)}


__all__ = [
    "CALIBRATION_KEY",
    "METHODS",
    "SCORE_DIGITS",
    "calibrate_result",
    "calibrate_scores",
    "calibrations",
    "check_calibration",
]
