import copy
import json
import os
import warnings

import numpy as np
import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoProcessor

import ts_florence  # noqa: F401  (registers the Auto classes)
from ts_florence import TSFlorenceConfig, TSFlorenceForConditionalGeneration
from ts_florence.modeling_ts_florence import CACHE_NAME


def _series(length, seed=0, channels=None):
    rng = np.random.default_rng(seed)
    shape = (length,) if channels is None else (length, channels)
    return np.sin(np.arange(length) / 7.0).reshape(-1, *([1] if channels else [])) + 0.1 * rng.normal(size=shape)


def test_forward_returns_logits_and_loss(model, processor):
    inputs = processor(series=[_series(100), _series(37, 1)], text="<CAPTION>", text_target=["a wave", "noise"])
    out = model(**inputs)
    assert out.logits.shape[:2] == inputs["labels"].shape
    assert out.logits.shape[-1] == model.config.text_config.vocab_size
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    assert out.series_hidden_states.shape == (2, inputs["series_mask"].shape[1], model.config.text_config.d_model)


def test_training_loss_adds_the_weighted_series_reconstruction_loss(model, processor):
    inputs = processor(series=[_series(100), _series(37, 1)], text="<CAPTION>", text_target=["a wave", "noise"])
    out = model(**inputs)
    token_loss = torch.nn.functional.cross_entropy(
        out.logits.flatten(0, 1), inputs["labels"].flatten(), ignore_index=-100
    )
    weight = model.config.series_reconstruction_weight
    assert weight > 0 and out.series_reconstruction_loss > 0
    assert torch.allclose(out.loss, token_loss + weight * out.series_reconstruction_loss)
    model.config.series_reconstruction_weight = 0.0
    off = model(**inputs)
    assert off.series_reconstruction_loss is None and torch.allclose(off.loss, token_loss)
    assert model(**{k: v for k, v in inputs.items() if k != "labels"}).series_reconstruction_loss is None


def test_series_reconstruction_counts_only_observed_cells(model):
    patches = torch.zeros(2, 4, 4)  # two real tokens of 4 cells
    patches[..., 3] = 1.0
    patches[0, 0, :3] = 5.0  # one observed cell with a large value
    patches[1, 1, 3] = 0.0
    patches[1, 1, :3] = 100.0  # an unobserved cell: ignored
    head = model.series_reconstruction_head
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    loss = model.series_reconstruction_loss(torch.zeros(2, model.config.text_config.d_model), patches)
    assert loss.item() == pytest.approx(25.0 / 7)  # 5^2 on one cell, 0 on the 6 other observed cells


def test_save_and_auto_load_give_identical_logits_with_safetensors_only(model, processor, tmp_path):
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    files = os.listdir(tmp_path)
    assert "model.safetensors" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))]
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "ts_florence"

    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    loaded_processor = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is TSFlorenceForConditionalGeneration
    assert type(loaded_processor) is type(processor)

    inputs = processor(series=_series(300), text="<ANOMALY_DETECTION>", text_target="spike<loc_1><loc_2>")
    reloaded_inputs = loaded_processor(
        series=_series(300), text="<ANOMALY_DETECTION>", text_target="spike<loc_1><loc_2>"
    )
    for key in inputs:
        assert torch.equal(inputs[key], reloaded_inputs[key]), key
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, loaded(**inputs).logits)


def test_placeholder_count_mismatch_names_both_numbers(model, processor):
    inputs = processor(series=_series(50), text="<CAPTION>")
    inputs["series_mask"][0, -1] = 0  # one feature fewer than placeholders
    n_placeholders = int((inputs["input_ids"] == model.config.series_token_id).sum())
    with pytest.raises(
        ValueError,
        match=rf"series tokens in input_ids \({n_placeholders}\) != series features "
        rf"\({n_placeholders - 1}\)",
    ):
        model(**inputs)


def test_sample_in_ragged_batch_matches_sample_alone(model, processor):
    series = [_series(40), _series(2000, 1, channels=3), _series(9, 2)]
    texts = ["<CAPTION>", "<EVENT_DETECTION>", "<CHANGE_POINT_DETECTION>"]
    batch = processor(series=series, text=texts, text_target=["x", "y", "z"])
    with torch.no_grad():
        batched = model(**batch).logits
        for i, s in enumerate(series):
            alone = processor(series=s, text=texts[i], text_target="xyz"[i])
            single = model(**alone).logits
            torch.testing.assert_close(batched[i, : single.shape[1]], single[0], atol=1e-5, rtol=1e-4)


def test_precomputed_series_features_give_the_same_logits(model, processor):
    inputs = processor(series=_series(64), text="<CAPTION>", text_target="a wave")
    with torch.no_grad():
        direct = model(**inputs).logits
        features = model.get_series_features(**{k: v for k, v in inputs.items() if k.startswith("series_")})
        shared = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            series_features=features,
            series_mask=inputs["series_mask"],
            labels=inputs["labels"],
        ).logits
    torch.testing.assert_close(direct, shared)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_from_the_callers_encoder_outputs_matches_generate(processor, num_beams):
    """The pipeline encodes once for the decoder and the cell head: generate() then adds the pointer's keys to the
    given encoder outputs and writes the same answer."""
    from tiny import tiny_config

    torch.manual_seed(0)
    config = tiny_config()
    config.cell_head_weight, config.location_pointer = 1.0, True
    pointer_model = TSFlorenceForConditionalGeneration(config).eval()
    inputs = processor(series=[_series(80), _series(500, 3)], text="<ANOMALY_DETECTION>")
    kwargs = dict(max_new_tokens=12, min_new_tokens=12, num_beams=num_beams)
    with torch.no_grad():
        series = {k: v for k, v in inputs.items() if k.startswith("series_")}
        encoded = pointer_model.encode(inputs["input_ids"], inputs["attention_mask"], **series)
        own = pointer_model.generate(**inputs, **kwargs)
        given = pointer_model.generate(**inputs, encoder_outputs=encoded, **kwargs)
    assert own.shape == (2, 13) and torch.equal(own, given)
    # The keys are computed once, beside the given outputs, not again at every decoding step.
    prepared = pointer_model._maybe_prepare_encoder_kwargs_for_generation(
        inputs["input_ids"], {"encoder_outputs": encoded, **series}, "input_ids", pointer_model.generation_config
    )
    assert prepared["encoder_outputs"].location_patch_keys is not None


@pytest.mark.parametrize("num_beams", [1, 3])
@pytest.mark.parametrize("batched", [False, True])
def test_generate_with_kv_cache_matches_generate_without(model, processor, num_beams, batched):
    series = [_series(80), _series(500, 3)] if batched else _series(80)
    inputs = processor(series=series, text="<ANOMALY_DETECTION>")
    kwargs = dict(max_new_tokens=12, num_beams=num_beams, min_new_tokens=12)
    cached = model.generate(**inputs, use_cache=True, **kwargs)
    uncached = model.generate(**inputs, use_cache=False, **kwargs)
    assert cached.shape == (2 if batched else 1, 13)
    assert torch.equal(cached, uncached)
    assert (cached[:, 0] == model.config.text_config.decoder_start_token_id).all()


def test_forward_returns_the_decoder_cache_without_deprecation_warnings(model, processor):
    inputs = processor(series=_series(80), text="<ANOMALY_DETECTION>")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # BART's warning when given both cache names
        model.generate(**inputs, max_new_tokens=4, min_new_tokens=4)
        with torch.no_grad():
            out = model(**inputs, use_cache=True)
    cache = getattr(out, CACHE_NAME)
    assert cache is not None and cache.get_seq_length() == 1  # the decoder start token


def test_presets_have_the_sizes_they_promise():
    sizes = {}
    for name in ["tiny", "base", "large"]:
        with torch.device("meta"):
            model = TSFlorenceForConditionalGeneration(TSFlorenceConfig.from_preset(name))
        sizes[name] = sum(p.numel() for p in model.parameters()) / 1e6
    assert 2 <= sizes["tiny"] <= 15, sizes
    assert 200 <= sizes["base"] <= 260, sizes  # Florence-2 base: 0.23B
    assert 700 <= sizes["large"] <= 840, sizes  # Florence-2 large: 0.77B


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        TSFlorenceConfig.from_preset("huge")


def test_no_repeat_ngram_sizes_block_repeats_on_the_rows_of_their_tasks_only():
    from ts_florence.modeling_ts_florence import TaskNoRepeatNGramLogitsProcessor
    from ts_florence.tokenization_ts_florence import SPECIAL_TOKEN_IDS

    caption, detection = SPECIAL_TOKEN_IDS["<CAPTION>"], SPECIAL_TOKEN_IDS["<ANOMALY_DETECTION>"]
    encoder_input_ids = torch.tensor([[caption, 5, 6], [detection, 5, 6]])
    processor = TaskNoRepeatNGramLogitsProcessor({"<CAPTION>": 2, "<DETAILED_CAPTION>": 3}, encoder_input_ids)
    # Both rows wrote 7 8 ... 7: a 2-gram "7 8" would repeat if 8 came next.
    input_ids = torch.tensor([[2, 7, 8, 9, 7], [2, 7, 8, 9, 7]])
    scores = processor(input_ids, torch.zeros(2, 12))
    assert scores[0, 8] == float("-inf") and torch.isfinite(scores[0, :8]).all()  # the caption row: 8 banned
    assert torch.isfinite(scores[1]).all()  # the detection row is left alone
    # Beam search with 2 beams per input: the caption input's two beams are its rows.
    scores = processor(input_ids.repeat_interleave(2, 0), torch.zeros(4, 12))
    assert torch.isinf(scores[:2, 8]).all() and torch.isfinite(scores[2:]).all()


def test_autocorrelation_starts_at_zero_so_a_trained_model_continues_unchanged(model, processor, tmp_path):
    model.save_pretrained(tmp_path)
    config = TSFlorenceConfig.from_pretrained(tmp_path)
    config.series_config.autocorrelation = True
    with_acf = TSFlorenceForConditionalGeneration.from_pretrained(tmp_path, config=config).eval()
    weight = with_acf.model.series_tower.autocorrelation_embedding.weight
    assert not weight.any()
    x = _series(120)
    plain = processor(series=x, text="<CAPTION>", text_target="a wave")
    acf_processor = copy.deepcopy(processor)  # the fixture is shared by the session
    acf_processor.feature_extractor.autocorrelation = True
    acf = acf_processor(series=x, text="<CAPTION>", text_target="a wave")
    with torch.no_grad():
        assert torch.allclose(model(**plain).logits, with_acf(**acf).logits, atol=1e-6)
    series = [k for k in acf if k.startswith("series_")]
    with torch.no_grad():
        weight.normal_()
        moved = with_acf.get_series_features(**{k: acf[k] for k in series})
        assert not torch.allclose(model.get_series_features(**{k: plain[k] for k in series}), moved, atol=1e-3)
    with pytest.raises(ValueError, match="5 features per cell, the model reads 4"):
        model(**acf)
