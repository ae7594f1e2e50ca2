"""Metrics against cases computed by hand (the computation is in the comments), and the `evaluate` modules
against the functions they wrap. Spans are half-open [start, end) in samples."""

import socket

import numpy as np
import pytest

from ts_florence.evaluation import (
    MODULES,
    affiliation_prf,
    affiliation_prf_corpus,
    auc_pr,
    caption_attribute_accuracy,
    change_point_f1,
    channel_agreement,
    classification_scores,
    covering,
    event_f1,
    event_f1_corpus,
    grounding_recall,
    label_agreement,
    module_path,
    point_labels,
    point_scores_corpus,
    rouge_l,
    span_iou,
    span_map,
    span_prf,
    span_prf_corpus,
    spans_by_label,
    vus_pr,
    vus_window,
)

approx = pytest.approx


def prf(result):
    return result["precision"], result["recall"], result["f1"]


# ---------------------------------------------------------------------------------------------------------
# Span F1


def test_span_prf_identical_spans_score_one():
    spans = [[0, 10], [20, 25], [40, 41]]
    assert span_prf(spans, spans, pred_labels=["a", "b", "c"], true_labels=["a", "b", "c"]) == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 3, "fp": 0, "fn": 0,
    }  # fmt: skip


def test_span_prf_empty_cases_are_vacuously_one():
    assert prf(span_prf([], [])) == (1.0, 1.0, 1.0)  # nothing to find, nothing wrongly found
    assert prf(span_prf([[0, 5]], [])) == (0.0, 1.0, 0.0)  # 0 of 1 prediction right; nothing missed
    assert prf(span_prf([], [[0, 5]])) == (1.0, 0.0, 0.0)  # nothing wrongly found; 1 of 1 missed


def test_touching_spans_do_not_overlap():
    # [0, 5) and [5, 10) share no sample: intersection 0, IoU 0
    assert span_iou([[0, 5]], [[5, 10]]).tolist() == [[0.0]]
    assert span_prf([[0, 5]], [[5, 10]], iou=0.01)["tp"] == 0
    assert event_f1([[0, 5]], [[5, 10]])["detected"] == 0


def test_span_iou_is_one_function_for_two_spans_and_for_every_pair_of_two_lists():
    from ts_florence import windowing

    assert span_iou is windowing.span_iou  # the metrics, NMS and the engine's merge share it
    assert span_iou((0, 10), (5, 15)) == pytest.approx(1 / 3)
    assert isinstance(span_iou((0, 10), (5, 15)), float)
    assert span_iou([[0, 10], [20, 30]], [[5, 15]]).ravel().tolist() == pytest.approx([1 / 3, 0.0])
    assert span_iou([], [[0, 5]]).shape == (0, 1)
    assert span_iou((3, 3), (3, 3)) == 0.0  # an empty union


def test_one_prediction_covering_two_true_spans_matches_one():
    # [0, 10) has IoU 5/10 = 0.5 with both [0, 5) and [5, 10); one to one: tp 1, fp 0, fn 1
    # P = 1/1, R = 1/2, F1 = 2 * 1 * 0.5 / 1.5 = 2/3
    result = span_prf([[0, 10]], [[0, 5], [5, 10]], iou=0.5)
    assert (result["tp"], result["fp"], result["fn"]) == (1, 0, 1)
    assert prf(result) == approx((1.0, 0.5, 2 / 3))


def test_span_prf_labels_must_match_when_both_given():
    assert span_prf([[0, 10]], [[0, 10]], pred_labels=["spike"], true_labels=["dip"])["tp"] == 0
    assert span_prf([[0, 10]], [[0, 10]], pred_labels=["spike"])["tp"] == 1  # one side only: labels ignored


def test_span_prf_matching_is_maximum_not_greedy():
    # p1 = [0, 10), p2 = [0, 8); t1 = [0, 9), t2 = [2, 10); IoU threshold 0.8:
    # p1-t1 9/10 = 0.9, p1-t2 8/10 = 0.8, p2-t1 8/9 = 0.89, p2-t2 6/10 = 0.6 (not allowed).
    # Taking the best pair first (p1-t1) leaves p2 unmatched; the maximum matching is p1-t2, p2-t1: tp 2.
    assert span_prf([[0, 10], [0, 8]], [[0, 9], [2, 10]], iou=0.8)["tp"] == 2


def test_span_prf_corpus_sums_counts_over_series():
    # series 1: tp 1; series 2: two predictions, no truth: fp 2 -> tp 1, fp 2, fn 0
    # P = 1/3, R = 1/1, F1 = 2 * (1/3) / (4/3) = 0.5
    result = span_prf_corpus([[[0, 10]], [[0, 5], [20, 30]]], [[[0, 10]], []])
    assert (result["tp"], result["fp"], result["fn"]) == (1, 2, 0)
    assert prf(result) == approx((1 / 3, 1.0, 0.5))


def test_series_of_length_one():
    assert prf(span_prf([[0, 1]], [[0, 1]])) == (1.0, 1.0, 1.0)
    assert prf(affiliation_prf([[0, 1]], [[0, 1]], length=1)) == (1.0, 1.0, 1.0)
    assert covering([], [], length=1) == 1.0
    assert change_point_f1([], [], length=1)["f1"] == 1.0  # margin int(0.01 * 1) = 0; {0} vs {0}


def test_reversed_span_is_refused():
    with pytest.raises(ValueError, match="end <= start"):
        span_prf([[5, 5]], [[0, 10]])


def test_span_prf_of_several_maximum_matchings_keeps_one_of_the_largest_total_iou():
    # p1 = [0, 10) and p2 = [0, 9) against t1 = [0, 9) and t2 = [0, 10), IoU 0.5: every pair is allowed.
    # p1-t1 0.9 + p2-t2 0.9 = 1.8 against p1-t2 1 + p2-t1 1 = 2: the second pairing, tp 2 either way.
    from ts_florence.evaluation.metrics import _matched_pairs

    pred, true = np.array([[0, 10], [0, 9]]), np.array([[0, 9], [0, 10]])
    assert sorted(_matched_pairs(pred, true, 0.5, None, None)) == [(0, 1), (1, 0)]
    assert span_prf(pred.tolist(), true.tolist())["tp"] == 2


# ---------------------------------------------------------------------------------------------------------
# Channel attribution


def test_channel_agreement_counts_each_outcome_of_the_matched_spans():
    # Series 1: [0, 10) on channel 1 matches [0, 10) on 1 (right); [20, 30) None matches [20, 30) on 0 (none);
    # [50, 60) on 2 matches nothing (not counted). Series 2: [0, 10) on 0 matches [1, 10) on 1 (IoU 0.9, wrong);
    # [40, 50) on 1 matches [40, 50) of every channel (named); [70, 80) None matches [70, 80) None (right).
    # 5 matched pairs, 2 right: accuracy 2/5.
    preds = [
        {"spans": [[0, 10], [20, 30], [50, 60]], "channels": [1, None, 2]},
        {"spans": [[0, 10], [40, 50], [70, 80]], "channels": [0, 1, None]},
    ]
    trues = [
        {"spans": [[0, 10], [20, 30]], "channels": [1, 0]},
        {"spans": [[1, 10], [40, 50], [70, 80]], "channels": [1, None, None]},
    ]
    assert channel_agreement(preds, trues) == {
        "accuracy": 0.4, "matched": 5, "right": 2, "none": 1, "wrong": 1, "named": 1,
    }  # fmt: skip


def test_channel_agreement_matches_on_bounds_at_the_iou_given_with_labels_ignored():
    # [0, 10) against [0, 30): IoU 1/3, matched at 0.1 only; the labels differ and do not matter.
    preds = [{"spans": [[0, 10]], "channels": [2], "labels": ["spike"]}]
    trues = [{"spans": [[0, 30]], "channels": [2], "labels": ["level shift"]}]
    assert channel_agreement(preds, trues)["matched"] == 0
    assert channel_agreement(preds, trues, iou=0.1) == {
        "accuracy": 1.0, "matched": 1, "right": 1, "none": 0, "wrong": 0, "named": 0,
    }  # fmt: skip


def test_channel_agreement_without_channels_reads_every_span_as_none_and_is_vacuous_without_a_match():
    # A result without "channels" (a detector that names none) is None on each span: against channel 0, "none".
    found = channel_agreement([{"spans": [[0, 10]]}], [{"spans": [[0, 10]], "channels": [0]}])
    assert (found["accuracy"], found["none"]) == (0.0, 1)
    assert channel_agreement([{"spans": []}], [{"spans": [[0, 5]], "channels": [1]}])["accuracy"] == 1.0
    with pytest.raises(ValueError, match="channels"):
        channel_agreement([{"spans": [[0, 10]], "channels": [0, 1]}], [{"spans": [], "channels": []}])


def test_label_agreement_is_the_share_of_right_labels_among_the_spans_placed_right():
    # Series 1: [0, 10) spike matches [0, 10) spike (right); [20, 30) dip matches [21, 30) level shift (IoU 0.9,
    # wrong); [50, 60) matches nothing. Series 2: [0, 10) against [0, 40) has IoU 0.25, no match at 0.5.
    preds = [
        {"spans": [[0, 10], [20, 30], [50, 60]], "labels": ["spike", "dip", "spike"]},
        {"spans": [[0, 10]], "labels": ["flat line"]},
    ]
    trues = [
        {"spans": [[0, 10], [21, 30]], "labels": ["spike", "level shift"]},
        {"spans": [[0, 40]], "labels": ["flat line"]},
    ]
    assert label_agreement(preds, trues) == {"accuracy": 0.5, "matched": 2}
    assert label_agreement(preds, trues, iou=0.2) == {"accuracy": 2 / 3, "matched": 3}
    assert label_agreement([{"spans": [], "labels": []}], [trues[1]]) == {"accuracy": 1.0, "matched": 0}
    with pytest.raises(ValueError, match="labels"):
        label_agreement([{"spans": [[0, 10]], "labels": ["a", "b"]}], [trues[1]])


def test_the_scorers_give_the_channel_scores_of_multivariate_examples_only():
    from ts_florence.evaluation.examples import Example
    from ts_florence.evaluation.scorers import SCORERS

    def example(channels: int, spans: list, truth_channels: list) -> Example:
        truth = {"spans": spans, "labels": ["spike"] * len(spans), "channels": truth_channels}
        return Example("<ANOMALY_DETECTION>", None, "", truth, np.zeros((100, channels)))

    def answer(spans: list, channels: list) -> dict:
        return {"spans": spans, "labels": ["dip"] * len(spans), "channels": channels, "scores": [0.5] * len(spans)}

    # Univariate: left out. Two channels: [0, 10) on 1 right; [20, 30) on 0 for channel 1 wrong; [40, 46) None
    # against [40, 60) of channel 0 (IoU 0.3) is matched at 0.1 only, and is "none".
    examples = [example(1, [[0, 10]], [None]), example(2, [[0, 10], [20, 30], [40, 60]], [1, 1, 0])]
    preds = [answer([[0, 10]], [0]), answer([[0, 10], [20, 30], [40, 46]], [1, 0, None])]
    for scorer in ("anomalies", "typed_spans"):
        scores = SCORERS[scorer](examples, preds)
        assert scores["channel_accuracy"] == 0.5 and scores["channel_accuracy@0.1"] == approx(1 / 3), scorer
    nothing = SCORERS["anomalies"](examples[:1], preds[:1])
    assert nothing["channel_accuracy"] is None and nothing["channel_accuracy@0.1"] is None


# ---------------------------------------------------------------------------------------------------------
# mAP


def test_span_map_one_hit_one_false_alarm():
    # Scores 0.9 (hit [0, 10)) then 0.8 (false alarm); 2 true spans, the hit has IoU 1 at every threshold.
    # Recall/precision after each: (0.5, 1), (0.5, 0.5); envelope: precision 1 up to recall 0.5, then none.
    # 101-point AP: recall levels 0, 0.01, ..., 0.50 (51 of them) have precision 1 -> 51/101 per threshold.
    result = span_map([{"spans": [[0, 10], [20, 30]], "scores": [0.9, 0.8]}], [{"spans": [[0, 10], [40, 50]]}])
    assert result["map"] == approx(51 / 101)
    assert list(result["ap"]) == approx([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])


def test_span_map_averages_over_iou_thresholds():
    # [0, 10) against [0, 8): IoU 8/10 = 0.8, a hit for thresholds 0.50 ... 0.80 (7 of 10) with AP 1, else 0
    assert span_map([{"spans": [[0, 10]], "scores": [0.5]}], [{"spans": [[0, 8]]}])["map"] == approx(0.7)


def test_span_map_averages_over_labels():
    # spike: one hit, AP 1; dip: the prediction misses, AP 0 -> mAP 0.5
    preds = [{"spans": [[0, 10], [20, 30]], "labels": ["spike", "dip"], "scores": [0.9, 0.8]}]
    trues = [{"spans": [[0, 10], [40, 50]], "labels": ["spike", "dip"]}]
    assert span_map(preds, trues)["map"] == approx(0.5)
    assert span_map(preds, [{"spans": trues[0]["spans"]}])["map"] == approx(51 / 101)  # class-agnostic


def test_span_map_empty_cases_and_missing_scores():
    assert span_map([{"spans": [], "scores": []}], [{"spans": []}])["map"] == 1.0
    assert span_map([{"spans": [[0, 1]], "scores": [0.3]}], [{"spans": []}])["map"] == 0.0
    with pytest.raises(ValueError, match="score"):
        span_map([{"spans": [[0, 1]], "scores": [None]}], [{"spans": [[0, 1]]}])


# ---------------------------------------------------------------------------------------------------------
# Event-wise and affiliation F1


def test_event_f1_counts_events_and_predictions():
    # [0, 10) overlaps [5, 6) and [8, 9); [50, 60) overlaps nothing -> precision 1/2
    # detected: [5, 6) and [8, 9), not [30, 40) -> recall 2/3; F1 = 2 * (1/2) * (2/3) / (7/6) = 4/7
    result = event_f1([[0, 10], [50, 60]], [[5, 6], [8, 9], [30, 40]])
    assert prf(result) == approx((0.5, 2 / 3, 4 / 7))
    assert prf(event_f1([], [])) == (1.0, 1.0, 1.0)


def test_event_f1_corpus_sums_counts():
    # series 1: 1 of 2 predictions hits, 2 of 3 events detected; series 2: 1 of 1, 1 of 1 -> P 2/3, R 3/4
    result = event_f1_corpus([[[0, 10], [50, 60]], [[3, 4]]], [[[5, 6], [8, 9], [30, 40]], [[0, 5]]])
    assert prf(result)[:2] == approx((2 / 3, 3 / 4))


def test_affiliation_matches_the_reference_readme_example():
    # affiliation-metrics-py README: pred [(4, 5), (8, 9)], truth [(3, 4), (7, 10)], Trange (0, 10).
    # Zones split at (4 + 7) / 2 = 5.5: [0, 5.5] (|I| = 5.5) and [5.5, 10] (|I| = 4.5).
    # Zone 1, precision: y in [4, 5] at distance d = y - 4 from [3, 4]; points of the zone farther than d:
    #   (3 - d) on the left + (1.5 - d) on the right -> mean over d in [0, 1] of (4.5 - 2d) / 5.5 = 3.5 / 5.5 = 7/11.
    # Zone 1, recall: x in [3, 4], nearest prediction at 4 - x; farther points: (2x - 4) left + 1.5 right
    #   -> mean (2 * 3.5 - 4 + 1.5) / 5.5 = 9/11.
    # Zone 2: prediction inside the event: precision 1. Recall over x in [7, 10]: [7, 8] gives
    #   mean (2x - 13.5 + 2) / 4.5 = 3.5/4.5; [8, 9] gives 1; [9, 10] gives (3.5 + 0.25) / 4.5 -> 47/54.
    # P = (7/11 + 1) / 2 = 9/11 = 0.8181818181818181, R = (9/11 + 47/54) / 2 = 0.8442760942760943 (as the README)
    result = affiliation_prf([[4, 5], [8, 9]], [[3, 4], [7, 10]], length=10)
    assert result["precision"] == approx(9 / 11)
    assert result["recall"] == approx(0.8442760942760943)


def test_affiliation_far_prediction_by_hand():
    # Truth [4, 6) in [0, 10]: one zone, 4 on each side. Prediction [0, 1), at distance d = 4 - y in [3, 4].
    # Precision: farther points 2 * (4 - d) -> mean over d in [3, 4] = 2 * 0.5 / 10 = 0.1.
    # Recall: x in [4, 6], nearest prediction at x - 1: farther points 1 on the left + max(11 - 2x, 0) on the
    #   right; integral over [4, 6] = 2 + 2.25 -> mean 2.125 / 10 = 0.2125.
    result = affiliation_prf([[0, 1]], [[4, 6]], length=10)
    assert prf(result) == approx((0.1, 0.2125, 2 * 0.1 * 0.2125 / 0.3125))


def test_affiliation_empty_cases():
    assert prf(affiliation_prf([], [[3, 4]], length=10)) == (1.0, 0.0, 0.0)
    assert prf(affiliation_prf([[3, 4]], [], length=10)) == (0.0, 1.0, 0.0)
    assert prf(affiliation_prf([], [], length=10)) == (1.0, 1.0, 1.0)
    # Corpus: precision over series with predictions (only the first: 1), recall over series with truth (1, 0)
    assert prf(affiliation_prf_corpus([[[3, 4]], []], [[[3, 4]], [[5, 6]]], [10, 10])) == approx((1.0, 0.5, 2 / 3))


# ---------------------------------------------------------------------------------------------------------
# Per-sample scores: AUC-PR and VUS-PR (TSB-AD's)


def _labels_400() -> np.ndarray:
    return point_labels([[100, 110], [300, 304]], 400)  # 14 true samples of 400


def test_point_labels_mark_the_samples_of_half_open_spans():
    labels = point_labels([[2, 4], [3, 6]], 8)
    assert labels.tolist() == [0, 0, 1, 1, 1, 1, 0, 0]


def test_a_perfect_point_score_scores_one_on_auc_pr_and_vus_pr():
    labels = _labels_400()
    assert auc_pr(labels, labels.astype(float)) == approx(1.0)
    assert vus_pr(labels, labels.astype(float), window=20) == approx(1.0)
    ranked = labels + 0.1 * np.random.default_rng(0).random(400)  # any score that ranks every true sample first
    assert auc_pr(labels, ranked) == approx(1.0) and vus_pr(labels, ranked, window=20) > 0.99


def test_a_constant_point_score_has_the_share_of_true_samples_as_auc_pr():
    labels = _labels_400()
    assert auc_pr(labels, np.ones(400)) == approx(14 / 400)
    assert auc_pr(labels, np.zeros(400)) == approx(14 / 400)


def test_vus_pr_credits_a_score_just_beside_the_anomaly_and_auc_pr_does_not():
    labels = point_labels([[200, 210]], 400)
    beside = np.zeros(400)
    beside[211:216] = 1.0  # right after the anomaly, inside its buffer
    assert auc_pr(labels, beside) == approx(10 / 400)  # no true sample above the rest: the constant's value
    assert vus_pr(labels, beside, window=0) == approx(vus_pr(labels, np.zeros(400), window=0))
    assert vus_pr(labels, beside, window=20) > vus_pr(labels, np.zeros(400), window=20) + 0.1


def test_point_score_metrics_refuse_scores_that_do_not_fit():
    labels = _labels_400()
    with pytest.raises(ValueError, match="one per sample"):
        auc_pr(labels, np.ones(399))
    with pytest.raises(ValueError, match="finite"):
        vus_pr(labels, np.r_[np.ones(399), np.nan], window=10)
    with pytest.raises(ValueError, match="true and normal samples"):
        auc_pr(np.zeros(50, dtype=int), np.ones(50))
    with pytest.raises(ValueError, match="true and normal samples"):
        vus_pr(np.ones(50, dtype=int), np.ones(50), window=5)


def test_vus_window_is_the_period_of_the_series_else_125():
    t = np.arange(2000)
    assert vus_window(np.sin(2 * np.pi * t / 40)) == 40
    assert vus_window(np.ones(500)) == 125  # no autocorrelation peak
    with_gap = np.sin(2 * np.pi * t / 40)
    with_gap[500:510] = np.nan  # interpolated, not fatal
    assert vus_window(with_gap) == 40
    with pytest.raises(ValueError, match="one channel"):
        vus_window(np.ones((2, 100)))


def test_point_scores_corpus_averages_the_series_with_true_and_normal_samples():
    labels = _labels_400()
    scores = [labels.astype(float), np.ones(400), np.ones(50)]
    found = point_scores_corpus(scores, [[[100, 110], [300, 304]]] * 2 + [[]], [400, 400, 50], [20, 20, 20])
    assert found["series"] == 2  # the series without an anomaly is left out
    assert found["auc_pr"] == approx((1 + 14 / 400) / 2)
    assert 14 / 400 < found["vus_pr"] < 1
    assert point_scores_corpus([np.ones(50)], [[]], [50], [5]) == {"auc_pr": None, "vus_pr": None, "series": 0}
    with pytest.raises(ValueError, match="one per sample"):
        point_scores_corpus([np.ones(49)], [[[1, 2]]], [50], [5])


# ---------------------------------------------------------------------------------------------------------
# Covering and change-point F1 (TSSB)


def test_covering_by_hand():
    # length 6, true change point 3: {0,1,2} {3,4,5}; predicted 3 and 5: {0,1,2} {3,4} {5}
    # (3 * 1 + 3 * max(2/3, 1/3)) / 6 = 5/6 (TSSB's `_cover_single` doctest, shifted to start at 0)
    assert covering([3, 5], [3], length=6) == approx(5 / 6)
    assert covering([[0, 3], [3, 5], [5, 6]], [3], length=6) == approx(5 / 6)  # the same, as segments
    # a gap between segments is a segment: [0, 2) [2, 4) [4, 6) against [0, 3) [3, 6): (3 * 2/3 + 3 * 2/3) / 6
    assert covering([[0, 2], [4, 6]], [3], length=6) == approx(2 / 3)


def test_covering_reproduces_tcpdbench_doctest():
    # TSSB/TCPDBench: covering({1: [], 2: [10], 3: [40]}, [10], 45) = 0.7954144620811286, the mean over three
    # annotators. By hand: [] -> 35/45; [10] -> 1; [40] -> (40 * 30/45 + 5 * 5/35) / 45.
    per_annotator = [covering([10], truth, length=45) for truth in ([], [10], [40])]
    assert per_annotator == approx([35 / 45, 1.0, (40 * 30 / 45 + 5 * 5 / 35) / 45])
    assert sum(per_annotator) / 3 == approx(0.7954144620811286)


def test_change_point_f1_by_hand():
    # length 100, margin 1% -> 1 sample. TSSB adds 0 to both sets: truth {0, 10, 20}, predictions {0, 11, 30}.
    # 0-0 and 10-11 match, 20 has nothing within 1 -> TP 2: P = 2/3, R = 2/3, F1 = 2/3
    result = change_point_f1([11, 30], [10, 20], length=100, margin=0.01)
    assert prf(result) == approx((2 / 3, 2 / 3, 2 / 3))
    assert result["margin"] == 1
    assert change_point_f1([15], [10], length=100, margin=5)["f1"] == 1.0  # an int margin is in samples


def test_change_point_f1_matches_each_true_point_once():
    # truth {0, 10, 12}, predictions {0, 11}, margin 2: 11 can match only one of 10 and 12 -> TP 2
    # P = 2/2, R = 2/3, F1 = 0.8
    assert prf(change_point_f1([11], [10, 12], length=100, margin=2)) == approx((1.0, 2 / 3, 0.8))


def test_change_point_f1_empty_cases_follow_tssb():
    assert prf(change_point_f1([], [], length=100)) == (1.0, 1.0, 1.0)  # {0} against {0}
    # one spurious point: predictions {0, 50}, truth {0}: P = 1/2, R = 1, F1 = 2/3
    assert prf(change_point_f1([50], [], length=100)) == approx((0.5, 1.0, 2 / 3))
    with pytest.raises(ValueError, match="fraction"):
        change_point_f1([50], [], length=100, margin=1.5)


# ---------------------------------------------------------------------------------------------------------
# Grounding, classification, ROUGE-L


def test_grounding_recall():
    # "a spike" (phrases compare lower-cased): 1 of its 2 spans found; "a dip": 0 of 1 -> 1/3
    result = grounding_recall({"A spike": [[0, 10]]}, {"a spike": [[0, 10], [50, 60]], "a dip": [[20, 30]]})
    assert (result["recall"], result["tp"], result["true_spans"]) == (approx(1 / 3), 1, 3)
    assert grounding_recall({"a dip": [[0, 10]]}, {"a spike": [[0, 10]]})["recall"] == 0.0  # wrong phrase
    assert grounding_recall({"a dip": [[0, 10]]}, {})["recall"] == 1.0
    assert spans_by_label({"spans": [[0, 1], [2, 3]], "labels": ["x", "x"]}) == {"x": [[0, 1], [2, 3]]}


def test_classification_scores():
    # accuracy 1/3. F1 per label: a: 2 * 1 / (2 predicted + 2 true) = 0.5; b: 0; c: 0 -> macro 1/6
    result = classification_scores(["a", "b", " a"], ["a", "a", "c"])
    assert result == approx({"accuracy": 1 / 3, "macro_f1": 1 / 6})


def test_rouge_l():
    # [the series rises] vs [the series rises slowly]: LCS 3, P = 3/3, R = 3/4 -> F = 2 * 0.75 / 1.75 = 6/7
    assert rouge_l("The series rises.", "the series rises slowly") == approx(6 / 7)
    # [a b c d] vs [a c b d]: LCS 3 (a b d), P = R = 3/4
    assert rouge_l("a b c d", "a c b d") == approx(0.75)
    assert rouge_l("", "") == 1.0
    assert rouge_l("words", "") == 0.0


# ---------------------------------------------------------------------------------------------------------
# Caption attributes

TRUTH = {
    "trend": "rising",
    "periods": [24],
    "event_count": 3,
    "length": 2000,
    "events": [(100, 110, "spike"), (1190, 1200, "spike"), (1800, 1850, "level shift")],
}


def test_caption_attributes_all_right():
    caption = (
        "The series rises with a period of 24 samples and low noise. There are three anomalies: two spikes, "
        "one around sample 1,200, and a level shift near the end."
    )
    result = caption_attribute_accuracy(caption, TRUTH)
    assert {k: result[k] for k in ("trend", "period", "event_count", "places", "accuracy")} == {
        "trend": True, "period": True, "event_count": True, "places": True, "accuracy": 1.0,
    }  # fmt: skip
    assert result["stated"]["counts"] == [("anomaly", 3), ("spike", 2)]
    assert result["stated"]["places"] == [1200, "near the end"]
    assert result["contradictions"] == []


def test_caption_attributes_wrong_numbers_are_contradictions():
    caption = "The series declines slowly with a period of 12 samples. There are 4 spikes, one at sample 500."
    result = caption_attribute_accuracy(caption, TRUTH)
    assert (result["trend"], result["period"], result["event_count"], result["places"]) == (False,) * 4
    assert result["accuracy"] == 0.0
    assert result["contradictions"] == ["period of 12", "4 spikes", "sample 500"]


def test_caption_calendar_cycle_needs_a_sampling():
    assert caption_attribute_accuracy("Hourly data with a daily cycle.", TRUTH)["period"] is True  # 24 samples
    assert caption_attribute_accuracy("A clear daily cycle.", TRUTH)["period"] is None  # sampling unknown
    assert caption_attribute_accuracy("A clear daily cycle.", {**TRUTH, "sampling": "hourly"})["period"] is True
    assert caption_attribute_accuracy("Daily data with a weekly cycle.", TRUTH)["period"] is False  # 7 != 24


def test_caption_no_seasonality_and_flat_trend():
    truth = {"trend": "flat", "periods": [], "event_count": 0, "events": [], "length": 100}
    result = caption_attribute_accuracy("The series stays flat with no clear seasonality and no anomalies.", truth)
    assert (result["trend"], result["period"], result["event_count"], result["accuracy"]) == (True, True, True, 1.0)


def test_caption_event_phrases_are_not_trends():
    # a verb whose clause names a sample is an event; "trend change" is an event kind, not a flat trend
    result = caption_attribute_accuracy("It rises sharply at sample 1800. There are no trend changes.", TRUTH)
    assert result["stated"]["trend"] == []
    assert result["stated"]["counts"] == [("trend change", 0)]
    assert result["event_count"] is True


def test_caption_places_by_region():
    assert caption_attribute_accuracy("A spike near the start.", TRUTH)["places"] is True  # [100, 110) in 0-40%
    assert caption_attribute_accuracy("A spike in the second quarter.", TRUTH)["places"] is False  # 500-1000
    assert caption_attribute_accuracy("Spikes at samples 95-105 and 1195.", TRUTH)["places"] is True


def test_caption_without_attributes_scores_none():
    result = caption_attribute_accuracy("A time series.", TRUTH)
    assert result["accuracy"] is None
    assert all(result[k] is None for k in ("trend", "period", "event_count", "places"))


# ---------------------------------------------------------------------------------------------------------
# evaluate modules: the same numbers as the functions, offline

SPANS_PRED = [
    {"spans": [[0, 10], [20, 30]], "labels": ["spike", "dip"], "channels": [0, None], "scores": [0.9, 0.5]},
    {"spans": [], "labels": [], "channels": [], "scores": []},
]
SPANS_TRUE = [{"spans": [[0, 10], [20, 29]], "labels": ["spike", "spike"]}, {"spans": [[3, 4]], "labels": ["dip"]}]
TEXT_TRUTH = {"trend": "rising", "periods": [12], "events": [(1, 2, "spike")], "length": 10}


def _direct(name):
    """(predictions, references, expected) of each module, `expected` from the pure functions."""
    if name == "span_f1":
        expected = span_prf_corpus(
            [p["spans"] for p in SPANS_PRED],
            [t["spans"] for t in SPANS_TRUE],
            pred_labels=[p["labels"] for p in SPANS_PRED],
            true_labels=[t["labels"] for t in SPANS_TRUE],
        )
        ap = span_map(SPANS_PRED, SPANS_TRUE)
        expected.update(map=ap["map"], map_50=ap["ap"][0.5], map_75=ap["ap"][0.75])
        return SPANS_PRED, SPANS_TRUE, expected
    if name == "event_f1":
        preds, trues = [[[4, 5], [8, 9]], []], [[[3, 4], [7, 10]], [[1, 2]]]
        events, affiliation = event_f1_corpus(preds, trues), affiliation_prf_corpus(preds, trues, [10, 5])
        expected = {f"event_{k}": events[k] for k in ("precision", "recall", "f1")}
        expected.update({f"affiliation_{k}": v for k, v in affiliation.items()})
        references = [{"spans": t, "length": n} for t, n in zip(trues, [10, 5], strict=True)]
        return [{"spans": p} for p in preds], references, expected
    if name == "segmentation":
        cover = [covering([11, 30], [10, 20], 100), covering([[0, 3], [3, 6]], [3], 6)]
        f1 = [change_point_f1([11, 30], [10, 20], 100), change_point_f1([[0, 3], [3, 6]], [3], 6)]
        expected = {"covering": sum(cover) / 2}
        expected.update({f"cp_{k}": (f1[0][k] + f1[1][k]) / 2 for k in ("precision", "recall", "f1")})
        preds = [{"points": [11, 30], "scores": [None, None]}, {"spans": [[0, 3], [3, 6]], "labels": ["a", "b"]}]
        return preds, [{"points": [10, 20], "length": 100}, {"points": [3], "length": 6}], expected
    if name == "caption":
        captions = ["The series rises with a period of 24 samples.", "A flat series."]
        attributes = caption_attribute_accuracy(captions[0], TEXT_TRUTH)  # trend right, period wrong
        expected = {
            "rouge_l": (rouge_l(captions[0], "The series rises.") + rouge_l(captions[1], "A flat series")) / 2,
            "attribute_accuracy": attributes["accuracy"],
            "trend_accuracy": 1.0,
            "period_accuracy": 0.0,
            "event_count_accuracy": None,
            "places_accuracy": None,
            "contradictions": 1.0,
        }
        return captions, [{"text": "The series rises.", "truth": TEXT_TRUTH}, "A flat series"], expected
    if name == "grounding_recall":
        preds = [{"spans": [[0, 10]], "labels": ["A spike"]}, {"spans": [], "labels": []}]
        trues = [{"spans": [[0, 10], [50, 60]], "labels": ["a spike", "a dip"]}, {"spans": [[1, 2]], "labels": ["x"]}]
        found = [grounding_recall(spans_by_label(p), spans_by_label(t)) for p, t in zip(preds, trues, strict=True)]
        tp, total = sum(f["tp"] for f in found), sum(f["true_spans"] for f in found)
        return preds, trues, {"recall": tp / total, "tp": tp, "true_spans": total}
    preds, trues = ["a", "b", "a"], ["a", "a", "c"]
    return preds, trues, classification_scores(preds, trues)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", MODULES)
def test_evaluate_module_gives_the_function_numbers_offline(name, no_network):
    evaluate = pytest.importorskip("evaluate")
    predictions, references, expected = _direct(name)
    metric = evaluate.load(module_path(name), keep_in_memory=True)
    assert metric.compute(predictions=predictions, references=references) == approx(expected)


def test_module_path_refuses_unknown_names():
    with pytest.raises(ValueError, match="known modules"):
        module_path("bleu")
