import numpy as np
import pandas as pd
import pytest
from transformers import pipeline

import ts_florence  # noqa: F401  (registers "time-series-prompting")
from ts_florence.windowing import merge_windows, nms_1d, span_iou, window_starts


@pytest.fixture(scope="module")
def pipe(burst_model):
    return pipeline("time-series-prompting", model=str(burst_model.folder))


def test_pipeline_on_one_series_gives_spans_in_user_indices_with_scores(pipe, burst_model):
    result = pipe(burst_model.series[0], task="<ANOMALY_DETECTION>")
    found = result["<ANOMALY_DETECTION>"]
    assert found["labels"] == ["burst"]
    assert span_iou(found["spans"][0], burst_model.spans[0]) >= 0.5
    assert all(0.0 < s <= 1.0 for s in found["scores"])


def test_pipeline_on_a_batch_returns_one_result_per_series(pipe, burst_model):
    results = pipe(burst_model.series[:5], task="<ANOMALY_DETECTION>", batch_size=2)
    assert len(results) == 5
    for result, truth in zip(results, burst_model.spans[:5], strict=False):
        assert span_iou(result["<ANOMALY_DETECTION>"]["spans"][0], truth) >= 0.5


def test_a_batch_of_mixed_channel_counts_answers_in_the_order_given(pipe, burst_model):
    """Batches are formed by channel count (less padding), and results still come back in the input's order."""
    two_channels = np.stack([burst_model.series[1], burst_model.series[2]], axis=1)
    batch = [burst_model.series[0], two_channels, burst_model.series[3]]
    together = pipe(batch, task="<ANOMALY_DETECTION>", batch_size=2)
    assert together == [pipe(series, task="<ANOMALY_DETECTION>") for series in batch]


def test_a_model_loaded_in_bfloat16_reads_float32_series_and_finds_the_burst(burst_model):
    """`dtype=torch.bfloat16`, as transformers users pass it: the processor's float32 series are read in the
    model's dtype, and the answer survives the lower precision."""
    import torch

    half = pipeline("time-series-prompting", model=str(burst_model.folder), dtype=torch.bfloat16)
    assert half.model.dtype == torch.bfloat16
    found = half(burst_model.series[0], task="<ANOMALY_DETECTION>")["<ANOMALY_DETECTION>"]
    assert found["labels"] == ["burst"]
    assert span_iou(found["spans"][0], burst_model.spans[0]) >= 0.5
    assert all(0.0 < s <= 1.0 for s in found["scores"])


def test_several_tasks_on_one_series_match_running_them_one_by_one(pipe, burst_model):
    series = burst_model.series[3]
    together = pipe(series, task=["<CAPTION>", "<ANOMALY_DETECTION>"])
    assert together["<CAPTION>"] == pipe(series, task="<CAPTION>")["<CAPTION>"]
    assert together["<ANOMALY_DETECTION>"] == pipe(series, task="<ANOMALY_DETECTION>")["<ANOMALY_DETECTION>"]
    assert together["<CAPTION>"]["text"] == burst_model.captions[3]


def test_beam_search_in_the_pipeline_scores_items(pipe, burst_model):
    found = pipe(burst_model.series[1], task="<ANOMALY_DETECTION>", num_beams=3)["<ANOMALY_DETECTION>"]
    assert span_iou(found["spans"][0], burst_model.spans[1]) >= 0.5
    assert all(0.0 < s <= 1.0 for s in found["scores"])


def test_pipeline_results_carry_timestamps(pipe, burst_model):
    index = pd.date_range("2026-03-01", periods=len(burst_model.series[2]), freq="15min")
    found = pipe(pd.Series(burst_model.series[2], index=index), task="<ANOMALY_DETECTION>")["<ANOMALY_DETECTION>"]
    ((start, end),) = found["spans"]
    assert found["timestamps"] == [[index[start], index[end - 1]]]


def test_windowed_pipeline_maps_window_results_back_to_the_series(pipe, burst_model):
    # Three known series side by side: windows of 128 samples (no overlap) must find each burst in place.
    long = np.concatenate(burst_model.series[:3])
    found = pipe(long, task="<ANOMALY_DETECTION>", window=128, window_overlap=0.0)["<ANOMALY_DETECTION>"]
    truths = [[s + 128 * i, e + 128 * i] for i, (s, e) in enumerate(burst_model.spans[:3])]
    assert len(found["spans"]) == 3
    for span, truth in zip(found["spans"], truths, strict=False):
        assert span_iou(span, truth) >= 0.5


def test_candidate_labels_rank_answers_by_the_models_likelihood(pipe, burst_model):
    import torch

    places = ["a burst near the start", "a burst near the middle", "a burst near the end"]
    results = pipe(burst_model.series, task="<CAPTION>", candidate_labels=places, batch_size=3)
    for result, caption in zip(results, burst_model.captions, strict=True):
        ranked = result["<CAPTION>"]
        assert ranked["text"] == ranked["labels"][0] == caption
        assert sorted(ranked["labels"]) == sorted(places) and abs(sum(ranked["scores"]) - 1) < 1e-5
        assert ranked["scores"] == sorted(ranked["scores"], reverse=True)
    # The scores are the softmax of the answers' summed token log-probabilities, as a plain forward pass gives.
    model, processor = pipe.model, pipe.processor
    inputs = processor(series=[burst_model.series[0]] * 3, text="<CAPTION>")
    labels = processor.tokenizer(places, padding=True, return_tensors="pt")
    labels = labels["input_ids"].masked_fill(labels["attention_mask"] == 0, -100)
    with torch.no_grad():
        logits = model(**inputs, labels=labels).logits
    token = logits.log_softmax(-1).gather(-1, labels.clamp(min=0)[..., None])[..., 0] * (labels != -100)
    expected = dict(zip(places, token.sum(-1).softmax(-1).tolist(), strict=True))
    ranked = results[0]["<CAPTION>"]
    assert all(
        abs(expected[label] - score) < 1e-4 for label, score in zip(ranked["labels"], ranked["scores"], strict=True)
    )


def test_candidate_labels_are_refused_for_tasks_with_locations_or_when_empty(pipe):
    with pytest.raises(ValueError, match="candidate_labels applies to text tasks"):
        pipe(np.arange(100.0), task="<ANOMALY_DETECTION>", candidate_labels=["spike"])
    with pytest.raises(ValueError, match="distinct and not empty"):
        pipe(np.arange(100.0), task="<CLASSIFICATION>", candidate_labels=[])


def test_windowed_inference_rejects_text_tasks(pipe):
    with pytest.raises(ValueError, match="windowed inference applies to span and point tasks"):
        pipe(np.arange(1000.0), task="<CAPTION>", window=128)


def test_pipeline_rejects_bad_input_with_a_clear_error(pipe):
    with pytest.raises(ValueError, match="unknown task"):
        pipe(np.arange(10.0), task="<FORECAST>")
    with pytest.raises(ValueError, match="no observed value"):
        pipe(np.full(10, np.nan), task="<CAPTION>")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"num_beams": 0}, ValueError, "num_beams must be at least 1, got 0"),
        ({"num_beams": -1}, ValueError, "num_beams must be at least 1, got -1"),
        ({"generate_kwargs": {"num_beams": 0}}, ValueError, "num_beams must be at least 1, got 0"),
        ({"num_beams": 2.5}, TypeError, "num_beams must be a whole number >= 1, got 2.5"),
        ({"max_new_tokens": 0}, ValueError, "max_new_tokens must be at least 1, got 0"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1, got 0"),
        ({"text": "foo"}, ValueError, "text='foo' given, but <CAPTION> takes no input"),
        ({"task": "ANOMALY_DETECTION"}, ValueError, "did you mean '<ANOMALY_DETECTION>'"),
        ({"task": "<CAPTION_TO_PHRASE_GROUNDING>"}, ValueError, "needs text input: pass it with text="),
    ],
)
def test_pipeline_rejects_bad_arguments_before_any_model_work(pipe, kwargs, error, message):
    kwargs = {"task": "<CAPTION>", **kwargs}
    with pytest.raises(error, match=message):
        pipe(np.arange(50.0), **kwargs)


def test_window_starts_cover_the_series_and_end_at_its_end():
    starts = window_starts(1000, 300, overlap=0.25)
    assert starts[0] == 0 and starts[-1] == 700
    assert all(b - a <= 300 for a, b in zip(starts, starts[1:], strict=False))
    assert window_starts(100, 300) == [0]


def test_nms_keeps_the_best_of_overlapping_spans():
    spans = [[0, 10], [1, 11], [20, 30], [2, 9]]
    assert sorted(nms_1d(spans, [0.5, 0.9, 0.7, None], iou_threshold=0.5)) == [1, 2]


def test_merge_windows_deduplicates_spans_seen_by_two_windows():
    per_window = [
        {"spans": [[90, 100]], "labels": ["spike"], "channels": [None], "scores": [0.8]},
        {"spans": [[40, 50]], "labels": ["spike"], "channels": [None], "scores": [0.6]},
    ]
    merged = merge_windows("<ANOMALY_DETECTION>", per_window, starts=[0, 50], window=150, length=200)
    assert merged == {"spans": [[90, 100]], "labels": ["spike"], "channels": [None], "scores": [0.8]}


def test_merge_windows_keeps_one_of_overlapping_spans_of_one_label_from_two_windows():
    """Two windows see one burst: the second cuts it at its left edge ([1000, 1100) of a window starting at 1000);
    the first sees it whole, away from its edges. One span comes back, the first window's; a span of another label
    at the same place stays, and so do two spans of one window that overlap a little."""
    per_window = [
        {"spans": [[950, 1126], [300, 340], [330, 380]], "labels": ["variance burst", "spike", "spike"],
         "channels": [None] * 3, "scores": [0.5, 0.4, 0.4]},
        {"spans": [[0, 100], [0, 100]], "labels": ["variance burst", "level shift"], "channels": [None] * 2,
         "scores": [0.9, 0.3]},
    ]  # fmt: skip
    merged = merge_windows("<ANOMALY_DETECTION>", per_window, starts=[0, 1000], window=1500, length=2500)
    assert merged["spans"] == [[300, 340], [330, 380], [950, 1126], [1000, 1100]]
    assert merged["labels"] == ["spike", "spike", "variance burst", "level shift"]


def test_spans_that_refinement_made_repeat_an_earlier_one_are_dropped():
    from ts_florence.windowing import drop_repeated_spans

    found = {
        "spans": [[16028, 16029], [500, 520], [16028, 16029], [34500, 36018], [34500, 36800], [34600, 34700]],
        "labels": ["dip", "dip", "dip", "flat line", "flat line", "flat line"],
        "channels": [None, None, None, 1, 1, 2],
        "scores": [0.4, 0.3, 0.2, 0.5, 0.6, 0.1],
    }
    kept = drop_repeated_spans("<ANOMALY_DETECTION>", found)
    assert kept["spans"] == [[16028, 16029], [500, 520], [34500, 36018], [34600, 34700]]
    assert kept["scores"] == [0.4, 0.3, 0.5, 0.1] and kept["channels"] == [None, None, 1, 2]
    points = {"points": [3, 3], "scores": [0.5, 0.5]}
    assert drop_repeated_spans("<CHANGE_POINT_DETECTION>", points) is points


def test_merge_windows_tiles_segments_by_ownership():
    per_window = [
        {"spans": [[0, 60], [60, 100]], "labels": ["calm", "volatile"], "scores": [0.9, 0.8]},
        {"spans": [[0, 50], [50, 100]], "labels": ["volatile", "calm"], "scores": [0.7, 0.9]},
    ]
    merged = merge_windows("<REGIME_SEGMENTATION>", per_window, starts=[0, 50], window=100, length=150)
    assert merged["spans"] == [[0, 60], [60, 100], [100, 150]]
    assert merged["labels"] == ["calm", "volatile", "calm"]


@pytest.fixture(scope="module")
def cell_head_pipe(burst_model, tmp_path_factory):
    """An untrained model with a cell head, beside the burst model's processor."""
    import torch
    from tiny import tiny_config

    from ts_florence import TSFlorenceForConditionalGeneration, TSFlorenceProcessor

    torch.manual_seed(0)
    config = tiny_config(width=32, num_patches=16)
    config.cell_head_weight, config.location_pointer = 1.0, True
    folder = tmp_path_factory.mktemp("cell_head_model")
    TSFlorenceForConditionalGeneration(config).save_pretrained(folder)
    TSFlorenceProcessor.from_pretrained(burst_model.folder).save_pretrained(folder)
    return pipeline("time-series-prompting", model=str(folder))


def test_point_scores_are_the_cell_heads_probabilities_at_each_sample(cell_head_pipe):
    import torch

    rng = np.random.default_rng(0)
    values = rng.normal(size=(150, 2))
    found = cell_head_pipe(values, task="<EVENT_DETECTION>", return_point_scores=True, max_new_tokens=8)
    scores = np.asarray(found["<EVENT_DETECTION>"]["point_scores"])
    assert scores.shape == (150,) and ((scores >= 0) & (scores <= 1)).all()

    # The same probabilities read straight from the model: cell j of each channel covers cell_bounds' samples.
    model, processor = cell_head_pipe.model, cell_head_pipe.processor
    inputs = processor(series=values, text="<EVENT_DETECTION>")
    series = {name: value for name, value in inputs.items() if name.startswith("series_")}
    with torch.no_grad():
        encoded = model.encode(inputs["input_ids"], inputs["attention_mask"], **series)
        logits, _ = model.read_cells(encoded.last_hidden_state, inputs["input_ids"], inputs["series_mask"])
    extractor = processor.feature_extractor
    cells = extractor.patches_per_channel(2) * extractor.patch_length
    probabilities = torch.sigmoid(logits[0, ..., 1]).reshape(-1)[: 2 * cells].reshape(2, cells).numpy().max(0)
    starts, ends = extractor.cell_bounds(150, 2)
    expected = np.array([probabilities[(starts <= i) & (i < ends)].max() for i in range(150)])
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_point_scores_of_windows_cover_the_whole_series(cell_head_pipe):
    values = np.sin(np.arange(700) / 5.0)
    found = cell_head_pipe(values, task="<ANOMALY_DETECTION>", window=256, return_point_scores=True, max_new_tokens=8)
    scores = np.asarray(found["<ANOMALY_DETECTION>"]["point_scores"])
    assert scores.shape == (700,) and np.isfinite(scores).all()
    plain = cell_head_pipe(values, task="<ANOMALY_DETECTION>", window=256, max_new_tokens=8)
    assert "point_scores" not in plain["<ANOMALY_DETECTION>"]


def test_point_scores_are_refused_for_tasks_without_a_cell_target(cell_head_pipe, pipe):
    with pytest.raises(ValueError, match="return_point_scores applies to"):
        cell_head_pipe(np.zeros(64), task="<CAPTION>", return_point_scores=True)
    with pytest.raises(ValueError, match="needs a model with a cell head"):
        pipe(np.zeros(64), task="<ANOMALY_DETECTION>", return_point_scores=True)


def test_merge_point_scores_takes_the_largest_score_of_overlapping_windows():
    from ts_florence.windowing import merge_point_scores

    merged = merge_point_scores([np.array([0.1, 0.5, 0.2]), np.array([0.4, 0.1, 0.9])], [0, 2], 5)
    assert merged == [0.1, 0.5, 0.4, 0.1, 0.9]


def test_each_task_reads_in_the_models_own_window_unless_told(burst_model):
    """`generation_config.windows` is the default window of each task; `window=` overrides it, "whole" reads
    the series whole, and a call with several tasks reads each in its own window."""
    windowed = pipeline("time-series-prompting", model=str(burst_model.folder))
    windowed.model.generation_config.windows = {"<ANOMALY_DETECTION>": 128}
    long = np.concatenate(burst_model.series[:3])
    by_default = windowed(long, task="<ANOMALY_DETECTION>")
    assert by_default == windowed(long, task="<ANOMALY_DETECTION>", window=128)
    whole = windowed(long, task="<ANOMALY_DETECTION>", window="whole")
    plain = pipeline("time-series-prompting", model=str(burst_model.folder))
    assert whole == plain(long, task="<ANOMALY_DETECTION>")
    both = windowed(long, task=["<ANOMALY_DETECTION>", "<CAPTION>"])
    assert both["<ANOMALY_DETECTION>"] == by_default["<ANOMALY_DETECTION>"]
    assert both["<CAPTION>"] == plain(long, task="<CAPTION>")["<CAPTION>"]


def test_cell_decoding_adds_the_cell_heads_runs_the_answer_lacks_with_the_decoders_best_label(cell_head_pipe):
    """`cell_threshold=t`: the generated answer, then the runs where the point scores reach t (closer than three
    cells joined) that overlap none of its spans, each with the label whose `label<loc_a><loc_b>` the decoder finds
    most likely as its answer's first item, scored by its mean probability."""
    import torch

    from ts_florence.cell_decoding import cell_spans, missing_spans
    from ts_florence.tasks import span_to_text
    from ts_florence.vocabulary import ANOMALY_LABELS

    values = np.sin(np.arange(300) / 4.0)
    values[140:150] += 5.0
    task = "<ANOMALY_DETECTION>"
    plain = cell_head_pipe(values, task=task, return_point_scores=True, refine_boundaries=False)[task]
    scores = np.asarray(plain.pop("point_scores"))
    threshold = float(np.quantile(scores, 0.8))  # an untrained head: some runs, not everything
    found = cell_head_pipe(values, task=task, cell_threshold=threshold, refine_boundaries=False)[task]
    n = len(plain["spans"])
    assert {key: value[:n] for key, value in found.items()} == plain
    extractor = cell_head_pipe.processor.feature_extractor
    cells = extractor.patches_per_channel(1) * extractor.patch_length
    added = missing_spans(cell_spans(scores[None], threshold, join_gap=-(-3 * 300 // cells)), plain["spans"])
    assert added, "the test needs spans that the answer lacks"
    # Bins of 0.3 samples: every span comes back exactly.
    assert found["spans"][n:] == [[s.start, s.end] for s in added] and found["channels"][n:] == [None] * len(added)
    np.testing.assert_allclose(found["scores"][n:], [s.score for s in added], atol=1e-4)

    model, processor = cell_head_pipe.model, cell_head_pipe.processor
    inputs = processor(series=values, text=task)
    with torch.no_grad():
        for span, label in zip(added, found["labels"][n:], strict=True):
            losses = []
            for candidate in ANOMALY_LABELS:
                ids = processor.tokenizer(candidate + span_to_text(span.start, span.end, 300), add_special_tokens=False)
                labels = torch.tensor([ids["input_ids"]])
                logits = model(**inputs, labels=labels).logits.log_softmax(-1)
                losses.append(-logits[0, torch.arange(labels.shape[1]), labels[0]].sum().item())
            assert label == ANOMALY_LABELS[int(np.argmin(losses))]


def test_cell_decoding_gives_every_span_of_a_multivariate_series_the_cell_heads_channel(cell_head_pipe, monkeypatch):
    """On a multivariate series the answer's own spans keep their bounds, labels and scores but take the channel
    of `cell_decoding.span_channel`, as the added spans do; a univariate answer is left as written."""
    from ts_florence import cell_decoding
    from ts_florence import pipeline as pipeline_module

    written = "spike<ch_0><loc_100><loc_120>flat line<ch_1><loc_500><loc_560>"
    monkeypatch.setattr(  # what an untrained decoder does not write: two spans on channels 0 and 1
        pipeline_module, "decode_generation", lambda model, processor, out: [(written, [0.5] * len(written))]
    )
    calls = []

    def last_channel(per_channel, start, end, threshold):
        calls.append([start, end])
        return len(per_channel) - 1

    monkeypatch.setattr(cell_decoding, "span_channel", last_channel)
    values, task = np.random.default_rng(1).normal(size=(300, 3)), "<ANOMALY_DETECTION>"
    plain = cell_head_pipe(values, task=task, cell_threshold=False, refine_boundaries=False)[task]
    assert plain["channels"] == [0, 1]
    found = cell_head_pipe(values, task=task, cell_threshold=0.5, refine_boundaries=False)[task]
    assert {key: value[:2] for key, value in found.items()} == {**plain, "channels": [2, 2]}
    assert found["channels"] == [2] * len(found["spans"]) and calls[:2] == plain["spans"]
    univariate = cell_head_pipe(values[:, 0], task=task, cell_threshold=0.5, refine_boundaries=False)[task]
    assert univariate["channels"][:2] == [0, 1]


def test_cell_decoding_follows_the_models_thresholds_unless_told(cell_head_pipe):
    task, values = "<ANOMALY_DETECTION>", np.sin(np.arange(200) / 3.0)
    config = cell_head_pipe.model.generation_config
    generated = cell_head_pipe(values, task=task, max_new_tokens=6)
    try:
        config.cell_thresholds = {task: 0.45}
        assert cell_head_pipe(values, task=task) == cell_head_pipe(values, task=task, cell_threshold=0.45)
        assert cell_head_pipe(values, task=task, cell_threshold=False, max_new_tokens=6) == generated
        caption = cell_head_pipe(values, task=[task, "<CAPTION>"], max_new_tokens=6)["<CAPTION>"]
        assert caption == cell_head_pipe(values, task="<CAPTION>", max_new_tokens=6)["<CAPTION>"]
    finally:
        del config.cell_thresholds


@pytest.mark.parametrize(
    ("value", "error", "match"), [(1.5, ValueError, r"in \(0, 1\)"), ("high", TypeError, "number")]
)
def test_bad_cell_thresholds_are_refused(cell_head_pipe, value, error, match):
    with pytest.raises(error, match=match):
        cell_head_pipe(np.zeros(64), task="<ANOMALY_DETECTION>", cell_threshold=value)


def test_cell_decoding_needs_a_cell_head(pipe):
    with pytest.raises(ValueError, match="needs a model with a cell head"):
        pipe(np.zeros(64), task="<ANOMALY_DETECTION>", cell_threshold=0.3)
