"""Long DataFrames of many series (ts_florence.long_format): items read as the docs say, one table out of the pipeline
and of the CLI, and bad input named by item and column. The bundled model answers: it is fast and offline."""

import logging

import numpy as np
import pandas as pd
import pytest
from transformers import pipeline

import ts_florence  # noqa: F401  (registers "time-series-prompting")
from ts_florence import cli
from ts_florence.long_format import TABLE_COLUMNS, long_items, regular_grid

TASKS = ["<ANOMALY_DETECTION>", "<CAPTION>"]
TARGETS = ["target", "humidity"]


@pytest.fixture(scope="module")
def pipe():
    return pipeline("time-series-prompting")


def _wave(rng, n: int) -> np.ndarray:
    x = np.sin(np.arange(n) / 4) + 0.2 * rng.normal(size=n)
    x[n // 2] += 6  # a spike
    return x


@pytest.fixture(scope="module")
def parts():
    """item -> (timestamps, values `(time, channels)` as the model should read them); NaN where a gap was."""
    rng = np.random.default_rng(0)
    hours = pd.date_range("2026-03-01", periods=200, freq="h")
    gappy = _wave(rng, 200)
    gappy[80:100] = np.nan
    return {
        "plain": (hours[:160], _wave(rng, 160)[:, None]),
        "multi": (hours[:120], np.stack([_wave(rng, 120), rng.normal(size=120).cumsum()], axis=1)),
        "gappy": (hours, gappy[:, None]),
        "shuffled": (pd.date_range("2026-03-01", periods=150, freq="15min"), _wave(rng, 150)[:, None]),
    }


@pytest.fixture
def frame(parts):
    """The long frame of `parts`: one item multivariate, one with a gap (rows missing), one with its rows shuffled."""
    pieces = []
    for item, (times, values) in parts.items():
        piece = pd.DataFrame({"item_id": item, "timestamp": times, "target": values[:, 0], "humidity": np.nan})
        if values.shape[1] > 1:
            piece["humidity"] = values[:, 1]
        piece = piece.dropna(subset=["target"])  # the gap: its rows are not there
        if item == "shuffled":
            piece = piece.sample(frac=1.0, random_state=0)
        pieces.append(piece)
    return pd.concat(pieces, ignore_index=True)


def _by_hand(pipe, parts, tasks):
    """What the pipeline answers on each item's arrays, as a list of rows of the table."""
    results = pipe([v for _, v in parts.values()], timestamps=[t for t, _ in parts.values()], task=tasks, batch_size=2)
    rows = []
    for (item, (_, values)), result in zip(parts.items(), results, strict=True):
        names = TARGETS[: values.shape[1]]
        for task, found in result.items():
            if "text" in found:
                rows.append((item, task, None, None, found["text"]))
                continue
            for (s, e), label, channel in zip(found["spans"], found["labels"], found["channels"], strict=True):
                rows.append((item, task, (s, e), (label, None if channel is None else names[channel]), None))
    return rows


def _rows(table):
    rows = []
    for r in table.itertuples(index=False):
        if r.task == "<CAPTION>":
            rows.append((r.item_id, r.task, None, None, r.text))
        else:
            channel = None if pd.isna(r.channel) else r.channel  # no channel (a span over all): missing in the table
            rows.append((r.item_id, r.task, (r.start, r.end), (r.label, channel), None))
    return rows


def test_a_long_frame_gives_the_table_of_what_the_pipeline_finds_in_each_item(pipe, frame, parts):
    table = pipe(frame, task=TASKS, id_column="item_id", target=TARGETS, batch_size=2)
    assert tuple(table.columns) == TABLE_COLUMNS
    # Items sorted, gap filled with NaN, multivariate stacked: the same answers as on the arrays made by hand.
    assert _rows(table) == _by_hand(pipe, parts, TASKS)
    assert list(dict.fromkeys(table["item_id"])) == list(parts)  # every item has a caption; frame order
    spans = table[table["task"] == "<ANOMALY_DETECTION>"]
    assert len(spans) > 0 and spans["score"].between(0, 1).all()
    assert set(spans["channel"].dropna()) <= set(TARGETS)
    for row in spans.itertuples():
        times = parts[row.item_id][0]
        assert (row.start_timestamp, row.end_timestamp) == (times[row.start], times[row.end - 1])
    captions = table[table["task"] == "<CAPTION>"]
    assert captions["text"].str.len().gt(0).all() and captions["start"].isna().all()


def test_items_are_sorted_gaps_filled_and_lacking_channels_dropped(frame, parts):
    items = {item.item_id: item for item in long_items(frame, target=TARGETS)}
    for name, (times, values) in parts.items():
        assert items[name].timestamps.equals(times)
        np.testing.assert_array_equal(items[name].values, values)
    assert items["gappy"].filled == 20 and items["plain"].filled == 0
    assert items["multi"].channel_names == TARGETS and items["plain"].channel_names == ["target"]


def test_without_timestamps_the_rows_are_the_samples_in_the_frames_order(pipe, frame):
    (item,) = long_items(frame[frame["item_id"] == "shuffled"], timestamp_column=None)
    np.testing.assert_array_equal(item.values[:, 0], frame.loc[frame["item_id"] == "shuffled", "target"])
    table = pipe(frame.drop(columns="timestamp"), task="<ANOMALY_DETECTION>", timestamp_column=None)
    assert table["start_timestamp"].isna().all()


GRIDS = {
    "business days": pd.bdate_range("2026-01-01", periods=40),
    "month ends": pd.date_range("2026-01-31", periods=24, freq="ME"),
    "minutes": pd.date_range("2026-01-01", periods=30, freq="5min", tz="UTC"),
}


@pytest.mark.parametrize("name", list(GRIDS))
def test_the_grid_of_an_item_with_gaps_is_its_inferred_frequency(name):
    assert regular_grid(GRIDS[name].delete([3, 10, 11])).equals(GRIDS[name])


def test_jittered_times_are_read_as_they_are_with_a_warning(caplog):
    jitter = np.random.default_rng(0).integers(0, 10**6, 20)
    times = pd.date_range("2026-01-01", periods=20, freq="h") + pd.to_timedelta(jitter, unit="us")
    frame = pd.DataFrame({"item_id": "j", "timestamp": times, "target": np.arange(20.0)})
    with caplog.at_level(logging.WARNING, logger="ts_florence.long_format"):
        (item,) = long_items(frame)
    assert item.timestamps.equals(times) and "item 'j': timestamps lie on no regular grid" in caplog.text


def _edit(frame, item, column, value, at=0):
    frame = frame.copy()
    if isinstance(value, str) and pd.api.types.is_numeric_dtype(frame[column]):
        frame[column] = frame[column].astype(object)
    frame.loc[frame.index[frame["item_id"] == item][at], column] = value
    return frame


BAD_INPUT = {
    "missing id column": (lambda f: f.drop(columns="item_id"), {}, r"column 'item_id' \(id_column\) not found"),
    "missing target": (lambda f: f, {"target": "load"}, r"column 'load' \(target\) not found; available columns"),
    "missing timestamps": (lambda f: f.drop(columns="timestamp"), {}, r"column 'timestamp' \(timestamp_column\) not f"),
    "non-numeric target": (
        lambda f: _edit(f, "multi", "humidity", "high", at=3),
        {},
        r"item 'multi': column 'humidity' \(target\) is not numeric: row \d+ holds 'high'",
    ),
    "infinite value": (
        lambda f: _edit(f, "gappy", "target", np.inf),
        {},
        r"item 'gappy': column 'target' \(target\) holds an infinite value in row \d+; use NaN",
    ),
    "duplicate timestamps": (
        lambda f: pd.concat([f, f[f["item_id"] == "shuffled"].iloc[[5]]]),
        {},
        r"item 'shuffled': duplicate timestamps in column 'timestamp': 2026-03-0\d \S+ appears more than once",
    ),
    "time that does not parse": (
        lambda f: _edit(f.astype({"timestamp": str}), "plain", "timestamp", "yesterday"),
        {},
        r"item 'plain': column 'timestamp' \(timestamp_column\) does not parse as a time in row 0: 'yesterday'",
    ),
    "all-NaN item": (
        lambda f: f.assign(target=f["target"].where(f["item_id"] != "plain")),
        {},
        r"item 'plain': no observed value in column\(s\) \['target', 'humidity'\] \(target\): all 160 samples",
    ),
    "row without an id": (
        lambda f: _edit(f.astype({"item_id": object}), "gappy", "item_id", None),
        {},
        r"column 'item_id' \(id_column\) has no id in row \d+",
    ),
    "empty frame": (lambda f: f.iloc[:0], {}, r"the frame has no rows \(columns: \['item_id', 'timestamp'"),
    "stray time": (
        lambda f: _edit(f, "multi", "timestamp", pd.Timestamp("2030-01-01")),
        {},
        r"item 'multi': filling the gaps between its 120 timestamps .* would make \d+ samples, over 10 times",
    ),
    "two roles": (lambda f: f, {"target": ["target", "item_id"]}, r"\['item_id'\] given two roles"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_clear_error_naming_the_item_and_column(pipe, frame, case):
    change, arguments, message = BAD_INPUT[case]
    arguments = {"id_column": "item_id", "target": TARGETS, **arguments}
    with pytest.raises(ValueError, match=message):
        pipe(change(frame), task="<ANOMALY_DETECTION>", **arguments)


def test_a_frame_with_an_item_id_column_but_no_id_column_argument_says_how_to_read_it(pipe, frame):
    with pytest.raises(ValueError, match="pass id_column='item_id' to read it as a long frame"):
        pipe(frame, task="<ANOMALY_DETECTION>")


def _normalized(table):
    """The table with its times in one unit and its texts as objects (None = missing), as CSV and Parquet read
    back."""
    table = table.astype({"start_timestamp": "datetime64[ns]", "end_timestamp": "datetime64[ns]"})
    texts = ["task", "label", "channel", "text"]
    return table.astype(dict.fromkeys(texts, object)).replace(dict.fromkeys(texts, {np.nan: None}))


def test_the_cli_writes_the_same_table_as_csv_or_parquet_from_csv_or_parquet(pipe, frame, tmp_path, capsys):
    expected = _normalized(pipe(frame, task=TASKS, id_column="item_id", target=TARGETS, batch_size=2))
    frame.to_csv(tmp_path / "long.csv", index=False)
    frame.to_parquet(tmp_path / "long.parquet")
    for source, out in (("long.csv", "out.parquet"), ("long.parquet", "out.csv")):
        assert cli.main(["predict", str(tmp_path / source), "--id-column", "item_id", "--target", *TARGETS,
                         "--task", *TASKS, "--batch-size", "2", "--output", str(tmp_path / out)]) == 0  # fmt: skip
        assert f"rows for 4 series written to {tmp_path / out}" in capsys.readouterr().err
        if out.endswith(".csv"):
            found = pd.read_csv(tmp_path / out, parse_dates=["start_timestamp", "end_timestamp"])
            found = found.astype({"start": "Int64", "end": "Int64"})
        else:
            found = pd.read_parquet(tmp_path / out)
        pd.testing.assert_frame_equal(_normalized(found), expected, check_exact=True)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # moved into place


def test_the_cli_names_bad_data_of_a_long_file_before_loading_the_model(frame, tmp_path, monkeypatch):
    pd.concat([frame, frame.iloc[[0]]]).to_csv(tmp_path / "long.csv", index=False)
    monkeypatch.setattr(cli, "load_pipeline", lambda path: pytest.fail("the model was loaded"))
    with pytest.raises(SystemExit, match=r"error: item 'plain': duplicate timestamps in column 'timestamp'"):
        cli.main(["predict", str(tmp_path / "long.csv"), "--id-column", "item_id", "--task", "<ANOMALY_DETECTION>"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--output", "out.csv"], "--output writes the table of a long file of many series: give its --id-column"),
        (["--id-column", "item_id", "--output", "out.json"], "--output: out.json: the table is written as CSV or"),
        (["--id-column", "item_id", "--plot", "p.png"], "--plot draws one series"),
    ],
)
def test_long_file_usage_errors_exit_2_naming_the_option(tmp_path, capsys, args, message):
    (tmp_path / "long.csv").write_text("item_id,timestamp,target\na,2026-01-01,1\n")
    with pytest.raises(SystemExit) as exited:
        cli.main(["predict", str(tmp_path / "long.csv"), "--task", "<ANOMALY_DETECTION>", *args])
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_the_benchmark_times_a_long_frame_and_finds_the_same_table_through_the_cli(tmp_path, capsys):
    import json

    import torch
    from script_modules import load_script

    threads = torch.get_num_threads()
    try:
        report = load_script("bench_long_format").main(
            ["--items", "8", "--max-length", "600", "--short", "300", "--threads", "1", "--batch-size", "4",
             "--gap-share", "0.5", "--json", str(tmp_path / "bench.json")]
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert json.loads((tmp_path / "bench.json").read_text()) == report
    assert report["items"] == 8 and report["with_gap"] > 0 and report["cli_same_table"]
    assert report["items_per_second"] > 0 and "items/s" in printed and "the same table" in printed
