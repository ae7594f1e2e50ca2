"""Evaluation of ts-florence (docs/architecture.md, Evaluation).

The metrics are pure functions in `ts_florence.evaluation.metrics`, re-exported here (AUC-PR and VUS-PR of
per-sample anomaly scores too, which have no `evaluate` module). Each metric family is
also an `evaluate` module in `modules/<name>/<name>.py`, loaded from its folder without network access:

    import evaluate
    from ts_florence.evaluation import module_path

    span_f1 = evaluate.load(module_path("span_f1"))
    span_f1.compute(predictions=[result], references=[{"spans": [[10, 20]], "labels": ["spike"]}])

Modules: `span_f1` (span F1 and mAP), `event_f1` (event-wise and affiliation F1), `segmentation` (covering
and change-point F1), `caption` (ROUGE-L and caption attribute accuracy), `grounding_recall`,
`classification` (accuracy and macro F1). Importing this package does not import `evaluate`.

The facts of a caption (length, periods, noise, trend, events and their places, ...) checked against the truth of
its series are `ts_florence.evaluation.caption_facts` (`caption_facts`, `fact_scores`), which the runner's caption
scores use.
"""

from pathlib import Path

from .metrics import (
    CALIBRATION_BINS,
    CHANNEL_OUTCOMES,
    COCO_IOUS,
    PERIOD_TOLERANCE,
    PLACE_TOLERANCE,
    affiliation_prf,
    affiliation_prf_corpus,
    auc_pr,
    caption_attribute_accuracy,
    change_point_f1,
    change_point_hits,
    channel_agreement,
    classification_scores,
    covering,
    event_f1,
    event_f1_corpus,
    expected_calibration_error,
    grounding_recall,
    label_agreement,
    margin_in_samples,
    point_labels,
    point_scores_corpus,
    reliability_bins,
    rouge_l,
    span_hits,
    span_iou,
    span_map,
    span_prf,
    span_prf_corpus,
    spans_by_label,
    vus_pr,
    vus_window,
)

MODULES = ("caption", "classification", "event_f1", "grounding_recall", "segmentation", "span_f1")
"""Names of the `evaluate` modules, one folder each under `modules/`."""


def module_path(name: str) -> str:
    """Folder of the `evaluate` module `name`, for `evaluate.load(module_path(name))`.

    A local folder is loaded from disk: `evaluate` does not reach the Hub for it (works with
    `HF_HUB_OFFLINE=1`). Raises ValueError for a name not in `MODULES`.
    """
    if name not in MODULES:
        raise ValueError(f"unknown evaluation module {name!r}; known modules: {', '.join(MODULES)}")
    return str(Path(__file__).resolve().parent / "modules" / name)


__all__ = [
    "CALIBRATION_BINS",
    "CHANNEL_OUTCOMES",
    "COCO_IOUS",
    "MODULES",
    "PERIOD_TOLERANCE",
    "PLACE_TOLERANCE",
    "affiliation_prf",
    "affiliation_prf_corpus",
    "auc_pr",
    "caption_attribute_accuracy",
    "change_point_f1",
    "change_point_hits",
    "channel_agreement",
    "classification_scores",
    "covering",
    "event_f1",
    "event_f1_corpus",
    "expected_calibration_error",
    "grounding_recall",
    "label_agreement",
    "margin_in_samples",
    "module_path",
    "point_labels",
    "point_scores_corpus",
    "reliability_bins",
    "rouge_l",
    "span_hits",
    "span_iou",
    "span_map",
    "span_prf",
    "span_prf_corpus",
    "spans_by_label",
    "vus_pr",
    "vus_window",
]
