"""Tests of the synthetic and semi-synthetic generators (ts_florence/engine/synthetic.py)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from ts_florence import records as schema
from ts_florence.engine import descriptions
from ts_florence.engine.synthetic import (
    DEFAULT_CONFIG,
    EVENT_KINDS,
    GAP_MIN_FRACTION,
    MIN_SEGMENT_FRACTION,
    MISSING_MAX_FRACTION,
    REGIME_LABELS,
    SyntheticConfig,
    description_dict,
    generate_record,
    inject_events,
    noise_level,
    trend_direction,
)
from ts_florence.tasks import TASKS, get_task

SEEDS = range(300)
QUIET = SyntheticConfig(
    seasonality_probability=0.0, trend_probability=0.0, regime_change_probability=0.0, missing_probability=0.0
)
"""Noise plus events only: an event's effect on the mean can be read off the values."""


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [generate_record(seed) for seed in SEEDS]


def values_of(record: dict, channel: int | None) -> np.ndarray:
    return schema.values_array(record)[0 if channel is None else channel]


def meta_of(record: dict) -> dict:
    return json.loads(record["meta"])


def events_with_spans(record: dict) -> list[tuple[dict, dict]]:
    """Each span with its description event (same order: both sorted by start, then channel)."""
    events = meta_of(record)["description"]["events"]
    assert [(s["start"], s["end"], s["label"]) for s in record["spans"]] == [
        (e["start"], e["end"], e["label"]) for e in events
    ]
    return list(zip(record["spans"], events, strict=True))


def surroundings(record: dict, span: dict) -> tuple[int, int]:
    """The window the generator sizes an event on: three span widths and 16 samples each side."""
    n = len(record["values"][0])
    reach = 3 * (span["end"] - span["start"]) + 16
    return max(0, span["start"] - reach), min(n, span["end"] + reach)


def isolated(record: dict, span: dict) -> bool:
    """No other span and no regime boundary within the event's surroundings."""
    low, high = surroundings(record, span)
    others = [s for s in record["spans"] if s is not span and s["start"] < high and s["end"] > low]
    boundaries = [segment["start"] for segment in record["segments"][1:] if low <= segment["start"] < high]
    return not others and not boundaries


def isolated_events(records: list[dict], label: str, kind: str = "anomaly") -> list[tuple[dict, dict, dict]]:
    """(record, span, description event) of every isolated `label` event; visibility is checked on these, and
    tests ask for at least 5 of them so that the check cannot pass on nothing."""
    return [
        (record, span, event)
        for record in records
        for span, event in events_with_spans(record)
        if span["label"] == label and span["kind"] == kind and isolated(record, span)
    ]


def inside_and_around(record: dict, span: dict) -> tuple[np.ndarray, np.ndarray]:
    x = values_of(record, span["channel"])
    low, high = surroundings(record, span)
    return x[span["start"] : span["end"]], np.concatenate([x[low : span["start"]], x[span["end"] : high]])


def step_std(*pieces: np.ndarray) -> float:
    return float(np.concatenate([np.diff(piece) for piece in pieces]).std())


# ---------------------------------------------------------------------------------------------------------
# Determinism and shape


def test_same_seed_gives_a_bit_identical_record():
    for seed in (0, 7, 12345):
        assert json.dumps(generate_record(seed)) == json.dumps(generate_record(seed))


def test_different_seeds_give_different_values():
    hashes = {schema.values_hash(generate_record(seed)) for seed in range(50)}
    assert len(hashes) == 50


def test_record_has_the_schema_fields_id_source_and_split():
    record = generate_record(5, split="eval", id_prefix="frozen")
    assert record["id"] == "frozen-5"
    assert record["source"] == "synthetic"
    assert record["split"] == "eval"
    assert set(record) == set(schema.new_record("x", "y", [0.0]))
    assert record["captions"] == {"brief": "", "detailed": "", "more_detailed": "", "source": ""}
    n_channels, n = np.shape(record["values"])
    assert len(record["channel_names"]) == n_channels
    assert record["timestamps"] is None or len(record["timestamps"]) == n


def test_lengths_stay_within_bounds_and_spread(records):
    lengths = [len(record["values"][0]) for record in records]
    assert DEFAULT_CONFIG.min_length <= min(lengths) and max(lengths) <= DEFAULT_CONFIG.max_length
    assert sum(n < 256 for n in lengths) >= 30
    assert sum(n > 2048 for n in lengths) >= 30
    config = SyntheticConfig(min_length=100, max_length=120)
    assert all(100 <= len(generate_record(seed, config=config)["values"][0]) <= 120 for seed in range(30))


def test_values_span_very_different_units(records):
    magnitudes = [np.nanmedian(np.abs(schema.values_array(record))) for record in records]
    assert min(magnitudes) < 1e-1 and max(magnitudes) > 1e4


def test_some_series_are_multivariate_with_at_most_max_channels(records):
    channels = [len(record["values"]) for record in records]
    assert 0.15 < np.mean([c > 1 for c in channels]) < 0.35
    assert max(channels) <= DEFAULT_CONFIG.max_channels


# ---------------------------------------------------------------------------------------------------------
# Annotations


def test_every_anomaly_kind_appears_over_300_seeds(records):
    found = {span["label"] for record in records for span in record["spans"] if span["kind"] == "anomaly"}
    assert found == set(schema.ANOMALY_LABELS)
    events = {span["label"] for record in records for span in record["spans"] if span["kind"] == "event"}
    assert events == {"peak", "trough", "gap", "level shift"}


def test_annotations_use_schema_labels_and_synthetic_provenance(records):
    for record in records:
        for span in record["spans"]:
            assert span["label"] in (schema.ANOMALY_LABELS if span["kind"] == "anomaly" else schema.EVENT_LABELS)
            assert (span["source"], span["score"], span["round"], span["description"]) == ("synthetic", 1.0, 0, None)
        for entry in record["segments"] + record["change_points"]:
            assert (entry["source"], entry["score"], entry["round"]) == ("synthetic", 1.0, 0)


def test_spans_are_inside_the_series_non_degenerate_and_disjoint(records):
    for record in records:
        n = len(record["values"][0])
        spans = sorted(record["spans"], key=lambda s: s["start"])
        assert all(0 <= s["start"] < s["end"] <= n for s in spans)
        # Disjoint on every channel at once: the span-input tasks carry no channel token.
        assert all(a["end"] <= b["start"] for a, b in zip(spans, spans[1:], strict=False))


def test_multivariate_events_name_a_valid_channel_and_univariate_ones_none(records):
    for record in records:
        n_channels = len(record["values"])
        for span in record["spans"]:
            if n_channels == 1 or span["label"] == "gap" or span["kind"] == "event" and span["label"] == "level shift":
                assert span["channel"] is None
            else:
                assert 0 <= span["channel"] < n_channels


def test_segments_tile_the_series_in_order_with_regime_labels(records):
    labels = {label for names in REGIME_LABELS.values() for label in names}
    for record in records:
        n = len(record["values"][0])
        segments = record["segments"]
        assert segments[0]["start"] == 0 and segments[-1]["end"] == n
        assert all(a["end"] == b["start"] for a, b in zip(segments, segments[1:], strict=False))
        assert all(s["label"] in labels for s in segments)
        assert all(a["label"] != b["label"] for a, b in zip(segments, segments[1:], strict=False))
        if len(segments) > 1:
            shortest = max(16, math.ceil(MIN_SEGMENT_FRACTION * n))
            assert all(s["end"] - s["start"] >= shortest for s in segments)
    assert sum(len(record["segments"]) > 1 for record in records) >= 60


def test_change_points_lie_inside_the_series_at_boundaries_and_shift_ends(records):
    for record in records:
        n = len(record["values"][0])
        points = {p["index"]: p["label"] for p in record["change_points"]}
        assert all(0 < i < n for i in points)
        assert [p["index"] for p in record["change_points"]] == sorted(points)
        for segment in record["segments"][1:]:
            assert points[segment["start"]] == "regime change"
        for span in record["spans"]:
            if span["kind"] == "anomaly" and span["label"] in ("level shift", "trend change"):
                assert points[span["start"]] == span["label"] and points[span["end"]] == span["label"]


def test_no_event_straddles_a_regime_boundary(records):
    for record in records:
        for segment in record["segments"][1:]:
            b = segment["start"]
            for span in record["spans"]:
                if not (span["kind"] == "event" and span["label"] == "level shift"):
                    assert not span["start"] < b < span["end"], (record["id"], span)


def test_level_regimes_have_a_level_shift_event_at_each_boundary(records):
    level_records = [r for r in records if meta_of(r)["regime"]["axis"] == "level"]
    assert level_records
    for record in level_records:
        steps = [s for s in record["spans"] if s["kind"] == "event" and s["label"] == "level shift"]
        centres = [(s["start"] + s["end"]) // 2 for s in steps]
        assert centres == [segment["start"] for segment in record["segments"][1:]]


# ---------------------------------------------------------------------------------------------------------
# Each event shows in the values at its span


def test_spikes_and_dips_reach_beyond_everything_around_them(records):
    spikes, dips = isolated_events(records, "spike"), isolated_events(records, "dip")
    assert len(spikes) >= 5 and len(dips) >= 5
    for record, span, event in spikes:
        inside, around = inside_and_around(record, span)
        assert inside.max() > np.nanmax(around) and event["magnitude"] > 0
    for record, span, event in dips:
        inside, around = inside_and_around(record, span)
        assert inside.min() < np.nanmin(around) and event["magnitude"] < 0


def test_level_shift_moves_the_mean_by_its_magnitude(records):
    shifts = isolated_events(records, "level shift")
    assert len(shifts) >= 5
    for record, span, event in shifts:
        inside, around = inside_and_around(record, span)
        assert 0.4 < (inside.mean() - np.nanmean(around)) / event["magnitude"] < 1.6
    # With noise alone, the mean over the span minus the mean next to it is the magnitude, up to what correlated
    # noise leaves over 20 samples or more (at most 34% of the magnitude over 783 shifts).
    checked = 0
    for record in (generate_record(seed, config=QUIET) for seed in range(300)):
        for span, event in events_with_spans(record):
            start, end = span["start"], span["end"]
            width = end - start
            near = [
                s for s in record["spans"] if s is not span and s["start"] < end + width and s["end"] > start - width
            ]
            if span["label"] != "level shift" or width < 20 or near:
                continue
            x = values_of(record, span["channel"])
            beside = np.concatenate([x[max(0, start - width) : start], x[end : end + width]])
            assert x[start:end].mean() - beside.mean() == pytest.approx(event["magnitude"], rel=0.4)
            checked += 1
    assert checked >= 20


def test_trend_change_ramps_the_level_by_its_magnitude(records):
    changes = isolated_events(records, "trend change")
    assert len(changes) >= 5
    for record, span, event in changes:
        x = values_of(record, span["channel"])
        start, end = span["start"], span["end"]
        width = end - start
        rise = np.nanmean(x[end : end + width]) - np.nanmean(x[max(0, start - width) : start])
        assert 0.3 < rise / event["magnitude"] < 2.0


def test_variance_and_oscillation_bursts_roughen_the_span(records):
    for label in ("variance burst", "oscillation burst"):
        bursts = isolated_events(records, label)
        assert len(bursts) >= 5, label
        for record, span, _ in bursts:
            x = values_of(record, span["channel"])
            low, high = surroundings(record, span)
            inside = step_std(x[span["start"] : span["end"]])
            outside = step_std(x[low : span["start"]], x[span["end"] : high])
            assert inside > 1.5 * outside, (label, record["id"])


def test_flat_line_holds_the_value_before_it(records):
    flats = [(r, s) for r in records for s in r["spans"] if s["label"] == "flat line"]
    assert len(flats) >= 20
    for record, span in flats:
        x = values_of(record, span["channel"])
        assert np.all(x[span["start"] : span["end"]] == x[span["start"] - 1])
    for record, span, _ in isolated_events(records, "flat line"):
        _, around = inside_and_around(record, span)
        assert np.ptp(around) > 0


def test_nan_is_exactly_on_missing_stretches_and_gaps(records):
    for record in records:
        x = schema.values_array(record)
        n_channels, n = x.shape
        expected = np.zeros_like(x, dtype=bool)
        for span in record["spans"]:
            if span["label"] in ("missing stretch", "gap"):
                rows = range(n_channels) if span["channel"] is None else [span["channel"]]
                for row in rows:
                    expected[row, span["start"] : span["end"]] = True
                if span["label"] == "missing stretch":
                    assert span["end"] - span["start"] <= max(1, MISSING_MAX_FRACTION * n)
                else:
                    assert span["end"] - span["start"] >= GAP_MIN_FRACTION * n
        assert np.array_equal(np.isnan(x), expected), record["id"]
    assert sum(s["label"] == "missing stretch" for r in records for s in r["spans"]) >= 10


def test_peaks_and_troughs_are_broad_bumps_of_their_sign(records):
    for label, sign in (("peak", 1), ("trough", -1)):
        bumps = isolated_events(records, label, kind="event")
        assert len(bumps) >= 5, label
        for record, span, event in bumps:
            x = values_of(record, span["channel"])
            start, end = span["start"], span["end"]
            assert end - start >= 8 and np.sign(event["magnitude"]) == sign
            # Against the level at its two ends, which a local trend does not tilt.
            reach = max(3, (end - start) // 4)
            base = (np.median(x[max(0, start - reach) : start]) + np.median(x[end : end + reach])) / 2
            apex = x[start:end].max() if sign > 0 else x[start:end].min()
            assert (apex - base) / event["magnitude"] > 0.25, (label, record["id"])


# ---------------------------------------------------------------------------------------------------------
# Description


def test_description_periods_are_the_periodogram_peak_of_a_seasonal_series():
    config = SyntheticConfig(
        trend_probability=0.0,
        regime_change_probability=0.0,
        max_events=0,
        missing_probability=0.0,
        seasonality_probability=1.0,
    )
    checked = 0
    for seed in range(100):
        record = generate_record(seed, config=config)
        channel = meta_of(record)["description"]["channels"][0]
        if not channel["periods"] or channel["noise"] == "high":
            continue
        x = values_of(record, 0)
        n = len(x)
        power = np.abs(np.fft.rfft(x - x.mean())) ** 2
        peak = int(np.argmax(power[1:])) + 1
        assert peak in (math.floor(n / channel["periods"][0]), math.ceil(n / channel["periods"][0])), record["id"]
        checked += 1
    assert checked >= 40


def test_description_periods_are_strongest_first_and_at_most_a_third_of_the_series(records):
    for record in records:
        meta = meta_of(record)
        n = len(record["values"][0])
        amplitudes = meta["seasonal_amplitudes_base"]
        assert amplitudes == sorted(amplitudes, reverse=True)
        for channel in meta["description"]["channels"]:
            assert channel["periods"] == meta["periods"]
            assert all(p <= n / 2.5 for p in channel["periods"])


def test_description_measures_mean_and_extremes_on_the_final_values(records):
    for record in records[:100]:
        for row, channel in zip(schema.values_array(record), meta_of(record)["description"]["channels"], strict=True):
            finite = np.isfinite(row)
            assert channel["mean"] == pytest.approx(row[finite].mean())
            assert channel["minimum"] == np.nanmin(row) == row[channel["minimum_at"]]
            assert channel["maximum"] == np.nanmax(row) == row[channel["maximum_at"]]
            assert channel["missing_fraction"] == pytest.approx(1 - finite.mean())


def test_description_labels_noise_and_trend_with_the_documented_thresholds(records):
    assert noise_level(0.01, 1.0) == "low" and noise_level(0.1, 1.0) == "moderate" and noise_level(0.3, 1) == "high"
    assert trend_direction(5.0, 0.9, 10.0) == "rising" and trend_direction(-5.0, 0.9, 10.0) == "falling"
    assert trend_direction(5.0, 0.1, 10.0) == "flat" and trend_direction(0.5, 0.9, 10.0) == "flat"
    labels = [c["noise"] for r in records for c in meta_of(r)["description"]["channels"]]
    assert {labels.count(level) > 30 for level in ("low", "moderate", "high")} == {True}
    for record in records:
        for channel in meta_of(record)["description"]["channels"]:
            assert 0.0 <= channel["trend_strength"] <= 1.0 and 0.0 <= channel["seasonal_strength"] <= 1.0
            assert channel["noise_std"] > 0


def test_description_events_and_segments_match_the_annotations(records):
    for record in records:
        description = meta_of(record)["description"]
        assert description["length"] == len(record["values"][0])
        assert [tuple(s) for s in description["segments"]] == [
            (s["start"], s["end"], s["label"]) for s in record["segments"]
        ]
        for span, event in events_with_spans(record):
            assert (event["kind"], event["channel"]) == (span["kind"], span["channel"])


def test_description_dict_equals_to_dict():
    for seed in range(20):
        record = generate_record(seed)
        description = meta_of(record)["description"]
        rebuilt = descriptions.SeriesDescription(
            length=description["length"],
            channels=[descriptions.ChannelDescription(**c) for c in description["channels"]],
            events=[descriptions.EventDescription(**e) for e in description["events"]],
            segments=[tuple(s) for s in description["segments"]],
            sampling=description["sampling"],
            label=description["label"],
        )
        assert description_dict(rebuilt) == rebuilt.to_dict()
        assert json.loads(json.dumps(rebuilt.to_dict())) == description


def test_timestamps_follow_the_sampling_of_the_main_period(records):
    natural = {
        24: "hourly",
        168: "hourly",
        7: "daily",
        365: "daily",
        12: "monthly",
        52: "weekly",
        96: "quarter-hourly",
        60: "minutely",
    }
    seconds = {"minutely": 60, "quarter-hourly": 900, "hourly": 3600, "daily": 86400, "weekly": 604800}
    with_stamps = [r for r in records if r["timestamps"] is not None]
    assert 0.35 < len(with_stamps) / len(records) < 0.65
    for record in with_stamps:
        description = meta_of(record)["description"]
        stamps = np.asarray(record["timestamps"], dtype="datetime64[s]")
        steps = np.unique(np.diff(stamps).astype(np.int64))
        if description["sampling"] == "monthly":
            assert set(steps.tolist()) <= {d * 86400 for d in (28, 29, 30, 31)}
        else:
            assert steps.tolist() == [seconds[description["sampling"]]]
        main = description["channels"][0]["periods"][:1]
        if main and main[0] in natural:
            assert natural[main[0]] == description["sampling"]
    assert all(meta_of(r)["description"]["sampling"] is None for r in records if r["timestamps"] is None)


def test_single_segment_takes_the_dominant_component_as_label(records):
    for record in records:
        if len(record["segments"]) > 1:
            continue
        channel = meta_of(record)["description"]["channels"][0]
        label = record["segments"][0]["label"]
        if channel["trend"] != "flat":
            assert label == channel["trend"]
        else:
            assert label in ("seasonal", "calm", "volatile")


# ---------------------------------------------------------------------------------------------------------
# Records feed every task


def test_records_give_training_pairs_for_every_task_without_error(records):
    for record in records:
        for token in TASKS:
            pairs = get_task(token).examples(record)
            if token in ("<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>", "<CLASSIFICATION>"):
                assert pairs == []
        assert get_task("<REGIME_SEGMENTATION>").examples(record)
        assert len(get_task("<ANOMALY_DETECTION>").examples(record)) == 1


# ---------------------------------------------------------------------------------------------------------
# Config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_length": 16},
        {"min_length": 500, "max_length": 100},
        {"max_channels": 1},
        {"max_events": -1},
        {"missing_probability": 1.5},
    ],
)
def test_config_rejects_values_it_cannot_honour(kwargs):
    with pytest.raises(ValueError):
        SyntheticConfig(**kwargs)


# ---------------------------------------------------------------------------------------------------------
# Semi-synthetic


@pytest.fixture(scope="module")
def real_record() -> dict:
    """A stand-in for a real record: a wandering multivariate series with its own NaN, annotations and captions."""
    rng = np.random.default_rng(3)
    n = 900
    t = np.arange(n)
    walk = np.cumsum(rng.normal(size=n))
    values = np.stack(
        [50 + walk + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(size=n), 1e-3 * (walk + rng.standard_t(3, size=n))]
    )
    values[1, 100:110] = np.nan
    stamps = np.datetime_as_string(np.datetime64("2021-01-01T00:00") + np.arange(n) * np.timedelta64(1, "h"))
    record = schema.new_record(
        "pkg:file:col@0",
        "pkg:file:col",
        values,
        timestamps=stamps.tolist(),
        channel_names=["load", "price"],
        label="industrial",
        meta={"window": 0},
    )
    record["spans"] = [schema.span(10, 20, "spike", "anomaly", source="zscore")]
    record["segments"] = [schema.segment(0, n, "calm", source="ruptures")]
    record["captions"]["brief"] = "A wandering series."
    return record


def test_inject_events_leaves_the_input_record_untouched(real_record):
    before = copy.deepcopy(real_record)
    inject_events(real_record, 1, max_events=3)
    assert json.dumps(real_record) == json.dumps(before)


def test_inject_events_is_deterministic_and_names_its_provenance(real_record):
    first, again = inject_events(real_record, 4), inject_events(real_record, 4)
    assert json.dumps(first) == json.dumps(again)
    assert first["id"] == "pkg:file:col@0+inj4"
    assert first["source"] == "semi:pkg:file:col"
    meta = meta_of(first)
    assert meta["original_id"] == "pkg:file:col@0" and meta["original_meta"] == {"window": 0}
    assert inject_events(real_record, 5)["values"] != first["values"]


def test_inject_events_names_the_sampling_as_the_describer_does(real_record):
    from ts_florence.engine.specialists import RegimeDescriber

    assert meta_of(inject_events(real_record, 2))["description"]["sampling"] == "hourly"
    # readings about every half hour, none exactly 30 minutes apart (a parking sensor): one rule, one name
    steps = np.random.default_rng(0).integers(1700, 2100, size=len(real_record["values"][0]))
    stamps = np.datetime64("2016-10-13T09:57:08") + np.cumsum(steps).astype("timedelta64[s]")
    irregular = {**real_record, "timestamps": np.datetime_as_string(stamps, unit="s").tolist()}
    measured = RegimeDescriber().describe(schema.values_array(irregular), irregular["timestamps"])
    assert meta_of(inject_events(irregular, 2))["description"]["sampling"] == measured.sampling == "half-hourly"


def test_inject_events_keeps_label_timestamps_and_names_and_drops_annotations(real_record):
    injected = inject_events(real_record, 2)
    assert injected["label"] == "industrial"
    assert injected["timestamps"] == real_record["timestamps"]
    assert injected["channel_names"] == ["load", "price"]
    assert injected["segments"] == [] and injected["change_points"] == [] and injected["groundings"] == []
    assert injected["captions"]["brief"] == ""
    assert meta_of(injected)["description"]["sampling"] == "hourly"
    assert all((s["source"], s["score"], s["round"]) == ("injected", 1.0, 0) for s in injected["spans"])


def test_injected_events_change_the_values_exactly_on_their_spans(real_record):
    original = schema.values_array(real_record)
    seen = set()
    for seed in range(60):
        injected = inject_events(real_record, seed, max_events=3, kinds=list(EVENT_KINDS))
        assert 1 <= len(injected["spans"]) <= 3
        values = schema.values_array(injected)
        placed = [
            (span, event, range(len(values)) if span["channel"] is None else [span["channel"]])
            for span, event in events_with_spans(injected)
        ]
        # A trend change leaves the level it reached: everything after it sits on that offset.
        baseline = original.copy()
        for span, event, rows in placed:
            if span["label"] == "trend change":
                baseline[list(rows), span["end"] :] += event["magnitude"]
        touched = np.zeros_like(values, dtype=bool)
        for span, _, rows in placed:
            seen.add(span["label"])
            start, end = span["start"], span["end"]
            for row in rows:
                touched[row, start:end] = True
                new = values[row, start:end]
                changed = ~np.isclose(new, baseline[row, start:end], rtol=1e-6, atol=0.0)
                if span["label"] in ("missing stretch", "gap"):
                    assert np.isnan(new).all()
                elif span["label"] == "flat line":
                    assert np.all(new == values[row, start - 1]) and changed.any()
                elif span["label"] in ("variance burst", "oscillation burst"):
                    assert changed.mean() >= 0.9
                else:
                    assert changed.all(), span
        outside = ~touched
        assert np.allclose(values[outside], baseline[outside], rtol=1e-6, atol=0.0, equal_nan=True)
        assert np.array_equal(np.isnan(values[outside]), np.isnan(original[outside]))
    assert seen == set(EVENT_KINDS)


def test_injected_spikes_show_and_stay_within_a_few_ranges_of_the_series(real_record):
    original = schema.values_array(real_record)
    for seed in range(40):
        injected = inject_events(real_record, seed, kinds=["spike", "dip"])
        for span, event in events_with_spans(injected):
            x = original[0 if span["channel"] is None else span["channel"]]
            assert abs(event["magnitude"]) < 5 * (np.nanmax(x) - np.nanmin(x))
            if not isolated(injected, span):
                continue  # each spike clears the series around it, not another injected spike
            inside, around = inside_and_around(injected, span)
            if span["label"] == "spike":
                assert inside.max() > np.nanmax(around)
            else:
                assert inside.min() < np.nanmin(around)


def test_injected_events_avoid_nan_already_in_the_series(real_record):
    for seed in range(40):
        for span in inject_events(real_record, seed, kinds=["spike", "level shift", "flat line"])["spans"]:
            if span["channel"] == 1:
                assert span["end"] < 100 or span["start"] > 110


def test_inject_events_rejects_unknown_kinds_and_short_series(real_record):
    with pytest.raises(ValueError, match="unknown"):
        inject_events(real_record, 0, kinds=["spike", "wobble"])
    with pytest.raises(ValueError, match="max_events"):
        inject_events(real_record, 0, max_events=0)
    with pytest.raises(ValueError, match="at least 32"):
        inject_events(schema.new_record("short", "pkg", np.arange(20.0)), 0)


def test_injected_defects_are_what_their_annotation_says(real_record):
    """Permanent changes last to the end and are annotated at their onset; a pattern break replays the series
    faster and meets it at both ends; each carries the vocabulary's label."""
    from ts_florence.engine.injection import DEFECTS, onset_width

    original = schema.values_array(real_record)
    n = original.shape[1]
    seen = set()
    for defect, label in DEFECTS.items():
        for seed in range(8):
            injected = inject_events(real_record, seed, max_events=1, kinds=[defect])
            ((span, event),) = events_with_spans(injected)
            values = schema.values_array(injected)
            row, start, end = span["channel"], span["start"], span["end"]
            assert span["label"] == label and span["kind"] == "anomaly" and row in (0, 1)
            others = [c for c in range(len(values)) if c != row]
            assert np.array_equal(values[others], original[others], equal_nan=True)
            change = values[row] - original[row]
            assert np.allclose(values[row, :start], original[row, :start], rtol=1e-6, equal_nan=True)
            if defect == "permanent level shift":
                assert end - start == onset_width(n)
                assert np.allclose(change[start:], event["magnitude"], rtol=1e-4)
            elif defect == "permanent trend change":
                assert end - start == onset_width(n)
                ramp = change[start:]
                assert abs(ramp[-1] - event["magnitude"]) < 1e-3 * abs(event["magnitude"])
                assert np.all(np.diff(ramp) * np.sign(event["magnitude"]) > 0)
            else:
                assert np.allclose(values[row, end:], original[row, end:], rtol=1e-6, equal_nan=True)
                inside = values[row, start:end]
                assert np.abs(np.diff(inside)).mean() >= 1.5 * np.abs(np.diff(original[row, start:end])).mean()
            seen.add(defect)
    assert seen == set(DEFECTS)


def test_inject_events_works_on_a_synthetic_record_of_one_channel():
    record = generate_record(11, config=SyntheticConfig(multivariate_probability=0.0))
    injected = inject_events(record, 0)
    assert injected["source"] == "semi:synthetic"
    assert all(span["channel"] is None and span["kind"] == "anomaly" for span in injected["spans"])
    for token in TASKS:
        get_task(token).examples(injected)


def test_noise_level_of_a_constant_channel_is_defined():
    from ts_florence.engine.synthetic import noise_level

    assert noise_level(0.0, 0.0) == "low"
    assert noise_level(1.0, 0.0) == "high"
    assert noise_level(float("nan"), 1.0) == "high"
