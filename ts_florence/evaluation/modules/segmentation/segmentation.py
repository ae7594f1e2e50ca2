"""Covering and change-point F1 with a margin, as TSSB computes them (ts-florence segmentation)."""

import datasets
import evaluate

from ts_florence.evaluation import modules as base
from ts_florence.evaluation.metrics import change_point_f1, covering

_DESCRIPTION = """Segmentation covering and change-point precision, recall and F1 with a margin, averaged over
series, following TSSB (Ermshaus et al.): the start of the series counts as a change point found by every
method. A series is given by its change points ("points") or its segments ("spans", half-open [start, end)
in samples). See `ts_florence.evaluation.metrics.covering` and `change_point_f1`."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one result dict per series with "points" (change points) or "spans" (segments); "points"
        is used when present.
    references: one dict per series with "points" or "spans", and "length" (samples).
    margin: change-point margin, an int in samples or a float in [0, 1) as a fraction of the length
        (default 0.01, TSSB's 1%).
Returns:
    covering, cp_precision, cp_recall, cp_f1 (means over series; None for an empty corpus).
"""

_CITATION = """Ermshaus, Schäfer and Leser, ClaSP: parameter-free time series segmentation, DMKD 2023 (TSSB);
van den Burg and Williams, An Evaluation of Change Point Detection Algorithms, 2020 (TCPDBench)."""


def _cuts(item):
    return item["points"] if item["points"] is not None else item["spans"] or []


class Segmentation(base.ResultMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"points": base.POINTS, "spans": base.SPANS},
                    "references": {"points": base.POINTS, "spans": base.SPANS, "length": datasets.Value("int64")},
                }
            ),
        )

    def _compute(self, predictions, references, margin=0.01):
        covers, precisions, recalls, f1s = [], [], [], []
        for pred, ref in zip(predictions, references, strict=True):
            covers.append(covering(_cuts(pred), _cuts(ref), ref["length"]))
            scores = change_point_f1(_cuts(pred), _cuts(ref), ref["length"], margin=margin)
            precisions.append(scores["precision"])
            recalls.append(scores["recall"])
            f1s.append(scores["f1"])
        return {
            "covering": base.mean_or_none(covers),
            "cp_precision": base.mean_or_none(precisions),
            "cp_recall": base.mean_or_none(recalls),
            "cp_f1": base.mean_or_none(f1s),
        }
