"""Accuracy and macro F1 of series-level class labels (ts-florence <CLASSIFICATION>, <SPAN_TO_CATEGORY>)."""

import datasets
import evaluate

from ts_florence.evaluation import modules as base
from ts_florence.evaluation.metrics import classification_scores

_DESCRIPTION = """Accuracy and macro F1 (mean F1 over every label predicted or true) of predicted class labels,
compared after stripping surrounding whitespace. See `ts_florence.evaluation.metrics.classification_scores`."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one predicted label (str) per series.
    references: one true label (str) per series.
Returns:
    accuracy, macro_f1.
"""


class Classification(base.ResultMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        return classification_scores(predictions, references)
