import numpy as np
import pandas as pd
import pytest
import torch

from ts_florence.processing_ts_florence import TSFlorenceSeriesFeatureExtractor, as_series_list, split_task


def _n_series_tokens(inputs, series_token_id=4):
    return (inputs["input_ids"] == series_token_id).sum(1).tolist()


@pytest.mark.parametrize(
    "series, channels, length",
    [
        ([1.0, 2.0, float("nan"), 4.0], 1, 4),
        ([1, None, 3], 1, 3),
        (np.arange(50.0), 1, 50),
        (np.ones((30, 3)), 3, 30),
        (torch.randn(40), 1, 40),
        (torch.randn(40, 2), 2, 40),
        (pd.Series(np.arange(20.0)), 1, 20),
        (pd.DataFrame({"a": np.arange(10.0), "b": np.r_[np.nan, np.arange(9.0)]}), 2, 10),
        (list(np.arange(12.0)), 1, 12),  # a list of NumPy scalars, what list(array) gives, is a list of numbers
        (list(np.arange(12, dtype=np.float32)), 1, 12),
        ([np.float32(1.0), 2, np.int64(3)], 1, 3),
        (list(torch.arange(6.0)), 1, 6),
    ],
)
def test_processor_accepts_every_input_kind(processor, series, channels, length):
    items, batched = as_series_list(series)
    assert not batched and items[0].values.shape == (channels, length)
    inputs = processor(series=series, text="<CAPTION>")
    assert _n_series_tokens(inputs) == [int(inputs["series_mask"].sum())]
    assert torch.isfinite(inputs["series_patches"]).all()


def test_pandas_datetime_index_gives_timestamps():
    index = pd.date_range("2026-01-01", periods=5, freq="D")
    items, _ = as_series_list(pd.Series([1.0, 2, 3, 4, 5], index=index))
    assert list(items[0].timestamps) == list(index)


def test_ragged_batch_of_mixed_kinds_pads_series_tokens(processor):
    batch = [np.arange(7.0), np.random.default_rng(0).normal(size=(5000, 4)), [1.0, 2.0, 3.0]]
    inputs = processor(series=batch, text=["<CAPTION>", "<EVENT_DETECTION>", "<CHANGE_POINT_DETECTION>"])
    assert _n_series_tokens(inputs) == inputs["series_mask"].sum(1).tolist() == [8, 32, 8]
    assert inputs["series_channel_ids"][1, :32].unique().tolist() == [0, 1, 2, 3]


def test_one_series_is_shared_by_several_prompts(processor):
    inputs = processor(series=np.arange(20.0), text=["<CAPTION>", "<ANOMALY_DETECTION>"])
    assert inputs["input_ids"].shape[0] == 2
    assert torch.equal(inputs["series_patches"][0], inputs["series_patches"][1])


def test_a_single_spike_survives_reduction_of_a_long_series():
    extractor = TSFlorenceSeriesFeatureExtractor(patch_length=4, num_patches=8)
    values = np.random.default_rng(0).normal(size=1_000_000)
    values[654_321] = 40.0
    patches = extractor(values)["series_patches"][0]  # [tokens x patch_length x 4]
    cells_max = patches[..., 2].reshape(-1)
    peak = int(cells_max.argmax())
    assert peak == 654_321 * 32 // 1_000_000
    # features are asinh of robust z-scores: the spike stands at ~40 sigma, the noise below ~6
    assert cells_max[peak] > np.arcsinh(35)
    assert np.sort(cells_max.numpy())[-2] < np.arcsinh(6)


def test_missing_values_are_marked_unobserved_not_zero_filled_silently():
    extractor = TSFlorenceSeriesFeatureExtractor(patch_length=4, num_patches=2)
    values = np.arange(8.0)
    values[2:4] = np.nan
    observed = extractor(values)["series_patches"][0, ..., 3].reshape(-1)
    assert observed.tolist() == [1, 1, 0, 0, 1, 1, 1, 1]


def test_many_channels_share_the_token_budget():
    extractor = TSFlorenceSeriesFeatureExtractor(patch_length=4, num_patches=8, max_series_tokens=64)
    out = extractor(np.zeros((100, 64)) + np.arange(64))
    assert out["series_mask"].sum() == 64
    assert out["series_position_ids"][0, :2].tolist() == [0, 0]


@pytest.mark.parametrize(
    "series, message",
    [
        ([], "empty series"),
        (np.zeros((0, 3)), "empty series"),
        (np.r_[np.ones(5), np.nan], None),
        (np.array([[1.0, np.nan], [2.0, np.nan]]), r"channel\(s\) \[1\] have no observed value"),
        (np.zeros((10, 65)), "65 channels, more than the 64"),
        (["a", "b"], "non-numeric values"),
        ([1.0, "x"], "non-numeric values"),
        ([1, "a", 3], r"non-numeric values \(e\.g\. 'a'\)"),
        (pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}), r"non-numeric values in column\(s\) \['b'\]"),
        ([1.0, float("inf")], "infinite value at channel 0, time 1"),
        (np.zeros((2, 3, 4)), "expected shape \\(time,\\) or \\(time, channels\\), got 3-D"),
        (np.array(["2026-01-01"], dtype="datetime64[D]"), "not numbers"),
    ],
)
def test_bad_series_get_a_clear_error(processor, series, message):
    if message is None:  # NaNs alone are fine
        processor(series=series, text="<CAPTION>")
        return
    with pytest.raises(ValueError, match=message):
        processor(series=series, text="<CAPTION>")


@pytest.mark.parametrize(
    "text, message",
    [
        ("<FORECAST>", "unknown task '<FORECAST>'"),
        ("ANOMALY_DETECTION", r"did you mean '<ANOMALY_DETECTION>'\?"),
        ("describe this series", "unknown task"),
        ("<CAPTION_TO_PHRASE_GROUNDING>", "needs"),
        ("<OPEN_VOCABULARY_DETECTION>", "needs"),
        ("<CAPTION>tell me more", "takes no input"),
        ("<SPAN_TO_CATEGORY>not a span", "span"),
    ],
)
def test_bad_prompts_get_a_clear_error(processor, text, message):
    with pytest.raises(ValueError, match=message):
        processor(series=np.arange(10.0), text=text)


def test_split_task_separates_token_and_input():
    assert split_task("<CAPTION_TO_PHRASE_GROUNDING>a spike near the end") == (
        "<CAPTION_TO_PHRASE_GROUNDING>",
        "a spike near the end",
    )
    assert split_task("<CAPTION>") == ("<CAPTION>", None)


def test_post_process_returns_user_indices_timestamps_and_scores(processor):
    n = 5000
    text = "</s><s>spike<loc_100><loc_101><ch_1><loc_500><loc_549>level shift<loc_900><loc_999></s>"
    timestamps = pd.date_range("2026-01-01", periods=n, freq="min")
    probs = [0.9] * len(text)
    result = processor.post_process_generation(
        text, "<ANOMALY_DETECTION>", n, timestamps=timestamps, char_scores=probs
    )["<ANOMALY_DETECTION>"]
    assert result["spans"] == [[500, 510], [2500, 2750], [4500, 5000]]
    assert result["labels"] == ["spike", "spike", "level shift"]
    assert result["channels"] == [None, 1, None]
    assert result["scores"] == pytest.approx([0.9, 0.9, 0.9])
    assert result["timestamps"][0] == [timestamps[500], timestamps[509]]


def test_decode_with_scores_aligns_probabilities_with_characters(processor):
    ids = processor.tokenizer("dip", add_special_tokens=False)["input_ids"] + [
        processor.tokenizer.convert_tokens_to_ids("<loc_3>")
    ]
    probs = [0.5] * (len(ids) - 1) + [1.0]
    text, char_probs = processor.decode_with_scores(ids, probs)
    assert text == "dip<loc_3>"
    assert char_probs == [0.5] * 3 + [1.0] * len("<loc_3>")


def test_ids_beyond_the_trained_vocabulary_decode_to_nothing(processor):
    unused = len(processor.tokenizer) + 5  # the model's embedding matrix is larger than the trained vocabulary
    dip = processor.tokenizer("dip", add_special_tokens=False)["input_ids"]
    text, char_probs = processor.decode_with_scores(dip + [unused], [0.5] * len(dip) + [0.1])
    assert text == "dip" and char_probs == [0.5] * 3


def test_decode_generation_scores_each_token_with_the_models_normalised_probability(model, processor):
    """The greedy path computes log-probabilities itself; they equal transformers' `compute_transition_scores`."""
    from ts_florence.processing_ts_florence import decode_generation

    inputs = processor(series=[np.sin(np.arange(200) / 5.0), np.cos(np.arange(90) / 3.0)], text="<CAPTION>")
    output = model.generate(
        **inputs, max_new_tokens=5, min_new_tokens=5, return_dict_in_generate=True, output_scores=True
    )
    expected = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True).exp()
    for (text, char_scores), ids, probs in zip(
        decode_generation(model, processor, output), output.sequences[:, 1:].tolist(), expected.tolist(), strict=True
    ):
        expected_text, expected_scores = processor.decode_with_scores(ids, probs)
        assert text == expected_text and len(char_scores) == len(expected_scores) > 0
        assert np.allclose(char_scores, expected_scores, atol=1e-6)


def test_autocorrelation_cells_peak_at_the_period():
    from ts_florence.processing_ts_florence import autocorrelation_cells

    t = np.arange(1000)
    z = np.sin(2 * np.pi * t / 50)[None, :] + 0.1 * np.random.default_rng(0).normal(size=(1, 1000))
    starts = np.arange(1000)
    acf = autocorrelation_cells(z, np.ones_like(z, bool), starts)[0]
    assert acf[0] == pytest.approx(1.0) and np.all(np.abs(acf) <= 1.0)
    assert 45 <= np.argmax(acf[20:80]) + 20 <= 55  # the first peak after the first trough, at the period
    assert acf[25] < -0.5  # half a period: opposite
    flat = autocorrelation_cells(np.zeros((1, 300)), np.ones((1, 300), bool), np.arange(0, 300, 3))
    assert not flat.any()  # a constant channel: nothing repeats


def test_autocorrelation_feature_is_a_fifth_cell_feature_and_saved(tmp_path):
    plain = TSFlorenceSeriesFeatureExtractor(patch_length=4, num_patches=8)
    with_acf = TSFlorenceSeriesFeatureExtractor(patch_length=4, num_patches=8, autocorrelation=True)
    x = np.sin(np.arange(300) / 4.0)
    x[[10, 11]] = np.nan
    a, b = plain(x)["series_patches"], with_acf(x)["series_patches"]
    assert a.shape[-1] == 4 and b.shape[-1] == 5
    assert torch.equal(a, b[..., :4])  # the four features are unchanged
    assert b[0, 0, 0, 4] == pytest.approx(1.0)  # lag 0
    with_acf.save_pretrained(tmp_path)
    assert TSFlorenceSeriesFeatureExtractor.from_pretrained(tmp_path).autocorrelation is True
