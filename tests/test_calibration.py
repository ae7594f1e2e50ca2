"""Calibrated item scores: the calibration error, the fitted maps, their home in the generation config and the
pipeline that applies them (ts_florence/calibration.py, ts_florence/evaluation/calibration.py)."""

import json
import shutil

import numpy as np
import pytest
from transformers import GenerationConfig, pipeline

import ts_florence  # noqa: F401  (registers "time-series-prompting")
from ts_florence.calibration import CALIBRATION_KEY, calibrate_scores, calibrations, check_calibration
from ts_florence.evaluation.calibration import choose_calibration, fit_isotonic, fit_temperature, item_outcomes
from ts_florence.evaluation.metrics import (
    change_point_hits,
    expected_calibration_error,
    reliability_bins,
    span_hits,
    span_map,
)
from ts_florence.io import update_generation_config

ANOMALY = "<ANOMALY_DETECTION>"


# The calibration error


def test_scores_that_match_their_accuracy_have_no_calibration_error():
    # 1 of 4 right at 0.25, 3 of 4 at 0.75, 9 of 10 at 0.9: every bin's accuracy is its mean score.
    scores = [0.25] * 4 + [0.75] * 4 + [0.9] * 10
    hits = [1, 0, 0, 0] + [1, 1, 1, 0] + [1] * 9 + [0]
    assert expected_calibration_error(scores, hits) == pytest.approx(0.0, abs=1e-12)


def test_overconfident_scores_have_the_gap_between_confidence_and_accuracy_as_error():
    # 10 items at 0.95 with half right (gap 0.45) and 10 at 0.55 with half right (gap 0.05): (0.45 + 0.05) / 2.
    scores = [0.95] * 10 + [0.55] * 10
    hits = [1, 0] * 10
    assert expected_calibration_error(scores, hits) == pytest.approx(0.25)
    assert expected_calibration_error([0.9] * 5, [1, 1, 1, 0, 0]) == pytest.approx(0.3)


def test_reliability_bins_are_equal_width_and_a_score_of_one_is_in_the_last():
    bins = reliability_bins([0.0, 0.05, 0.5, 1.0, 1.0], [0, 1, 1, 1, 0], bins=10)
    assert [b["lower"] for b in bins] == pytest.approx(np.arange(10) / 10)
    assert [b["count"] for b in bins] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bins[0]["accuracy"] == 0.5 and bins[9]["mean_score"] == 1.0
    assert bins[1]["accuracy"] is None and bins[1]["mean_score"] is None


def test_the_calibration_error_refuses_scores_outside_zero_one_and_unequal_lengths():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        expected_calibration_error([1.2], [1])
    with pytest.raises(ValueError, match="2 scores for 1 outcomes"):
        expected_calibration_error([0.2, 0.3], [1])


# What is right


def test_a_span_is_right_when_matched_once_at_iou_half():
    # Two predictions on one true span: only the higher-scored one is matched; the far one is wrong.
    hits = span_hits([[10, 20], [11, 20], [50, 60]], [0.4, 0.9, 0.8], [[10, 20], [70, 80]])
    assert hits == [False, True, False]
    assert span_hits([[10, 20]], [0.5], [[15, 25]]) == [False]  # IoU 1/3
    assert span_hits([], [], [[1, 2]]) == []


def test_span_map_still_counts_the_hits_it_did():
    # COCO's greedy matching, now shared with span_hits: 2 of 3 predictions right, both ranked first.
    found = span_map(
        [{"spans": [[11, 20], [50, 60], [70, 80]], "scores": [0.9, 0.1, 0.8]}], [{"spans": [[10, 20], [70, 80]]}], [0.5]
    )
    assert found["map"] == pytest.approx(1.0)


def test_a_change_point_is_right_within_the_margin_and_matched_once():
    # margin 1% of 1000 samples = 10: 495 and 503 both near 500, the nearer (503) is matched.
    assert change_point_hits([495, 503, 800], [500], 1000, margin=0.01) == [False, True, False]
    assert change_point_hits([], [500], 1000) == []


def test_item_outcomes_pair_each_raw_score_with_whether_the_item_is_right():
    result = {"spans": [[10, 20], [50, 60]], "labels": ["spike", "dip"], "channels": [None, None], "scores": [0.7, 0.2]}
    assert item_outcomes(ANOMALY, result, {"spans": [[10, 20]]}, 100) == [(0.7, True), (0.2, False)]
    points = {"points": [300, 700], "scores": [0.6, 0.4]}
    assert item_outcomes("<CHANGE_POINT_DETECTION>", points, {"points": [702]}, 1000) == [(0.6, False), (0.4, True)]
    with pytest.raises(ValueError, match="only spans and points"):
        item_outcomes("<CAPTION>", {"text": "a"}, {"text": "a"}, 10)


# Fitting


def _overconfident(n: int = 4000, temperature: float = 2.0, seed: int = 1):
    """Raw scores whose true probability is sigmoid(logit(score) / temperature), and outcomes drawn from it."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.01, 0.99, n)
    logits = np.log(scores / (1 - scores)) / temperature
    return scores, rng.random(n) < 1 / (1 + np.exp(-logits))


def test_the_isotonic_map_is_monotone_and_lowers_the_error_of_overconfident_scores():
    scores, hits = _overconfident()
    entry = check_calibration(ANOMALY, fit_isotonic(scores, hits))
    assert np.all(np.diff(entry["x"]) > 0) and np.all(np.diff(entry["y"]) >= 0)
    grid = calibrate_scores(np.linspace(0, 1, 201).tolist(), entry)
    assert np.all(np.diff(grid) >= 0)
    raw = expected_calibration_error(scores, hits)
    assert raw > 0.1
    assert expected_calibration_error(calibrate_scores(scores.tolist(), entry), hits) < raw / 4


def test_temperature_scaling_finds_the_temperature_of_the_scores():
    scores, hits = _overconfident(temperature=2.0)
    entry = fit_temperature(scores, hits)
    assert entry["method"] == "temperature" and entry["temperature"] == pytest.approx(2.0, rel=0.15)
    assert calibrate_scores([0.9, 0.5, None], entry)[1:] == [0.5, None]


def test_choose_calibration_fits_both_and_keeps_the_lower_held_out_error():
    scores, hits = _overconfident()
    entry, held_out = choose_calibration(ANOMALY, scores, hits)
    assert set(held_out) == {"raw", "isotonic", "temperature"}
    assert entry["method"] == min(("isotonic", "temperature"), key=held_out.get)
    assert held_out[entry["method"]] < held_out["raw"]


# Where the map lives


def test_a_calibration_is_stored_in_the_generation_config_and_read_back(tmp_path):
    GenerationConfig(max_new_tokens=8).save_pretrained(tmp_path)
    scores, hits = _overconfident(n=500)
    entry = fit_isotonic(scores, hits)
    update_generation_config(tmp_path, **{CALIBRATION_KEY: {ANOMALY: entry}})
    assert calibrations(GenerationConfig.from_pretrained(tmp_path)) == {ANOMALY: entry}
    assert calibrations(json.loads((tmp_path / "generation_config.json").read_text())) == {ANOMALY: entry}
    assert not list(tmp_path.glob(".*")), "no temporary file is left behind"


@pytest.mark.parametrize(
    ("task", "entry", "message"),
    [
        (ANOMALY, {"method": "platt"}, "method must be one of isotonic, temperature, got 'platt'"),
        (
            ANOMALY,
            {"method": "isotonic", "x": [0.1]},
            r"an entry of method isotonic has exactly the keys \['method', 'x', 'y'\]",
        ),
        (ANOMALY, {"method": "isotonic", "x": [0.5, 0.2], "y": [0.1, 0.3]}, "x must be strictly increasing"),
        (ANOMALY, {"method": "isotonic", "x": [0.2, 0.5], "y": [0.3, 0.1]}, "y must be non-decreasing"),
        (ANOMALY, {"method": "isotonic", "x": [0.2, 0.5], "y": [0.3]}, "x and y must have one length, got 2 and 1"),
        (ANOMALY, {"method": "isotonic", "x": [0.2, 1.5], "y": [0.1, 0.3]}, r"x must be numbers in \[0, 1\]"),
        (ANOMALY, {"method": "isotonic", "x": [], "y": []}, "x must be a non-empty list"),
        (ANOMALY, {"method": "temperature", "temperature": 0}, "temperature must be a number > 0, got 0"),
        ("<CAPTION>", {"method": "temperature", "temperature": 2.0}, "<CAPTION> answers with text"),
        ("<NOPE>", {"method": "temperature", "temperature": 2.0}, "unknown task"),
    ],
)
def test_a_damaged_calibration_entry_is_named_with_what_is_wrong(task, entry, message):
    with pytest.raises(ValueError, match=rf"generation_config\.calibration\['{task}'\]: {message}"):
        check_calibration(task, entry)


# The pipeline applies it


@pytest.fixture
def calibrated_folder(burst_model, tmp_path):
    folder = tmp_path / "calibrated"
    shutil.copytree(burst_model.folder, folder)
    update_generation_config(folder, calibration={ANOMALY: {"method": "temperature", "temperature": 3.0}})
    return folder


def test_the_pipeline_returns_calibrated_scores_and_raw_ones_with_calibrate_false(calibrated_folder, burst_model):
    pipe = pipeline("time-series-prompting", model=str(calibrated_folder))
    series = burst_model.series[:3]
    calibrated = pipe(series, task=ANOMALY)
    raw = pipe(series, task=ANOMALY, calibrate=False)
    unchanged = pipeline("time-series-prompting", model=str(burst_model.folder))(series, task=ANOMALY)
    assert raw == unchanged
    entry = {"method": "temperature", "temperature": 3.0}
    for c, r in zip(calibrated, raw, strict=True):
        assert c[ANOMALY]["spans"] == r[ANOMALY]["spans"] and r[ANOMALY]["scores"]
        assert c[ANOMALY]["scores"] == calibrate_scores(r[ANOMALY]["scores"], entry)
        assert c[ANOMALY]["scores"] != r[ANOMALY]["scores"]
    # A task without a map keeps its raw scores.
    caption = pipe(series[0], task="<CAPTION>")
    assert caption == pipe(series[0], task="<CAPTION>", calibrate=False)


def test_the_pipeline_names_a_damaged_calibration_and_calibrate_false_reads_past_it(calibrated_folder, burst_model):
    update_generation_config(calibrated_folder, calibration={ANOMALY: {"method": "isotonic", "x": [0.5], "y": [2]}})
    pipe = pipeline("time-series-prompting", model=str(calibrated_folder))
    with pytest.raises(ValueError, match=r"generation_config\.calibration\['<ANOMALY_DETECTION>'\]: y must be"):
        pipe(burst_model.series[0], task=ANOMALY)
    assert pipe(burst_model.series[0], task=ANOMALY, calibrate=False)[ANOMALY]["spans"]


def test_the_reliability_diagram_is_drawn_per_task_and_written_in_place(tmp_path):
    from ts_florence.plotting import plot_reliability

    scores, hits = _overconfident(n=300)
    entry = fit_isotonic(scores, hits)
    diagrams = {
        "ANOMALY_DETECTION": {
            "raw": reliability_bins(scores, hits),
            "calibrated": reliability_bins(calibrate_scores(scores.tolist(), entry), hits),
        },
        "EVENT_DETECTION": {"raw": reliability_bins(scores, hits)},
    }
    figure = plot_reliability(diagrams, tmp_path / "reliability.png")
    assert [ax.get_title() for ax in figure.axes] == ["ANOMALY_DETECTION", "EVENT_DETECTION"]
    assert (tmp_path / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["reliability.png"]
