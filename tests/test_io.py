import json
import logging
import re

import numpy as np
import pandas as pd
import pytest

from ts_florence.io import SUPPORTED_EXTENSIONS, read_series


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_date_column_gives_timestamps_and_leaves_it_out_of_the_channels(tmp_path):
    path = write(tmp_path / "s.csv", "date,load\n2024-01-01,1.5\n2024-01-02,2\n2024-01-03,\n")
    series = read_series(path)
    assert series.values.dtype == np.float32
    assert series.values.shape == (3, 1)
    np.testing.assert_array_equal(series.values[:2, 0], [1.5, 2.0])
    assert np.isnan(series.values[2, 0])
    assert series.channel_names == ["load"]
    assert list(series.timestamps) == list(pd.date_range("2024-01-01", periods=3, freq="D"))
    assert series.path == str(path)


def test_csv_without_time_column_has_no_timestamps(tmp_path):
    series = read_series(write(tmp_path / "s.csv", "a,b\n1,10\n2,20\n"))
    assert series.timestamps is None
    assert series.channel_names == ["a", "b"]
    np.testing.assert_array_equal(series.values, np.array([[1, 10], [2, 20]], dtype=np.float32))


def test_columns_select_value_columns_in_the_given_order(tmp_path):
    path = write(tmp_path / "s.csv", "Timestamp,a,b,c\n2024-01-01T00:00,1,2,3\n2024-01-01T01:00,4,5,6\n")
    series = read_series(path, columns=["c", "a"])
    assert series.channel_names == ["c", "a"]
    np.testing.assert_array_equal(series.values, [[3, 1], [6, 4]])
    assert series.timestamps[1] == pd.Timestamp("2024-01-01 01:00")


def test_explicit_time_column_is_used_whatever_its_name(tmp_path):
    path = write(tmp_path / "s.csv", "when,x\n2024-03-01,1\n2024-03-02,2\n")
    series = read_series(path, time_column="when")
    assert series.channel_names == ["x"]
    assert series.timestamps[0] == pd.Timestamp("2024-03-01")


def test_non_numeric_columns_are_skipped_with_a_log_line(tmp_path, caplog):
    path = write(tmp_path / "s.csv", "x,site\n1,north\n2,south\n")
    with caplog.at_level(logging.INFO, logger="ts_florence.io"):
        series = read_series(path)
    assert series.channel_names == ["x"]
    assert "skipping non-numeric column 'site'" in caplog.text


def test_headerless_csv_keeps_its_first_row(tmp_path):
    series = read_series(write(tmp_path / "s.csv", "1.5,2\n3,4\n"))
    assert series.channel_names == ["0", "1"]
    np.testing.assert_array_equal(series.values, [[1.5, 2], [3, 4]])


def test_tsv_and_txt_are_tab_separated(tmp_path):
    tsv = read_series(write(tmp_path / "s.tsv", "a\tb\n1\t2\n"))
    txt = read_series(write(tmp_path / "s.txt", "0.5\n1.5\n2.5\n"))
    assert tsv.channel_names == ["a", "b"]
    np.testing.assert_array_equal(txt.values[:, 0], [0.5, 1.5, 2.5])


def test_index_written_by_pandas_gives_timestamps_and_is_not_a_channel(tmp_path):
    frame = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.date_range("2024-01-01", periods=2, freq="h"))
    frame.to_csv(tmp_path / "s.csv")
    pd.DataFrame({"v": [1.0, 2.0]}).to_csv(tmp_path / "plain.csv")
    series = read_series(tmp_path / "s.csv")
    assert series.channel_names == ["v"]
    assert series.timestamps[1] == pd.Timestamp("2024-01-01 01:00")
    assert read_series(tmp_path / "plain.csv").channel_names == ["v"]


def test_ints_become_float32_and_missing_values_stay_nan(tmp_path):
    series = read_series(write(tmp_path / "s.csv", "x,y\n1,\n2,NaN\n3,7\n"))
    assert series.values.dtype == np.float32
    assert np.isnan(series.values[:2, 1]).all()
    assert series.values[2, 1] == 7


def test_infinite_values_are_kept(tmp_path):
    series = read_series(write(tmp_path / "s.json", json.dumps([1.0, 2.0]).replace("2.0", "Infinity")))
    assert np.isposinf(series.values[1, 0])


def test_parquet_with_datetime_index(tmp_path):
    index = pd.date_range("2024-01-01", periods=4, freq="min", name="ts")
    frame = pd.DataFrame({"a": np.arange(4), "b": np.arange(4) * 0.5, "tag": list("wxyz")}, index=index)
    frame.to_parquet(tmp_path / "s.parquet")
    series = read_series(tmp_path / "s.parquet")
    assert series.channel_names == ["a", "b"]
    assert series.values.shape == (4, 2)
    assert list(series.timestamps) == list(index)


def test_parquet_datetime_column_is_found_by_type(tmp_path):
    frame = pd.DataFrame({"recorded": pd.date_range("2024-01-01", periods=3, freq="D"), "v": [1, 2, 3]})
    frame.to_parquet(tmp_path / "s.pq", index=False)
    series = read_series(tmp_path / "s.pq")
    assert series.channel_names == ["v"]
    assert series.timestamps[2] == pd.Timestamp("2024-01-03")


def test_json_list_of_numbers_is_one_channel(tmp_path):
    series = read_series(write(tmp_path / "s.json", "[1, 2.5, null, 4]"))
    assert series.values.shape == (4, 1)
    assert np.isnan(series.values[2, 0])
    assert series.channel_names == ["0"]


def test_json_list_of_lists_is_time_by_channels(tmp_path):
    series = read_series(write(tmp_path / "s.json", "[[1, 10], [2, 20], [3, 30]]"))
    assert series.values.shape == (3, 2)
    np.testing.assert_array_equal(series.values[:, 1], [10, 20, 30])


def test_json_series_object_values_are_channels_by_time_with_timestamps(tmp_path):
    document = {
        "values": [[1, 2, 3], [4, 5, 6]],
        "timestamps": ["2024-01-01", "2024-01-02", "2024-01-03"],
        "channel_names": ["temp", "rh"],
    }
    series = read_series(write(tmp_path / "s.json", json.dumps(document)))
    assert series.values.shape == (3, 2)
    assert series.channel_names == ["temp", "rh"]
    np.testing.assert_array_equal(series.values[:, 1], [4, 5, 6])
    assert series.timestamps[2] == pd.Timestamp("2024-01-03")


def test_json_series_object_channel_names_matching_inner_length_mean_time_by_channels(tmp_path):
    document = {"values": [[1, 4], [2, 5], [3, 6]], "channel_names": ["temp", "rh"]}
    series = read_series(write(tmp_path / "s.json", json.dumps(document)))
    assert series.values.shape == (3, 2)
    np.testing.assert_array_equal(series.values[:, 0], [1, 2, 3])


def test_json_object_with_time_and_values_columns_is_a_table(tmp_path):
    document = {"time": ["2024-01-01", "2024-01-02"], "values": [1.0, 2.0]}
    series = read_series(write(tmp_path / "s.json", json.dumps(document)))
    assert series.channel_names == ["values"]
    assert series.timestamps[1] == pd.Timestamp("2024-01-02")


def test_json_records_and_jsonl_records_read_the_same(tmp_path):
    records = [{"t": "2024-01-01", "a": 1, "b": "2.5"}, {"t": "2024-01-02", "a": 2, "b": "3.5"}]
    from_json = read_series(write(tmp_path / "s.json", json.dumps(records)), time_column="t")
    lines = "\n".join(json.dumps(record) for record in records) + "\n\n"
    from_jsonl = read_series(write(tmp_path / "s.jsonl", lines), time_column="t")
    for series in (from_json, from_jsonl):
        assert series.channel_names == ["a", "b"]
        np.testing.assert_array_equal(series.values, [[1, 2.5], [2, 3.5]])
        assert series.timestamps[0] == pd.Timestamp("2024-01-01")


def test_missing_file_raises_file_not_found_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        read_series(tmp_path / "nope.csv")


@pytest.mark.parametrize("name", ["s.csv", "s.json", "s.jsonl", "s.parquet"])
def test_empty_file_raises(tmp_path, name):
    path = write(tmp_path / name, "")
    with pytest.raises(ValueError, match=rf"{re.escape(name)}: the file is empty"):
        read_series(path)


def test_unknown_extension_raises_listing_supported_ones(tmp_path):
    path = write(tmp_path / "s.xlsx", "a\n1\n")
    with pytest.raises(ValueError, match=r"unsupported extension '\.xlsx'") as error:
        read_series(path)
    assert all(extension in str(error.value) for extension in SUPPORTED_EXTENSIONS)


def test_missing_column_raises_listing_available_ones(tmp_path):
    path = write(tmp_path / "s.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"\['c'\] not found; available columns: \['a', 'b'\]"):
        read_series(path, columns=["a", "c"])


def test_non_numeric_selected_column_raises_naming_it_and_a_bad_value(tmp_path):
    path = write(tmp_path / "s.csv", "a,b\n1,2\n2,oops\n")
    with pytest.raises(ValueError, match=r"s\.csv: column 'b' is not numeric: row 2 holds 'oops'"):
        read_series(path, columns=["b"])


def test_zero_rows_raises(tmp_path):
    with pytest.raises(ValueError, match="zero rows"):
        read_series(write(tmp_path / "s.csv", "a,b\n"))
    with pytest.raises(ValueError, match="zero rows"):
        read_series(write(tmp_path / "s.json", '{"values": []}'))


def test_no_numeric_column_raises_naming_the_first_bad_cell_of_each_column(tmp_path):
    with pytest.raises(ValueError, match=r"no numeric column; column 'name' row 1 holds 'x'"):
        read_series(write(tmp_path / "s.csv", "name\nx\ny\n"))
    # One bad cell in the only value column: the message names it without -v.
    with pytest.raises(ValueError, match=r"column 'load' row 3 holds '1,7'"):
        read_series(write(tmp_path / "t.tsv", "time\tload\n2026-01-01\t1.5\n2026-01-02\t2.5\n2026-01-03\t1,7\n"))


def test_a_folder_named_like_a_series_file_is_refused_as_a_folder(tmp_path):
    for name in ("x.csv", "x.json", "x.parquet"):
        (tmp_path / name).mkdir()
        with pytest.raises(ValueError, match=f"{name}: is a folder, not a file"):
            read_series(tmp_path / name)


def test_a_binary_json_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"s\.json: not UTF-8 text \(byte 0"):
        read_series(path)


def test_explicit_time_column_that_is_not_datetimes_raises(tmp_path):
    path = write(tmp_path / "s.csv", "when,x\nsoon,1\nlater,2\n")
    with pytest.raises(ValueError, match="time column 'when' does not parse as datetimes"):
        read_series(path, time_column="when")


def test_numeric_time_column_is_refused_when_named_and_dropped_with_a_warning_when_found(tmp_path, caplog):
    path = write(tmp_path / "s.csv", "time,x\n0,1\n1,2\n")
    with pytest.raises(ValueError, match="holds numbers of unknown time unit"):
        read_series(path, time_column="time")
    with caplog.at_level(logging.WARNING, logger="ts_florence.io"):
        series = read_series(path)
    assert series.timestamps is None
    assert series.channel_names == ["x"]
    assert "reading without timestamps" in caplog.text


def test_ragged_list_of_lists_raises(tmp_path):
    with pytest.raises(ValueError, match="different lengths"):
        read_series(write(tmp_path / "s.json", "[[1, 2], [3]]"))


def test_timestamps_of_the_wrong_length_raise(tmp_path):
    document = {"values": [1, 2, 3], "timestamps": ["2024-01-01", "2024-01-02"]}
    with pytest.raises(ValueError, match="2 timestamps for 3 samples"):
        read_series(write(tmp_path / "s.json", json.dumps(document)))


def test_a_file_written_in_place_replaces_the_old_one_only_when_complete(tmp_path):
    from ts_florence.io import file_in_place, write_text_in_place

    path = tmp_path / "report.json"
    write_text_in_place(path, "old")
    with pytest.raises(RuntimeError), file_in_place(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
    write_text_in_place(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_files_in_place_move_into_a_folder_that_keeps_its_other_entries(tmp_path):
    from ts_florence.io import files_in_place

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.json").write_text("old")
    with files_in_place(tmp_path, ".final.tmp") as tmp:
        (tmp / "config.json").write_text("new")
        (tmp / "README.md").write_text("card")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "checkpoints", "config.json"]
    assert (tmp_path / "config.json").read_text() == "new"


def test_truth_order_keeps_the_records_with_exact_truth_in_a_fixed_order():
    import datasets

    from ts_florence.records import truth_order

    sources = ["synthetic", "data/nab", "semi:nab", "synthetic", "data/ucr", "semi:ucr"]
    records = datasets.Dataset.from_dict({"source": sources})
    order = truth_order(records, seed=0)
    assert sorted(order) == [0, 2, 3, 5] and order == truth_order(records, seed=0)
    assert sorted(truth_order(records, {"semi:ucr", "data/ucr"})) == [5]
