"""Property tests: whatever a file or an array holds, the CLI's file reader and the processor either read it or
raise the project's own one-line message (a ValueError naming the file, or the series), never a library's error."""

import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ts_florence.io import read_series
from ts_florence.processing_ts_florence import as_series_list

EXTENSIONS = [".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet"]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1"]

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(2**70), 2**70),
    st.text(max_size=6),
    st.booleans(),
    st.none(),
    st.sampled_from(["2026-01-01", "2026-01-02T03:04", "nan", "inf", "-", "1e999", "NA"]),
)


@st.composite
def frames(draw) -> pd.DataFrame:
    rows = draw(st.integers(0, 12))
    names = draw(st.lists(st.sampled_from(["time", "date", "x", "y", "load", "", "0", "ü"]), max_size=4, unique=True))
    columns = {}
    for name in names:
        kind = draw(st.sampled_from(["float", "int", "mixed", "time"]))
        if kind == "float":
            columns[name] = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=rows, max_size=rows))
        elif kind == "int":
            columns[name] = draw(st.lists(st.integers(-(2**40), 2**40), min_size=rows, max_size=rows))
        elif kind == "time":
            columns[name] = list(pd.date_range("2026-01-01", periods=rows, freq="h"))
        else:
            columns[name] = draw(st.lists(cells, min_size=rows, max_size=rows))
    return pd.DataFrame(columns)


def write_file(frame: pd.DataFrame, path, encoding: str, layout: str) -> None:
    if path.suffix == ".parquet":
        frame = frame.astype({c: str for c in frame.columns if frame[c].dtype == object})
        frame.to_parquet(path)
        return
    if path.suffix in (".csv", ".tsv", ".txt"):
        text = frame.to_csv(sep="," if path.suffix == ".csv" else "\t", index=False)
    elif path.suffix == ".jsonl":
        text = frame.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
    elif layout == "series":
        text = json.dumps({"values": [frame[c].astype(str).tolist() for c in frame.columns]})
    else:
        text = frame.to_json(orient=layout, date_format="iso", default_handler=str)
    path.write_bytes(text.encode(encoding, errors="replace"))


def check_read(path) -> None:
    try:
        series = read_series(path)
    except ValueError as err:
        assert str(err).startswith(str(path)), err
        return
    assert series.values.dtype == np.float32 and series.values.ndim == 2
    assert series.values.shape[0] >= 1 and series.values.shape[1] == len(series.channel_names) >= 1
    check_series(series.values)


def check_series(values) -> None:
    try:
        items, _ = as_series_list(values)
    except (ValueError, TypeError) as err:
        assert str(err).startswith(("series ", "no series", "empty batch")), err
        return
    assert all(np.isfinite(item.values[~np.isnan(item.values)]).all() for item in items)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    frame=frames(),
    extension=st.sampled_from(EXTENSIONS),
    encoding=st.sampled_from(ENCODINGS),
    layout=st.sampled_from(["records", "columns", "values", "series"]),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_any_file_is_read_or_refused_with_a_message_naming_it(tmp_path, frame, extension, encoding, layout, cut):
    path = tmp_path / f"series{extension}"
    write_file(frame, path, encoding, layout)
    if cut is not None:  # a file cut short, as by a full disk or an interrupted copy
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut)])
    check_read(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extension=st.sampled_from(EXTENSIONS), data=st.binary(max_size=200))
def test_random_bytes_are_read_or_refused_with_a_message_naming_the_file(tmp_path, extension, data):
    path = tmp_path / f"noise{extension}"
    path.write_bytes(data)
    check_read(path)


arrays = st.builds(
    lambda shape, dtype, fill, special: _array(shape, dtype, fill, special),
    shape=st.lists(st.integers(0, 5), max_size=3).map(tuple),
    dtype=st.sampled_from(
        [
            "float16",
            "float32",
            "float64",
            "int8",
            "int64",
            "uint8",
            "bool",
            "complex64",
            "object",
            "U3",
            "datetime64[s]",
        ]
    ),
    fill=st.floats(-1e6, 1e6),
    special=st.sampled_from([None, np.nan, np.inf, -np.inf]),
)


def _array(shape, dtype, fill, special):
    values = np.full(shape, fill)
    if special is not None and values.size:
        values.flat[values.size // 2] = special
    with np.errstate(all="ignore"):
        return values.astype(dtype) if dtype != "datetime64[s]" else values.astype("int64").astype(dtype)


@settings(max_examples=300, deadline=None)
@given(
    series=st.one_of(
        arrays,
        arrays.map(lambda a: list(a) if a.ndim else [a]),  # a list of NumPy scalars or rows
        st.lists(arrays, max_size=3),  # a batch
        st.lists(st.one_of(cells, st.floats(allow_nan=True, allow_infinity=True)), max_size=6),
    )
)
def test_any_array_is_read_or_refused_with_a_message_naming_the_series(series):
    check_series(series)
