"""Event-wise F1 and affiliation F1 (Huet et al., KDD 2022) of detected anomalies (ts-florence)."""

import datasets
import evaluate

from ts_florence.evaluation import modules as base
from ts_florence.evaluation.metrics import affiliation_prf_corpus, event_f1_corpus

_DESCRIPTION = """Event-wise precision, recall and F1 (a true event is detected when a prediction shares a
sample with it; counts summed over the corpus) and affiliation precision, recall and F1 (precision averaged
over the series with predictions, recall over the series with true events). Spans are half-open [start, end)
in samples; labels and channels are ignored. See `ts_florence.evaluation.metrics.event_f1` and
`affiliation_prf`."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one result dict per series with "spans" (other keys are ignored).
    references: one dict per series, `{"spans", "length"}`, `length` the series length in samples.
Returns:
    event_precision, event_recall, event_f1, affiliation_precision, affiliation_recall, affiliation_f1.
"""

_CITATION = """Huet, Navarro and Rossi, Local Evaluation of Time Series Anomaly Detection Algorithms, KDD 2022."""


class EventF1(base.ResultMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"spans": base.SPANS},
                    "references": {"spans": base.SPANS, "length": datasets.Value("int64")},
                }
            ),
        )

    def _compute(self, predictions, references):
        preds = [p["spans"] or [] for p in predictions]
        trues = [r["spans"] or [] for r in references]
        events = event_f1_corpus(preds, trues)
        affiliation = affiliation_prf_corpus(preds, trues, [r["length"] for r in references])
        return {
            **{f"event_{key}": events[key] for key in ("precision", "recall", "f1")},
            **{f"affiliation_{key}": value for key, value in affiliation.items()},
        }
