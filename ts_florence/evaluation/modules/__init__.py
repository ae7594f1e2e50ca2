"""The base of the `evaluate` modules in the folders below (`evaluate.load(module_path(name))`).

`evaluate` checks inputs against the module's features strictly: a dict must have exactly the feature's keys.
`ResultMetric` conforms inputs first, so result dicts of `ts_florence.tasks` go in as they are.

Scripts import this module as `base` rather than its names: `evaluate` takes the first `Metric` subclass in a
script's namespace as the module's class, which must be the script's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import datasets
import evaluate
import numpy as np

SPANS = datasets.List(datasets.List(datasets.Value("int64")))
"""Feature of a list of `[start, end)` spans in samples."""
LABELS = datasets.List(datasets.Value("string"))
SCORES = datasets.List(datasets.Value("float64"))
POINTS = datasets.List(datasets.Value("int64"))


def _to_builtin(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def conform(value: Any, feature: Any) -> Any:
    """`value` shaped like `feature`: a dict keeps the feature's keys only (absent ones become None), a
    sequence given for a dict feature is zipped with its keys, tuples and NumPy values become lists and
    Python numbers, and a dict or list given for a string feature is stored as JSON."""
    value = _to_builtin(value)
    if isinstance(feature, dict):
        if value is None:
            value = {}
        elif not isinstance(value, Mapping):
            value = dict(zip(feature, value, strict=False))
        return {key: conform(value.get(key), sub) for key, sub in feature.items()}
    if isinstance(feature, datasets.List | datasets.LargeList):
        return None if value is None else [conform(item, feature.feature) for item in value]
    if isinstance(feature, datasets.Value) and feature.dtype == "string" and isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=_to_builtin)
    return value


class ResultMetric(evaluate.Metric):
    """An `evaluate.Metric` whose inputs are conformed to its features (`conform`) before `evaluate` sees them:
    result dicts may carry extra keys (`"channels"`, `"scores"`, ...) or miss optional ones."""

    def _conform(self, name: str, value: Any) -> Any:
        """One example of input `name` (`"predictions"`, `"references"`, ...) shaped like its feature; inputs
        the module does not have pass unchanged, for `evaluate` to report."""
        return conform(value, self.features[name]) if name in self.features else value

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and references (lists, one item per series), conformed to the features."""
        columns = {"predictions": predictions, "references": references, **kwargs}
        columns = {
            name: None if column is None else [self._conform(name, value) for value in column]
            for name, column in columns.items()
        }
        return super().add_batch(**columns)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one prediction and its reference, conformed to the features."""
        example = {"predictions": prediction, "references": reference, **kwargs}
        example = {name: self._conform(name, value) for name, value in example.items()}
        predictions, references = example.pop("predictions"), example.pop("references")
        return super().add(prediction=predictions, reference=references, **example)


def mean_or_none(values: list[float]) -> float | None:
    """Mean of `values`, None when there are none."""
    return float(np.mean(values)) if values else None
