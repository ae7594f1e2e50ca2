"""Boundary refinement at full resolution (ts_florence/boundaries.py, DESIGN.md section 2.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ts_florence.boundaries import refine_result, refinement_radius
from ts_florence.pipeline import TimeSeriesPromptingPipeline
from ts_florence.processing_ts_florence import SeriesInput
from ts_florence.records import ANOMALY_LABELS, EVENT_LABELS
from ts_florence.tasks import TASKS, get_task

N = 4096
RADIUS = refinement_radius(N, 1024)  # one cell (4 samples) plus one bin (5 samples)


def _noisy_sine(n: int = N, sigma: float = 0.05, seed: int = 0, period: float = 512.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * np.arange(n) / period) + sigma * rng.standard_normal(n)


def _anomaly(span: list[int], label: str, channel: int | None = None) -> dict:
    return {"spans": [span], "labels": [label], "channels": [channel], "scores": [0.7]}


def _refined_span(values: np.ndarray, span: list[int], label: str, **kwargs) -> list[int]:
    task = kwargs.pop("task", "<ANOMALY_DETECTION>")
    return refine_result(task, _anomaly(span, label, **kwargs), values, RADIUS)["spans"][0]


def test_the_radius_is_one_cell_plus_one_bin():
    assert refinement_radius(4096, 1024) == 4 + 5
    assert refinement_radius(500, 1024) == 1 + 1
    assert refinement_radius(10_000, 672) == 15 + 10


def test_refiner_puts_a_one_sample_spike_of_a_4096_sample_series_on_its_exact_sample():
    values = _noisy_sine()
    values[2731] += 8 * 0.05
    assert _refined_span(values, [2728, 2732], "spike") == [2731, 2732]


def test_refiner_gives_a_dip_its_samples_from_a_span_one_cell_off():
    values = _noisy_sine(seed=1)
    values[1500:1503] -= np.array([0.5, 1.0, 0.5])  # the engine's triangle of three samples
    assert _refined_span(values, [1496, 1500], "dip") == [1500, 1503]


def test_a_spike_or_dip_takes_the_label_of_its_extremes_sign():
    values = _noisy_sine(seed=2)
    values[700] += 1.0
    values[3000] -= 1.0
    result = {"spans": [[699, 702], [2998, 3001]], "labels": ["dip", "spike"], "scores": [0.5, 0.6]}
    refined = refine_result("<ANOMALY_DETECTION>", result, values, RADIUS)
    assert refined["spans"] == [[700, 701], [3000, 3001]] and refined["labels"] == ["spike", "dip"]
    quiet = {"spans": [[1200, 1203]], "labels": ["dip"], "scores": [0.5]}  # nothing stands out: left as it is
    assert refine_result("<ANOMALY_DETECTION>", quiet, _noisy_sine(seed=2), RADIUS) == quiet


def test_refiner_keeps_the_score_label_and_channel_of_a_refined_span():
    values = _noisy_sine()
    values[[100, 2731]] += 1.0
    result = {"spans": [[98, 104], [2728, 2732]], "labels": ["spike", "spike"], "channels": [None, 0]}
    result["scores"] = [0.4, 0.9]
    refined = refine_result("<ANOMALY_DETECTION>", result, values, RADIUS)
    assert refined == {**result, "spans": [[100, 101], [2731, 2732]]}
    assert result["spans"] == [[98, 104], [2728, 2732]]  # the input is not modified


def test_refiner_moves_both_edges_of_a_level_shift_onto_its_steps():
    values = _noisy_sine(seed=2)
    values[1500:1620] += 1.0
    assert _refined_span(values, [1493, 1626], "level shift") == [1500, 1620]


def test_refiner_writes_a_level_shift_event_as_its_step_with_one_bin_each_side():
    values = _noisy_sine(seed=3)
    values[1800:] += 1.0
    half = -(-N // 1000)
    refined = _refined_span(values, [1792, 1803], "level shift", task="<EVENT_DETECTION>")
    assert refined == [1800 - half, 1800 + half]


def test_refiner_puts_a_change_point_on_the_step():
    values = _noisy_sine(seed=4)
    values[2050:] -= 0.8
    result = {"points": [1000, 2046, 3900], "scores": [0.2, 0.8, 0.3]}
    refined = refine_result("<CHANGE_POINT_DETECTION>", result, values, RADIUS)
    # Where no step stands out (1000, 3900), the model's point stays.
    assert refined == {"points": [1000, 2050, 3900], "scores": [0.2, 0.8, 0.3]}


def test_refiner_puts_a_change_point_on_a_noiseless_step_without_overflow():
    """A step that explains every sample leaves no error to divide by (synthetic series have such steps)."""
    values = np.where(np.arange(N) >= 2050, 1000.0, 0.0)
    with np.errstate(all="raise"):
        refined = refine_result("<CHANGE_POINT_DETECTION>", {"points": [2046], "scores": [0.8]}, values, RADIUS)
    assert refined["points"] == [2050]


def test_refiner_leaves_a_bend_where_the_model_put_it():
    rng = np.random.default_rng(5)
    t = np.arange(N, dtype=np.float64)
    values = np.maximum(0.0, t - 2000) / 200 + 0.05 * rng.standard_normal(N)  # a trend starts at 2000
    refined = refine_result("<CHANGE_POINT_DETECTION>", {"points": [2004], "scores": [None]}, values, RADIUS)
    assert refined["points"] == [2004]


def test_refiner_moves_the_boundary_between_two_regimes_and_keeps_them_tiling_the_series():
    values = _noisy_sine(seed=6)
    values[1234:] += 2.0
    result = {"spans": [[0, 1230], [1230, N]], "labels": ["low level", "high level"], "scores": [0.9, 0.8]}
    refined = refine_result("<REGIME_SEGMENTATION>", result, values, RADIUS)
    assert refined == {**result, "spans": [[0, 1234], [1234, N]]}


def test_refiner_gives_a_flat_line_the_samples_that_repeat_their_predecessor():
    values = _noisy_sine(seed=7)
    values[1000:1040] = values[999]  # a stuck sensor holds its last reading
    assert _refined_span(values, [995, 1044], "flat line") == [1000, 1040]


def test_refiner_gives_a_missing_stretch_its_nan_run():
    values = _noisy_sine(seed=8)
    values[700:760] = np.nan
    assert _refined_span(values, [696, 765], "missing stretch") == [700, 760]


def test_refiner_gives_a_gap_of_every_channel_the_run_missing_on_all_of_them():
    values = np.stack([_noisy_sine(seed=9), _noisy_sine(seed=10)])
    values[:, 2000:2400] = np.nan
    values[0, 2400:2410] = np.nan  # one channel misses a little more: not the gap of all channels
    refined = _refined_span(values, [1995, 2406], "gap", task="<EVENT_DETECTION>")
    assert refined == [2000, 2400]


@pytest.mark.parametrize("spike_at, predicted", [(0, [0, 4]), (N - 1, [N - 4, N])])
def test_refiner_keeps_a_span_at_the_edge_of_the_series_inside_it(spike_at, predicted):
    values = _noisy_sine(seed=11)
    values[spike_at] += 1.0
    assert _refined_span(values, predicted, "spike") == [spike_at, spike_at + 1]


def test_refiner_reads_the_channel_a_span_names_in_a_multivariate_series():
    values = np.stack([_noisy_sine(seed=12), _noisy_sine(seed=13, period=300.0), _noisy_sine(seed=14)])
    values[0, 2729] += 3.0  # a larger spike on another channel, in the same cell
    values[1, 2731] += 1.0
    assert _refined_span(values, [2728, 2732], "spike", channel=1) == [2731, 2732]
    # Without a channel, the channel where something stands out most answers.
    assert _refined_span(values, [2728, 2732], "spike") == [2729, 2730]


def test_refiner_leaves_other_labels_text_tasks_and_unknown_channels_unchanged():
    values = _noisy_sine(seed=15)
    values[2731] += 1.0
    for label in ("variance burst", "oscillation burst", "peak", "trough", "trend change", "a spike near the end"):
        assert _refined_span(values, [2728, 2732], label) == [2728, 2732]
    assert _refined_span(values, [2728, 2732], "spike", channel=3) == [2728, 2732]
    assert refine_result("<CAPTION>", {"text": "a sine"}, values, RADIUS) == {"text": "a sine"}
    empty = {"spans": [], "labels": [], "channels": [], "scores": []}
    assert refine_result("<ANOMALY_DETECTION>", empty, values, RADIUS) == empty


def test_refiner_leaves_a_span_alone_where_nothing_stands_out_or_nothing_is_observed():
    values = _noisy_sine(seed=16)
    assert _refined_span(values, [2728, 2732], "spike") == [2728, 2732]
    values[2000:2100] = np.nan
    for label in ("spike", "level shift", "flat line"):
        assert _refined_span(values, [2040, 2060], label) == [2040, 2060]
    points = refine_result("<CHANGE_POINT_DETECTION>", {"points": [2050], "scores": [1.0]}, values, RADIUS)
    assert points["points"] == [2050]


_LABELS = [*dict.fromkeys([*ANOMALY_LABELS, *EVENT_LABELS, "outlier", "something else"])]


@st.composite
def _series_and_result(draw):
    """A random series (NaN stretches, flat stretches, steps, spikes) and a random result of a random task, as
    the parser could give it (valid spans and points, any labels and channels, scores or None)."""
    n = draw(st.integers(1, 300))
    channels = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = np.cumsum(rng.standard_normal((channels, n)), axis=1)
    for _ in range(draw(st.integers(0, 4))):
        c, a = int(rng.integers(channels)), int(rng.integers(n))
        b = min(n, a + int(rng.integers(1, 40)))
        match draw(st.sampled_from(["nan", "flat", "step", "spike"])):
            case "nan":
                values[c, a:b] = np.nan
            case "flat":
                values[c, a:b] = values[c, a]
            case "step":
                values[c, a:] += 10.0
            case "spike":
                values[c, a] += 20.0
    task = draw(st.sampled_from([token for token, spec in TASKS.items() if spec.output_kind != "text"]))
    kind = get_task(task).output_kind
    scores = st.one_of(st.none(), st.floats(0, 1))
    if kind == "points":
        points = sorted(draw(st.sets(st.integers(0, n - 1), max_size=6)))
        point_scores = draw(st.lists(scores, min_size=len(points), max_size=len(points)))
        return task, {"points": points, "scores": point_scores}, values
    if kind == "segments":
        cuts = sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=4)) - {n})
        bounds = [0, *cuts, n]
        spans = [[a, b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    else:
        starts = draw(st.lists(st.integers(0, n - 1), max_size=6))
        spans = [[s, draw(st.integers(s + 1, n))] for s in starts]
    k = len(spans)
    result = {"spans": spans}
    if kind in ("labelled_spans", "segments") or get_task(task).takes_input:
        result["labels"] = draw(st.lists(st.sampled_from(_LABELS), min_size=k, max_size=k))
    if get_task(task).with_channels:
        result["channels"] = draw(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=k, max_size=k))
    result["scores"] = draw(st.lists(scores, min_size=k, max_size=k))
    return task, result, values


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_series_and_result(), st.integers(1, 12))
def test_refined_results_keep_their_shape_with_valid_spans_and_unchanged_labels_and_scores(drawn, radius):
    """Labels stay, but a spike may become a dip and a dip a spike (by the sign of its extreme)."""
    task, result, values = drawn
    n = values.shape[1]
    refined = refine_result(task, result, values, radius)
    assert refined.keys() == result.keys()
    for key in result:
        if key == "labels":
            narrow = {"spike", "dip"}
            assert all((a in narrow and b in narrow) or a == b for a, b in zip(refined[key], result[key], strict=True))
        elif key not in ("spans", "points"):
            assert refined[key] == result[key]
    if "points" in result:
        points = refined["points"]
        assert len(points) == len(result["points"]) and points == sorted(set(points))
        assert all(0 <= p < n and abs(p - q) <= radius for p, q in zip(points, result["points"], strict=True))
        return
    assert len(refined["spans"]) == len(result["spans"])
    for (start, end), (old_start, old_end) in zip(refined["spans"], result["spans"], strict=True):
        assert 0 <= start < end <= n
        assert old_start - radius <= start and end <= old_end + radius
    if get_task(task).output_kind == "segments":
        assert refined["spans"][0][0] == 0 and refined["spans"][-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(refined["spans"], refined["spans"][1:], strict=False))


# ---------------------------------------------------------------------------------------------------------
# Through the processor and the pipeline


def _spike_series(n: int, spikes: list[int], seed: int = 0) -> np.ndarray:
    values = 0.05 * np.random.default_rng(seed).standard_normal(n)
    values[spikes] += 1.0
    return values


@pytest.mark.parametrize(
    "as_given",
    [
        lambda v: v,  # (time,)
        lambda v: v[None, :],  # [channels x time]
        lambda v: v[:, None],  # (time, channels)
        lambda v: pd.Series(v),
        lambda v: SeriesInput(values=v[None, :]),
    ],
    ids=["1-D", "channels x time", "time x channels", "pandas", "SeriesInput"],
)
def test_post_process_generation_refines_against_the_series_it_is_given(processor, as_given):
    # The tiny processor sees 32 cells, 20 samples each in a series of 640: a cell-precise answer is 20 samples wide.
    values = _spike_series(640, [333])
    text = get_task("<ANOMALY_DETECTION>").format_target(_anomaly([320, 340], "spike"), 640)
    raw = processor.post_process_generation(text, "<ANOMALY_DETECTION>", 640)["<ANOMALY_DETECTION>"]
    assert raw["spans"] == [[320, 340]]
    index = pd.date_range("2026-01-01", periods=640, freq="h")
    refined = processor.post_process_generation(
        text, "<ANOMALY_DETECTION>", 640, series=as_given(values), timestamps=index
    )["<ANOMALY_DETECTION>"]
    assert refined["spans"] == [[333, 334]] and refined["labels"] == ["spike"]
    assert refined["timestamps"] == [[index[333], index[333]]]


def test_post_process_generation_refuses_a_series_of_another_length(processor):
    with pytest.raises(ValueError, match="series of 600 samples for series_length 640"):
        processor.post_process_generation("spike<loc_1><loc_2>", "<ANOMALY_DETECTION>", 640, series=np.zeros(600))


def test_pipeline_refines_each_window_against_its_own_samples_unless_told_not_to(model, processor, monkeypatch):
    # A random model's text cannot be controlled, so the decoding is scripted: every window answers a spike in its
    # bins 500..510, samples [100, 103) of a 200-sample window, where each window holds one spike of one sample.
    import ts_florence.pipeline as pipeline_module

    def scripted(model, processor, output):
        return [("spike<loc_500><loc_510>", None)] * output.sequences.shape[0]

    monkeypatch.setattr(pipeline_module, "decode_generation", scripted)
    pipe = TimeSeriesPromptingPipeline(model=model, processor=processor)
    values = _spike_series(600, [101, 302, 500])
    kwargs = {"task": "<ANOMALY_DETECTION>", "window": 200, "window_overlap": 0.0, "max_new_tokens": 2}
    refined = pipe(values, **kwargs)["<ANOMALY_DETECTION>"]
    assert refined["spans"] == [[101, 102], [302, 303], [500, 501]]
    raw = pipe(values, refine_boundaries=False, **kwargs)["<ANOMALY_DETECTION>"]
    assert raw["spans"] == [[100, 103], [300, 303], [500, 503]]
    assert refined["labels"] == raw["labels"] == ["spike"] * 3
