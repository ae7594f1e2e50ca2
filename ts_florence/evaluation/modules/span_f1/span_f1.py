"""Span F1 at an IoU threshold and COCO-style mAP over IoU thresholds (ts-florence span detection)."""

import datasets
import evaluate

from ts_florence.evaluation import modules as base
from ts_florence.evaluation.metrics import COCO_IOUS, span_map, span_prf_corpus

_DESCRIPTION = """Precision, recall and F1 of predicted spans at IoU >= `iou` (maximum one-to-one matching per
series, labels must match when both sides give them; counts summed over the corpus), and COCO-style mAP
over `ious` (101-point interpolated AP, averaged over labels and thresholds). Spans are half-open
[start, end) in samples; channels are ignored. See `ts_florence.evaluation.metrics.span_prf` and `span_map`."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one result dict per series, `{"spans", "labels", "scores"}` as `TaskSpec.parse` returns
        (extra keys such as "channels" are ignored; "labels" and "scores" may be left out).
    references: one dict per series, `{"spans", "labels"}` ("labels" may be left out).
    iou: IoU threshold of precision, recall and F1 (default 0.5).
    ious: IoU thresholds of mAP (default COCO's 0.50:0.05:0.95).
    use_labels: whether labels must match (default True); False makes detection class-agnostic.
Returns:
    precision, recall, f1, tp, fp, fn; map, map_50, map_75 (None when a prediction has no score, or for a
    threshold that `ious` does not hold).
Examples:
    >>> metric = evaluate.load(module_path("span_f1"))
    >>> metric.compute(predictions=[{"spans": [[0, 10]], "labels": ["spike"], "scores": [0.9]}],
    ...                references=[{"spans": [[0, 10]], "labels": ["spike"]}])["f1"]
    1.0
"""


class SpanF1(base.ResultMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Lin et al., Microsoft COCO: Common Objects in Context, ECCV 2014 (mAP).",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"spans": base.SPANS, "labels": base.LABELS, "scores": base.SCORES},
                    "references": {"spans": base.SPANS, "labels": base.LABELS},
                }
            ),
        )

    def _compute(self, predictions, references, iou=0.5, ious=COCO_IOUS, use_labels=True):
        if not use_labels:
            predictions = [{**p, "labels": None} for p in predictions]
            references = [{**r, "labels": None} for r in references]
        result = span_prf_corpus(
            [p["spans"] for p in predictions],
            [r["spans"] for r in references],
            iou=iou,
            pred_labels=[p["labels"] for p in predictions],
            true_labels=[r["labels"] for r in references],
        )
        scored = all(not p["spans"] or (p["scores"] is not None and None not in p["scores"]) for p in predictions)
        ap = span_map(predictions, references, ious=ious) if scored else None
        result["map"] = ap["map"] if ap else None
        for name, threshold in (("map_50", 0.5), ("map_75", 0.75)):
            at = [value for t, value in ap["ap"].items() if abs(t - threshold) < 1e-9] if ap else []
            result[name] = at[0] if at else None
        return result
