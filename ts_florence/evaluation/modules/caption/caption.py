"""ROUGE-L and caption attribute accuracy (trend, period, counts, places) of ts-florence captions."""

import json

import datasets
import evaluate

from ts_florence.evaluation import modules as base
from ts_florence.evaluation.metrics import caption_attribute_accuracy, rouge_l

_DESCRIPTION = """ROUGE-L F-measure of each caption against a reference caption, and the accuracy of the
attributes the caption states (trend, period, event count, places of events) against the series' truth,
read with regular expressions. See `ts_florence.evaluation.metrics.rouge_l` and
`caption_attribute_accuracy`."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one generated caption (str) per series.
    references: one per series: a reference caption (str), or a dict `{"text", "truth"}` with either or
        both; `truth` is the dict `caption_attribute_accuracy` takes (trend, periods, event_count, events,
        length, sampling).
Returns:
    rouge_l: mean over series with a reference text.
    attribute_accuracy: right / scored attributes, over every caption with a truth.
    trend_accuracy, period_accuracy, event_count_accuracy, places_accuracy: the same per attribute.
    contradictions: mean number of contradicted numbers per caption with a truth.
    (None where nothing was scored.)
"""

_ATTRIBUTES = ("trend", "period", "event_count", "places")


class Caption(base.ResultMetric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Lin, ROUGE: A Package for Automatic Evaluation of Summaries, 2004.",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    # truth is stored as JSON: its fields differ in type from series to series
                    "references": {"text": datasets.Value("string"), "truth": datasets.Value("string")},
                }
            ),
        )

    def _conform(self, name, value):
        if name == "references" and isinstance(value, str):
            value = {"text": value}
        return super()._conform(name, value)

    def _compute(self, predictions, references):
        rouges = [rouge_l(p, r["text"]) for p, r in zip(predictions, references, strict=True) if r["text"] is not None]
        scored = [
            caption_attribute_accuracy(p, json.loads(r["truth"]))
            for p, r in zip(predictions, references, strict=True)
            if r["truth"] is not None
        ]
        verdicts = {name: [s[name] for s in scored if s[name] is not None] for name in _ATTRIBUTES}
        every = [v for values in verdicts.values() for v in values]
        return {
            "rouge_l": base.mean_or_none(rouges),
            "attribute_accuracy": base.mean_or_none(every),
            **{f"{name}_accuracy": base.mean_or_none(values) for name, values in verdicts.items()},
            "contradictions": base.mean_or_none([len(s["contradictions"]) for s in scored]),
        }
