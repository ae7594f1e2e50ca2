"""Recall of phrase grounding at an IoU threshold (ts-florence <CAPTION_TO_PHRASE_GROUNDING>)."""

import datasets
import evaluate

from ts_florence.evaluation import modules as base
from ts_florence.evaluation.metrics import grounding_recall, spans_by_label

_DESCRIPTION = """Share of true (phrase, span) pairs found by a predicted span of the same phrase with IoU >=
`iou`, one-to-one within each phrase; counts summed over the corpus. Spans are half-open [start, end) in
samples; phrases compare lower-cased. See `ts_florence.evaluation.metrics.grounding_recall`."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one result dict per caption, `{"spans", "labels"}` with the phrase of each span as label.
    references: the same for the true groundings.
    iou: IoU threshold (default 0.5).
Returns:
    recall, tp (true spans found), true_spans.
"""


def _by_phrase(result):
    return spans_by_label({"spans": result["spans"] or [], "labels": result["labels"] or []})


class GroundingRecall(base.ResultMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Plummer et al., Flickr30k Entities, ICCV 2015 (recall@IoU 0.5 for phrase grounding).",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"spans": base.SPANS, "labels": base.LABELS},
                    "references": {"spans": base.SPANS, "labels": base.LABELS},
                }
            ),
        )

    def _compute(self, predictions, references, iou=0.5):
        tp = total = 0
        for pred, ref in zip(predictions, references, strict=True):
            found = grounding_recall(_by_phrase(pred), _by_phrase(ref), iou)
            tp, total = tp + found["tp"], total + found["true_spans"]
        return {"recall": tp / total if total else 1.0, "tp": tp, "true_spans": total}
