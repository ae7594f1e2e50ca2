"""Tests of the task registry and the output grammar (ts_florence/tasks.py)."""

from __future__ import annotations

import math
import pickle
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ts_florence.tasks import (
    CHANNEL_TOKENS,
    CONTROL_TOKENS,
    LOC_TOKENS,
    MAX_CHANNELS,
    NUM_LOC_BINS,
    SERIES_TOKEN,
    TASKS,
    TaskSpec,
    bin_to_end,
    bin_to_start,
    get_task,
    index_to_bin,
    parse_generation,
    point_to_text,
    render_text_locations,
    span_to_text,
    task_prompts,
    write_text_locations,
)

DESIGN_TOKENS = [
    "<CAPTION>",
    "<DETAILED_CAPTION>",
    "<MORE_DETAILED_CAPTION>",
    "<CLASSIFICATION>",
    "<ANOMALY_DETECTION>",
    "<EVENT_DETECTION>",
    "<DENSE_SPAN_CAPTION>",
    "<SPAN_PROPOSAL>",
    "<REGIME_SEGMENTATION>",
    "<CHANGE_POINT_DETECTION>",
    "<CAPTION_TO_PHRASE_GROUNDING>",
    "<OPEN_VOCABULARY_DETECTION>",
    "<SPAN_TO_CATEGORY>",
    "<SPAN_TO_DESCRIPTION>",
]
LENGTHS = [8, 100, 1000, 12345]


def tolerance(n: int) -> int:
    """The contract's error bound per boundary, in samples."""
    return 0 if n <= NUM_LOC_BINS else math.ceil(n / NUM_LOC_BINS)


def assert_matches(parsed: dict, expected: dict, n: int) -> None:
    """`parsed` equals `expected` up to quantization; `parsed` may add per-item scores."""
    extra = set(parsed) - set(expected)
    assert extra <= {"scores"}, extra
    for key, want in expected.items():
        got = parsed[key]
        if key == "spans":
            assert len(got) == len(want), (got, want)
            for (s, e), (ws, we) in zip(got, want, strict=True):
                assert abs(s - ws) <= tolerance(n) and abs(e - we) <= tolerance(n), (got, want)
        elif key == "points":
            assert len(got) == len(want), (got, want)
            assert all(abs(p - wp) <= tolerance(n) for p, wp in zip(got, want, strict=True)), (got, want)
        else:
            assert got == want


# ---------------------------------------------------------------------------------------------------------
# Registry


def test_registry_holds_exactly_the_design_tasks_in_table_order():
    assert list(TASKS) == DESIGN_TOKENS
    assert all(isinstance(spec, TaskSpec) and spec.token == token for token, spec in TASKS.items())


def test_every_task_has_prompt_metric_and_description():
    for spec in TASKS.values():
        assert spec.prompt and spec.scorer and spec.description
        assert ("{input}" in spec.prompt) == spec.takes_input


def test_output_kinds_follow_the_design_table():
    kinds = {token: spec.output_kind for token, spec in TASKS.items()}
    assert kinds["<CAPTION>"] == kinds["<CLASSIFICATION>"] == kinds["<SPAN_TO_DESCRIPTION>"] == "text"
    assert kinds["<ANOMALY_DETECTION>"] == kinds["<CAPTION_TO_PHRASE_GROUNDING>"] == "labelled_spans"
    assert kinds["<SPAN_PROPOSAL>"] == kinds["<OPEN_VOCABULARY_DETECTION>"] == "spans"
    assert kinds["<REGIME_SEGMENTATION>"] == "segments"
    assert kinds["<CHANGE_POINT_DETECTION>"] == "points"
    inputs = {token: spec.input_kind for token, spec in TASKS.items() if spec.takes_input}
    assert inputs == {
        "<CAPTION_TO_PHRASE_GROUNDING>": "text",
        "<OPEN_VOCABULARY_DETECTION>": "text",
        "<SPAN_TO_CATEGORY>": "span",
        "<SPAN_TO_DESCRIPTION>": "span",
    }


def test_special_token_lists():
    assert SERIES_TOKEN == "<series>"
    assert len(LOC_TOKENS) == NUM_LOC_BINS == 1000 and LOC_TOKENS[0] == "<loc_0>" and LOC_TOKENS[-1] == "<loc_999>"
    assert len(CHANNEL_TOKENS) == MAX_CHANNELS == 64 and CHANNEL_TOKENS[-1] == "<ch_63>"
    assert CONTROL_TOKENS == ("<s>", "</s>", "<pad>", "<unk>")


def test_get_task_names_the_unknown_token_and_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown task '<FOO>'; known tasks: <CAPTION>, <DETAILED_CAPTION>, "):
        get_task("<FOO>")


@pytest.mark.parametrize(
    "token, meant",
    [
        ("ANOMALY_DETECTION", "<ANOMALY_DETECTION>"),
        ("<anomaly detection>", "<ANOMALY_DETECTION>"),
        ("<CAPTIONS>", "<CAPTION>"),
    ],
)
def test_get_task_suggests_the_close_token(token, meant):
    with pytest.raises(ValueError, match=f"unknown task '{token}' \\(did you mean '{meant}'\\?\\); known tasks"):
        get_task(token)


def test_task_prompts_take_text_for_the_tasks_with_input_and_refuse_it_otherwise():
    assert task_prompts(["<CAPTION>", "<CAPTION_TO_PHRASE_GROUNDING>"], "a dip") == [
        ("<CAPTION>", None),
        ("<CAPTION_TO_PHRASE_GROUNDING>", "a dip"),
    ]
    with pytest.raises(ValueError, match=r"text='foo' given, but <CAPTION> takes no input"):
        task_prompts("<CAPTION>", "foo")
    with pytest.raises(ValueError, match=r"--text 'foo' given, but <CAPTION>, <ANOMALY_DETECTION> takes no input"):
        task_prompts(["<CAPTION>", "<ANOMALY_DETECTION>"], "foo", text_option="--text ")
    with pytest.raises(ValueError, match=r"<CAPTION_TO_PHRASE_GROUNDING> needs text input: pass it with --text"):
        task_prompts("<CAPTION_TO_PHRASE_GROUNDING>", None, text_option="--text ")
    with pytest.raises(ValueError, match="a task was given twice"):
        task_prompts(["<CAPTION>", "<CAPTION>"])


def test_task_spec_rejects_prompt_without_placeholder_for_an_input_task():
    with pytest.raises(ValueError, match="exactly when the task takes input"):
        TaskSpec("<X>", "Locate it.", "text", "spans", "span_f1", "x", extract=lambda record, n: [])


def test_task_specs_survive_pickling_for_dataloader_workers():
    for spec in TASKS.values():
        copy = pickle.loads(pickle.dumps(spec))
        assert copy == spec
        assert copy.examples(RECORD) == spec.examples(RECORD)


# ---------------------------------------------------------------------------------------------------------
# Time locations


def test_bins_of_indices_and_indices_of_bins():
    assert index_to_bin(0, 8) == 0 and index_to_bin(1, 8) == 125 and index_to_bin(7, 8) == 875
    assert index_to_bin(8, 8) == 999  # one past the last sample: clipped to the last bin
    assert bin_to_start(125, 8) == 1 and bin_to_end(125, 8) == 2
    assert bin_to_start(0, 12345) == 0 and bin_to_end(999, 12345) == 12345
    assert bin_to_start(1, 12345) == 13 and bin_to_end(0, 12345) == 13


def test_location_arithmetic_is_exact_for_ten_million_samples():
    n = 10**7
    assert index_to_bin(n - 1, n) == 999 and index_to_bin(9_999, n) == 0 and index_to_bin(10_000, n) == 1
    assert bin_to_start(999, n) == 9_990_000 and bin_to_end(999, n) == n
    n = 10**7 + 1
    assert bin_to_start(1, n) == 10_001 and bin_to_end(0, n) == 10_001


def test_span_and_point_text():
    assert span_to_text(10, 20, 100) == "<loc_100><loc_190>"
    assert span_to_text(0, 8, 8, channel=3) == "<ch_3><loc_0><loc_875>"
    assert span_to_text(0, 1, 1) == "<loc_0><loc_0>"
    assert point_to_text(50, 100) == "<loc_500>"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 5, 10), r"span \[5, 5\) must satisfy 0 <= start < end <= length = 10"),
        ((6, 5, 10), r"span \[6, 5\)"),
        ((-1, 5, 10), r"span \[-1, 5\)"),
        ((0, 11, 10), r"span \[0, 11\) .* = 10"),
        ((0, 1, 0), "series length must be >= 1, got 0"),
    ],
)
def test_span_to_text_rejects_invalid_spans_naming_the_numbers(args, message):
    with pytest.raises(ValueError, match=message):
        span_to_text(*args)


def test_location_helpers_reject_out_of_range_values():
    with pytest.raises(ValueError, match="channel must be in \\[0, 63\\], got 64"):
        span_to_text(0, 1, 10, channel=64)
    with pytest.raises(ValueError, match="point 10 must satisfy 0 <= point < length = 10"):
        point_to_text(10, 10)
    with pytest.raises(ValueError, match="index 11 is outside \\[0, 10\\]"):
        index_to_bin(11, 10)
    with pytest.raises(ValueError, match="bin must be in \\[0, 999\\], got 1000"):
        bin_to_start(1000, 10)
    with pytest.raises(TypeError, match="start must be an integer"):
        span_to_text(1.0, 2, 10)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 10**12), data=st.data())
def test_index_to_bin_matches_exact_rational_floor(n, data):
    i = data.draw(st.integers(0, n - 1))
    assert index_to_bin(i, n) == math.floor(Fraction(i * 1000, n))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(8, 1_000_000), data=st.data())
def test_decoded_span_covers_the_true_one_within_one_bin(n, data):
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start + 1, n))
    [[got_start, got_end]] = parse_generation(span_to_text(start, end, n), "<SPAN_PROPOSAL>", n)["spans"]
    bound = math.ceil(n / NUM_LOC_BINS)
    assert start - bound <= got_start <= start
    assert end <= got_end <= end + bound


@settings(max_examples=200, deadline=None)
@given(n=st.integers(8, 1_000_000), data=st.data())
def test_decoded_point_is_within_one_bin(n, data):
    point = data.draw(st.integers(0, n - 1))
    [got] = parse_generation(point_to_text(point, n), "<CHANGE_POINT_DETECTION>", n)["points"]
    assert point - math.ceil(n / NUM_LOC_BINS) <= got <= point


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 1000), data=st.data())
def test_round_trip_is_exact_up_to_1000_samples(n, data):
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start + 1, n))
    assert parse_generation(span_to_text(start, end, n), "<SPAN_PROPOSAL>", n)["spans"] == [[start, end]]
    assert parse_generation(point_to_text(start, n), "<CHANGE_POINT_DETECTION>", n)["points"] == [start]


# ---------------------------------------------------------------------------------------------------------
# Round trips


def hand_written(token: str, n: int) -> tuple[str | None, dict]:
    """A `(text_input, result)` for `token` on a series of `n` samples, in canonical order."""
    q = n // 4
    spans = [[0, q], [n // 2, n // 2 + 1], [3 * q, n]]
    caption = "A flat series with a spike near the start and a dip at the end."
    return {
        "<CAPTION>": (None, {"text": "A flat series."}),
        "<DETAILED_CAPTION>": (None, {"text": caption}),
        "<MORE_DETAILED_CAPTION>": (None, {"text": caption + " The mean is 0.25, the period is 12."}),
        "<CLASSIFICATION>": (None, {"text": "ECG normal"}),
        "<ANOMALY_DETECTION>": (
            None,
            {"spans": spans, "labels": ["spike", "spike", "level shift"], "channels": [None, 1, 0]},
        ),
        "<EVENT_DETECTION>": (
            None,
            {"spans": spans, "labels": ["peak", "dip", "flat line"], "channels": [2, None, 63]},
        ),
        "<DENSE_SPAN_CAPTION>": (
            None,
            {
                "spans": spans,
                "labels": ["rises to 3.5", "drops by 40%", "rises to 3.5"],
                "channels": [None, None, None],
            },
        ),
        "<SPAN_PROPOSAL>": (None, {"spans": spans}),
        "<REGIME_SEGMENTATION>": (
            None,
            {"spans": [[0, q], [q, 3 * q], [3 * q, n]], "labels": ["flat", "rising", "flat"]},
        ),
        "<CHANGE_POINT_DETECTION>": (None, {"points": [1, n // 2, n - 1]}),
        "<CAPTION_TO_PHRASE_GROUNDING>": (
            caption,
            {"spans": spans, "labels": ["a spike", "a spike", "a dip"]},
        ),
        "<OPEN_VOCABULARY_DETECTION>": ("spike", {"spans": spans, "labels": ["spike"] * 3}),
        "<SPAN_TO_CATEGORY>": (span_to_text(0, q, n), {"text": "spike"}),
        "<SPAN_TO_DESCRIPTION>": (span_to_text(0, q, n), {"text": "a sharp rise to 3.5 and back"}),
    }[token]


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("token", DESIGN_TOKENS)
def test_parse_inverts_format_target_for_every_task(token, n):
    spec = get_task(token)
    text_input, result = hand_written(token, n)
    spec.build_prompt(text_input)  # the input is valid for the task
    parsed = spec.parse(spec.format_target(result, n), n, text_input=text_input)
    assert_matches(parsed, result, n)
    if spec.output_kind != "text":
        assert parsed["scores"] == [None] * len(parsed.get("spans", parsed.get("points")))


def test_format_target_writes_a_label_only_when_it_changes():
    spec = get_task("<ANOMALY_DETECTION>")
    result = {
        "spans": [[700, 1000], [500, 520], [10, 12]],
        "labels": ["level shift", "spike", "spike"],
        "channels": [None, 1, None],
    }
    text = "spike<loc_10><loc_11><ch_1><loc_500><loc_519>level shift<loc_700><loc_999>"
    assert spec.format_target(result, 1000) == text


def test_format_target_writes_every_segment_label():
    spec = get_task("<REGIME_SEGMENTATION>")
    result = {"spans": [[50, 100], [0, 50]], "labels": ["flat", "flat"]}
    assert spec.format_target(result, 100) == "flat<loc_0><loc_490>flat<loc_500><loc_990>"


def test_format_target_sorts_and_deduplicates_points_and_proposals():
    assert get_task("<CHANGE_POINT_DETECTION>").format_target({"points": [7, 3, 7]}, 10) == "<loc_300><loc_700>"
    proposal = get_task("<SPAN_PROPOSAL>").format_target({"spans": [[5, 6], [1, 2], [5, 6]]}, 10)
    assert proposal == "<loc_100><loc_100><loc_500><loc_500>"


@pytest.mark.parametrize("label", ["", "   ", "a<b", None])
def test_format_target_rejects_labels_that_cannot_be_parsed_back(label):
    with pytest.raises(ValueError, match="a label must be non-empty text without '<'"):
        get_task("<EVENT_DETECTION>").format_target({"spans": [[0, 1]], "labels": [label]}, 10)


def test_caption_targets_write_places_and_durations_as_locations():
    caption = (
        "A series of 500 hourly samples. It repeats every 50 samples (2 days), with a 12-sample cycle. It peaks"
        " at 3.5 around sample 120, has a flat line lasting 9 samples between samples 200 and 209 and is calm"
        " from sample 300 to 500. About 1.5% of values are missing; 2 spikes."
    )
    target = get_task("<CAPTION>").format_target({"text": caption}, 500)
    assert target == (
        "A series of <loc_999> hourly samples. It repeats every <loc_99> samples (2 days), with a <loc_23>-sample"
        " cycle. It peaks at 3.5 around sample <loc_240>, has a flat line lasting <loc_17> samples between samples"
        " <loc_400> and <loc_416> and is calm from sample <loc_600> to <loc_998>. About 1.5% of values are"
        " missing; 2 spikes."
    )
    # exact for series of at most 1,000 samples: every sample has a bin of its own
    assert get_task("<CAPTION>").parse(target, 500) == {"text": caption}
    assert get_task("<CLASSIFICATION>").format_target({"text": "every 50 samples"}, 500) == "every 50 samples"


@pytest.mark.parametrize("n", [1, 7, 999, 1000, 1001, 3954, 100_000])
def test_text_locations_round_trip_within_half_a_bin(n):
    for d in sorted({min(2, n), max(1, n // 7), max(1, n // 2), n}):
        rendered = render_text_locations(write_text_locations(f"every {d:,} samples", n), n)
        value = int(rendered.split()[1].replace(",", ""))
        # half a bin and the rounding to a sample; a duration below one bin is one bin (at least a sample)
        assert abs(value - max(d, n / 1000)) <= n / 2000 + 0.5, (d, rendered)
    for i in sorted({0, n // 3, n - 1}):
        rendered = render_text_locations(write_text_locations(f"at sample {i:,}.", n), n)
        step = 10 ** max(0, len(str(n)) - 3)
        assert abs(int(rendered[10:-1].replace(",", "")) - i) <= n / 1000 + step


def test_text_locations_leave_stray_tokens_to_the_parser():
    # a model that writes a location where no sample number goes: the token is dropped, not rendered
    assert get_task("<CAPTION>").parse("A flat<loc_3> series of <loc_999> samples.", 200) == {
        "text": "A flat series of 200 samples."
    }


def test_format_target_rejects_text_holding_special_tokens_and_mismatched_lists():
    with pytest.raises(ValueError, match="must not contain control, location or channel tokens"):
        get_task("<CAPTION>").format_target({"text": "a spike at <loc_3>"}, 10)
    with pytest.raises(ValueError, match="result lists differ in length"):
        get_task("<ANOMALY_DETECTION>").format_target({"spans": [[0, 1]], "labels": []}, 10)
    with pytest.raises(ValueError, match=r"span \[0, 11\)"):
        get_task("<SPAN_PROPOSAL>").format_target({"spans": [[0, 11]]}, 10)


labels = st.text(st.characters(blacklist_characters="<"), min_size=1, max_size=12).map(str.strip).filter(bool)


@st.composite
def labelled_spans(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, str, int | None]]]:
    n = draw(st.integers(1, 50_000))
    items = []
    for _ in range(draw(st.integers(0, 8))):
        start = draw(st.integers(0, n - 1))
        end = draw(st.integers(start + 1, n))
        items.append((start, end, draw(labels), draw(st.none() | st.integers(0, MAX_CHANNELS - 1))))
    return n, items


@settings(max_examples=200, deadline=None)
@given(case=labelled_spans())
def test_random_labelled_span_lists_round_trip(case):
    n, items = case
    items.sort(key=lambda item: (item[0], item[1], item[2], -1 if item[3] is None else item[3]))
    result = {
        "spans": [[s, e] for s, e, _, _ in items],
        "labels": [label for _, _, label, _ in items],
        "channels": [channel for _, _, _, channel in items],
    }
    spec = get_task("<ANOMALY_DETECTION>")
    assert_matches(spec.parse(spec.format_target(result, n), n), result, n)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 50_000), data=st.data())
def test_random_point_lists_round_trip_up_to_shared_bins(n, data):
    points = data.draw(st.lists(st.integers(0, n - 1), max_size=10))
    spec = get_task("<CHANGE_POINT_DETECTION>")
    expected = sorted({bin_to_start(index_to_bin(p, n), n) for p in points})
    assert spec.parse(spec.format_target({"points": points}, n), n)["points"] == expected


# ---------------------------------------------------------------------------------------------------------
# Parsing generated text


def test_parse_drops_span_with_end_before_start():
    parsed = parse_generation("spike<loc_20><loc_10>dip<loc_1><loc_2>", "<EVENT_DETECTION>", 1000)
    assert parsed["spans"] == [[1, 3]] and parsed["labels"] == ["dip"]


def test_parse_drops_spans_with_bins_beyond_999():
    text = "spike<loc_10><loc_1000>dip<loc_99999><loc_5>peak<loc_1><loc_2>"
    assert parse_generation(text, "<EVENT_DETECTION>", 1000)["labels"] == ["peak"]
    assert parse_generation("<loc_1000><loc_5><loc_7>", "<CHANGE_POINT_DETECTION>", 1000)["points"] == [5, 7]


def test_parse_drops_span_with_channel_beyond_63():
    parsed = parse_generation("spike<ch_64><loc_1><loc_2><ch_63><loc_3><loc_4>", "<ANOMALY_DETECTION>", 1000)
    assert parsed["spans"] == [[3, 5]] and parsed["channels"] == [63]


def test_parse_drops_dangling_single_location():
    parsed = parse_generation("spike<loc_1>dip<loc_2><loc_3><loc_4>", "<EVENT_DETECTION>", 1000)
    assert parsed["spans"] == [[2, 4]] and parsed["labels"] == ["dip"]


def test_parse_drops_spans_without_a_label_where_one_is_required():
    parsed = parse_generation("<loc_1><loc_2>  <loc_3><loc_4>spike<loc_5><loc_6>", "<EVENT_DETECTION>", 1000)
    assert parsed["spans"] == [[5, 7]] and parsed["labels"] == ["spike"]


def test_parse_continues_a_label_over_whitespace_between_spans():
    parsed = parse_generation("spike<loc_1><loc_2> <loc_3><loc_4>", "<EVENT_DETECTION>", 1000)
    assert parsed["labels"] == ["spike", "spike"]


def test_parse_strips_control_tokens_and_ignores_unknown_tags():
    text = "<s>spike<loc_1><pad><loc_2><series>dip<loc_3><loc_4></s><pad><pad>"
    parsed = parse_generation(text, "<ANOMALY_DETECTION>", 1000)
    assert parsed == {
        "spans": [[1, 3], [3, 5]],
        "labels": ["spike", "dip"],
        "channels": [None, None],
        "scores": [None, None],
    }


def test_parse_text_removes_control_location_and_channel_tokens():
    text = "<s> A flat series<loc_3><ch_1> with one spike.</s><pad>"
    assert parse_generation(text, "<CAPTION>", 100) == {"text": "A flat series with one spike."}


def test_parse_segments_sorted_by_start_without_enforcing_coverage():
    parsed = parse_generation("noisy<loc_600><loc_999>flat<loc_0><loc_299>", "<REGIME_SEGMENTATION>", 1000)
    assert parsed == {"spans": [[0, 300], [600, 1000]], "labels": ["flat", "noisy"], "scores": [None, None]}


def test_parse_points_sorted_and_deduplicated():
    parsed = parse_generation("<loc_700>x<loc_100><loc_700>", "<CHANGE_POINT_DETECTION>", 1000)
    assert parsed == {"points": [100, 700], "scores": [None, None]}


def test_parse_widens_spans_in_bins_without_samples_to_one_sample():
    # With 8 samples, bins 1..124 and 876..999 hold no sample.
    parsed = parse_generation("<loc_50><loc_60><loc_990><loc_999>", "<SPAN_PROPOSAL>", 8)
    assert parsed["spans"] == [[1, 2], [7, 8]]
    assert parse_generation("<loc_990>", "<CHANGE_POINT_DETECTION>", 8)["points"] == [7]


def test_parse_open_vocabulary_labels_every_span_with_the_input():
    parsed = parse_generation("<loc_1><loc_2><loc_5><loc_9>", "<OPEN_VOCABULARY_DETECTION>", 1000, text_input="spike")
    assert parsed == {"spans": [[1, 3], [5, 10]], "labels": ["spike", "spike"], "scores": [None, None]}


def test_parse_grounding_has_no_channels():
    parsed = parse_generation("a spike<ch_2><loc_1><loc_2>", "<CAPTION_TO_PHRASE_GROUNDING>", 1000)
    assert parsed == {"spans": [[1, 3]], "labels": ["a spike"], "scores": [None]}


def test_parse_generation_is_the_task_parse():
    text = "spike<loc_1><loc_2>"
    assert parse_generation(text, "<EVENT_DETECTION>", 50) == get_task("<EVENT_DETECTION>").parse(text, 50)
    with pytest.raises(ValueError, match="unknown task"):
        parse_generation(text, "<OD>", 50)


FRAGMENTS = [
    "<loc_", "<loc_0>", "<loc_999>", "<loc_1000>", "<loc_99999>", "<loc_" + "9" * 5000 + ">", "<loc_-1>",
    "<ch_", "<ch_>", "<ch_3>", "<ch_64>", "<s>", "</s>", "<pad>", "<unk>", "<", ">", "<<", "spike", " ",
    "level shift", "é漢字🙂", "\x00", "\n", "<CAPTION>", SERIES_TOKEN, "<loc_٣>",
]  # fmt: skip
grammar_fragments = st.lists(
    st.sampled_from(FRAGMENTS)
    | st.builds("<loc_{}>".format, st.integers(0, 1200))
    | st.builds("<ch_{}>".format, st.integers(0, 70))
    | st.text(max_size=4),
    max_size=30,
).map("".join)


def assert_well_formed(spec: TaskSpec, result: dict, n: int) -> None:
    if spec.output_kind == "text":
        assert set(result) == {"text"} and isinstance(result["text"], str)
        return
    items = result.get("spans", result.get("points"))
    assert all(len(values) == len(items) for values in result.values())
    for s, e in result.get("spans", []):
        assert 0 <= s < e <= n
    assert all(0 <= p < n for p in result.get("points", []))
    assert result.get("points", []) == sorted(set(result.get("points", [])))
    assert all(score is None or 0.0 <= score <= 1.0 for score in result["scores"])
    assert all(label for label in result.get("labels", []) if spec.output_kind != "spans")
    assert all(c is None or 0 <= c < MAX_CHANNELS for c in result.get("channels", []))


@pytest.mark.parametrize("token", DESIGN_TOKENS)
@settings(max_examples=60, deadline=None)
@given(text=st.text() | grammar_fragments, n=st.integers(1, 10**6), data=st.data())
def test_parse_never_raises_and_returns_valid_results(token, text, n, data):
    spec = get_task(token)
    # A short list of any floats, repeated to one per character: texts can be longer than hypothesis draws.
    some = data.draw(st.none() | st.lists(st.floats(), min_size=1, max_size=16))
    scores = None if some is None else [some[i % len(some)] for i in range(len(text))]
    assert_well_formed(spec, spec.parse(text, n, text_input="spike", char_scores=scores), n)


# ---------------------------------------------------------------------------------------------------------
# Scores


def test_char_scores_give_the_geometric_mean_over_label_and_span_tokens():
    text = "<s>ab<loc_1><loc_2><loc_3><loc_4></s>"
    # "ab<loc_1" at 0.25 and ">" + "<loc_2>" at 1 (8 characters each): sqrt(0.25) = 0.5. The second span
    # shares the label "ab" (2 characters at 0.25) and has 14 characters at 1: 0.25 ** (2 / 16) = 0.8409.
    scores = [0.0] * 3 + [0.25] * 8 + [1.0] * 22 + [0.0] * 4
    assert len(scores) == len(text)
    parsed = parse_generation(text, "<EVENT_DETECTION>", 1000, char_scores=scores)
    assert parsed["scores"] == [0.5, 0.8409]


def test_char_scores_are_clipped_to_probabilities():
    text = "<loc_1><loc_2><loc_3>"
    scores = [1.7] * 7 + [-3.0] + [1.0] * 6 + [float("nan")] + [1.0] * 6
    parsed = parse_generation(text, "<CHANGE_POINT_DETECTION>", 1000, char_scores=scores)
    assert parsed["scores"] == [1.0, 0.0, 0.0]


def test_char_scores_of_a_point_are_those_of_its_token():
    text = "<loc_1><loc_2>"
    parsed = parse_generation(text, "<CHANGE_POINT_DETECTION>", 1000, char_scores=[0.81] * 7 + [1.0] * 7)
    assert parsed["scores"] == [0.81, 1.0]


def test_char_scores_must_cover_every_character():
    with pytest.raises(ValueError, match="expected one score per character"):
        parse_generation("<loc_1><loc_2>", "<SPAN_PROPOSAL>", 1000, char_scores=[1.0])


# ---------------------------------------------------------------------------------------------------------
# Prompts


def test_build_prompt_puts_the_prompt_after_the_token():
    assert get_task("<ANOMALY_DETECTION>").build_prompt() == "<ANOMALY_DETECTION>Locate the anomalies in the series."
    assert (
        get_task("<OPEN_VOCABULARY_DETECTION>").build_prompt(" level shift ")
        == "<OPEN_VOCABULARY_DETECTION>Locate level shift in the series."
    )
    assert (
        get_task("<SPAN_TO_CATEGORY>").build_prompt(span_to_text(10, 20, 100))
        == "<SPAN_TO_CATEGORY>What kind of pattern is at <loc_100><loc_190>?"
    )


@pytest.mark.parametrize("token", [token for token in DESIGN_TOKENS if TASKS[token].takes_input])
@pytest.mark.parametrize("text_input", [None, "", "  "])
def test_build_prompt_rejects_missing_input(token, text_input):
    with pytest.raises(ValueError, match=f"{token} needs .* input after the task token, got none"):
        get_task(token).build_prompt(text_input)


@pytest.mark.parametrize("token", [token for token in DESIGN_TOKENS if not TASKS[token].takes_input])
def test_build_prompt_rejects_unexpected_input(token):
    with pytest.raises(ValueError, match=f"{token} takes no input, got 'spike'"):
        get_task(token).build_prompt("spike")


@pytest.mark.parametrize("text_input", ["<loc_5>", "<loc_9><loc_2>", "<loc_1000><loc_2>", "<ch_1><loc_1><loc_2>", "x"])
def test_build_prompt_rejects_malformed_span_input(text_input):
    with pytest.raises(ValueError, match="needs one span '<loc_a><loc_b>'"):
        get_task("<SPAN_TO_DESCRIPTION>").build_prompt(text_input)


# ---------------------------------------------------------------------------------------------------------
# Training pairs from corpus records

BRIEF = "A flat series with a spike near the start."
DETAILED = "The series is flat at 0 with a spike near the start and a dip at the end."


def _span(start, end, channel, label, kind, description=None):
    return {
        "start": start, "end": end, "channel": channel, "label": label, "kind": kind,
        "description": description, "score": 1.0, "source": "synthetic", "round": 0,
    }  # fmt: skip


RECORD = {
    "id": "synthetic-1",
    "source": "synthetic",
    "split": "train",
    "values": [[0.0] * 100, [1.0] * 100],
    "captions": {"brief": BRIEF, "detailed": DETAILED, "more_detailed": None},
    "label": "flat",
    "spans": [
        _span(10, 13, 0, "spike", "anomaly", "a sharp spike up to 5"),
        _span(90, 100, None, "dip", "event"),
        _span(40, 50, 1, "spike", "event", "a spike on channel 1"),
    ],
    "segments": [
        {"start": 0, "end": 60, "label": "flat", "score": 1.0, "source": "synthetic", "round": 0},
        {"start": 60, "end": 100, "label": "noisy", "score": 1.0, "source": "synthetic", "round": 0},
    ],
    "change_points": [
        {"index": 60, "label": "variance", "score": 1.0, "source": "synthetic", "round": 0},
        {"index": 30, "label": "mean", "score": 0.5, "source": "synthetic", "round": 0},
    ],
    "groundings": [
        {"phrase": "a spike", "spans": [[10, 13]]},
        {"phrase": "a dip", "spans": [[90, 100]]},
        {"phrase": "a plateau", "spans": [[0, 5]]},  # in no caption: skipped
    ],
}

EXPECTED_PAIRS = {
    "<CAPTION>": [(None, BRIEF)],
    "<DETAILED_CAPTION>": [(None, DETAILED)],
    "<MORE_DETAILED_CAPTION>": [],
    "<CLASSIFICATION>": [(None, "flat")],
    "<ANOMALY_DETECTION>": [(None, "spike<ch_0><loc_100><loc_120>")],
    "<EVENT_DETECTION>": [(None, "spike<ch_1><loc_400><loc_490>dip<loc_900><loc_990>")],
    "<DENSE_SPAN_CAPTION>": [
        (None, "a sharp spike up to 5<ch_0><loc_100><loc_120>a spike on channel 1<ch_1><loc_400><loc_490>")
    ],
    "<SPAN_PROPOSAL>": [(None, "<loc_100><loc_120><loc_400><loc_490><loc_900><loc_990>")],
    "<REGIME_SEGMENTATION>": [(None, "flat<loc_0><loc_590>noisy<loc_600><loc_990>")],
    "<CHANGE_POINT_DETECTION>": [(None, "<loc_300><loc_600>")],
    # "a dip" is not in the brief caption, so the detailed one is the input.
    "<CAPTION_TO_PHRASE_GROUNDING>": [(DETAILED, "a spike<loc_100><loc_120>a dip<loc_900><loc_990>")],
    "<OPEN_VOCABULARY_DETECTION>": [
        ("dip", "<loc_900><loc_990>"),
        ("spike", "<loc_100><loc_120><loc_400><loc_490>"),
    ],
    "<SPAN_TO_CATEGORY>": [
        ("<loc_100><loc_120>", "spike"),
        ("<loc_900><loc_990>", "dip"),
        ("<loc_400><loc_490>", "spike"),
    ],
    "<SPAN_TO_DESCRIPTION>": [
        ("<loc_100><loc_120>", "a sharp spike up to 5"),
        ("<loc_400><loc_490>", "a spike on channel 1"),
    ],
}


@pytest.mark.parametrize("token", DESIGN_TOKENS)
def test_examples_of_a_hand_written_record(token):
    assert get_task(token).examples(RECORD) == EXPECTED_PAIRS[token]


@pytest.mark.parametrize("token", DESIGN_TOKENS)
def test_examples_are_empty_for_a_record_without_annotations(token):
    assert get_task(token).examples({"id": "bare", "values": [[0.0, 1.0, 2.0]]}) == []


def test_anomaly_examples_teach_an_empty_answer_when_spans_were_annotated_without_anomalies():
    record = {**RECORD, "spans": [_span(90, 100, None, "dip", "event")]}
    assert get_task("<ANOMALY_DETECTION>").examples(record) == [(None, "")]
    assert get_task("<ANOMALY_DETECTION>").examples({**RECORD, "spans": []}) == [(None, "")]
    assert get_task("<ANOMALY_DETECTION>").examples({**RECORD, "spans": None}) == []
    assert get_task("<EVENT_DETECTION>").examples({**RECORD, "spans": []}) == []


def test_grounding_examples_split_by_caption_when_no_caption_mentions_every_phrase():
    record = {**RECORD, "captions": {"brief": "A spike near the start.", "detailed": "Ends with a dip."}}
    assert get_task("<CAPTION_TO_PHRASE_GROUNDING>").examples(record) == [
        ("A spike near the start.", "a spike<loc_100><loc_120>"),
        ("Ends with a dip.", "a dip<loc_900><loc_990>"),
    ]


def test_examples_deduplicate_identical_pairs():
    record = {**RECORD, "spans": [_span(10, 13, 0, "spike", "anomaly"), _span(10, 13, 1, "spike", "anomaly")]}
    assert get_task("<SPAN_TO_CATEGORY>").examples(record) == [("<loc_100><loc_120>", "spike")]


def test_examples_of_every_task_parse_back_to_the_record_annotations():
    for token, pairs in EXPECTED_PAIRS.items():
        spec = get_task(token)
        for text_input, target in pairs:
            spec.build_prompt(text_input)
            assert spec.format_target(spec.parse(target, 100, text_input=text_input), 100) == target
