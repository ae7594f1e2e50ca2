"""Many series in one long DataFrame, in and out: the input of Chronos-2's `predict_df` and GluonTS's long format.

A long frame holds one row per sample of each item (series): an id column, a timestamp column and one target column
(univariate) or several (multivariate, one channel each); the names default to Chronos-2's (`item_id`, `timestamp`,
`target`). `pipeline("time-series-prompting")` reads one when called with any of `LONG_FRAME_ARGUMENTS`:

```python
pipe(df, task="<ANOMALY_DETECTION>", id_column="item_id", timestamp_column="timestamp", target="target")
pipe(df, task="<ANOMALY_DETECTION>", id_column="item_id", target=["temperature", "humidity"], batch_size=32)
```

and answers with one tidy table (`TABLE_COLUMNS`, one row per thing found). How items are read (`long_items`):

- Rows of an item may come in any order and items may interleave: each item's rows are sorted by time (stable, so
  with `timestamp_column=None` they keep the frame's order). Items keep the order of their first row.
- Two rows of one item at the same time are refused, naming the item and the time.
- Gaps become missing values (NaN) on the item's own regular grid: its frequency is the one `pandas.infer_freq`
  names on short stretches of its times (calendar frequencies such as business days and month ends included), else
  its median step, when every step is a whole multiple of it (`regular_grid`). An item that lies on no grid
  (jittered sampling) is read as it is, in time order, with a warning. Filling may at most make an item
  `MAX_FILL_FACTOR` times as long.
- A target column in which an item has no observed value is not one of that item's channels, so one frame may hold
  univariate and multivariate items (NaN in the columns an item lacks).
- Bad input gets a ValueError naming the item and the column: a missing column, an empty frame, a row without an
  id, a target that is not numbers (numbers written as text count as numbers, as in `io.read_series`), an infinite
  value, a time that does not parse or is missing, duplicate times, an item with no observed value (all NaN).

Units: `start` and `end` are sample indices of the item as read (sorted, gaps filled), spans half-open
`[start, end)`; `start_timestamp` and `end_timestamp` are the times of the span's first and last sample (inclusive,
as the pipeline's `"timestamps"`).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import as_numbers, file_in_place, parse_datetimes

logger = logging.getLogger(__name__)

ID_COLUMN = "item_id"
TIMESTAMP_COLUMN = "timestamp"
TARGET = "target"
LONG_FRAME_ARGUMENTS = ("id_column", "timestamp_column", "target", "progress")
"""Keywords of the pipeline's call that make its input a long frame (the others take their defaults)."""
MAX_FILL_FACTOR = 10
"""How many times its observed samples an item may become by filling its gaps (a stray time years away would
otherwise make millions of missing samples)."""
TABLE_COLUMNS = (
    "item_id",
    "task",
    "start",
    "end",
    "start_timestamp",
    "end_timestamp",
    "label",
    "channel",
    "score",
    "text",
)
"""The columns of the result table, one row per thing found:

- item_id: the item's id, of the id column's type; task: the task token (e.g. `<ANOMALY_DETECTION>`).
- start, end: the span `[start, end)` in samples; a point (change point) is the span of its one sample `[p, p + 1)`;
  empty for a text answer.
- start_timestamp, end_timestamp: the times of the first and last sample (inclusive); empty without timestamps.
- label: the span's label (anomaly or event type, regime, phrase); channel: the target column the span concerns,
  empty when it concerns the whole item; score: the model's confidence in [0, 1].
- text: the answer of a text task (`<CAPTION>`, `<CLASSIFICATION>`, ...), one row per item and task.

An item in which nothing is found has no row."""
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
"""What `write_table` writes, by the file's suffix: CSV, or Parquet."""
FREQ_STRETCH = 8
"""Samples of a stretch of an item's times that `pandas.infer_freq` reads to find its frequency (8 consecutive
business days always hold a weekend, so they read as business days, not days)."""
FREQ_STRETCHES = 20
"""Most stretches read per item with gaps."""


@dataclass
class LongItem:
    """One item of a long frame, as the pipeline reads it.

    Attributes:
        item_id: the id, as in the id column.
        values: float64 `(time, channels)`, one column per channel; NaN = missing (also where a gap was filled).
        channel_names: the target column of each channel (those in which the item has an observed value).
        timestamps: one per sample, increasing, or None when the frame has no timestamp column.
        filled: samples added where the item had gaps.
    """

    item_id: Any
    values: np.ndarray
    channel_names: list[str]
    timestamps: pd.DatetimeIndex | None
    filled: int = 0


def is_long_frame(series: Any, kwargs: dict) -> bool:
    """Whether a pipeline call reads `series` as a long frame: it was given one of `LONG_FRAME_ARGUMENTS`.
    ValueError for a DataFrame with an `item_id` column called without them (its ids would be read as a channel)."""
    if any(name in kwargs for name in LONG_FRAME_ARGUMENTS):
        return True
    if isinstance(series, pd.DataFrame) and ID_COLUMN in series.columns:
        raise ValueError(
            f"the frame has an {ID_COLUMN!r} column: pass id_column={ID_COLUMN!r} to read it as a long frame of many "
            "series (one row per sample), or drop the column to read the frame as one series"
        )
    return False


def target_columns(target: str | Sequence[str]) -> list[str]:
    """The target column names: one name, or a list (or tuple) of distinct names (one channel each)."""
    names = list(target) if isinstance(target, (list, tuple)) else [target]
    if not names:
        raise ValueError("target is empty: name the column of values, or a list of columns (one per channel)")
    if len(set(names)) != len(names):
        raise ValueError(f"target names a column more than once: {names}")
    return names


def _item_name(item_id: Any) -> str:
    return repr(item_id.item() if isinstance(item_id, np.generic) else item_id)


def _check_columns(frame: pd.DataFrame, id_column: str, timestamp_column: str | None, targets: list[str]) -> None:
    """ValueError for an empty frame, or a column that is missing or given two roles."""
    available = list(frame.columns)
    if len(frame) == 0:
        raise ValueError(f"the frame has no rows (columns: {available}); a long frame holds one row per sample")
    roles = [(id_column, "id_column"), *((name, "target") for name in targets)]
    if timestamp_column is not None:
        roles.insert(1, (timestamp_column, "timestamp_column"))
    for name, role in roles:
        if name not in frame.columns:
            hint = " (pass timestamp_column=None for a frame without times)" if role == "timestamp_column" else ""
            raise ValueError(f"column {name!r} ({role}) not found; available columns: {available}{hint}")
    names = [name for name, _ in roles]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"column(s) {twice} given two roles among id_column, timestamp_column and target")


def _target_values(frame: pd.DataFrame, targets: list[str], ids: np.ndarray, uniques) -> np.ndarray:
    """`(rows, channels)` float64 of the target columns; ValueError naming the item and column of a value that is not
    a number or is infinite."""
    columns = []
    for name in targets:
        array, bad = as_numbers(frame[name])
        if array is None:
            if bad is None:
                raise ValueError(f"column {name!r} (target) holds {frame[name].dtype}, not numbers")
            raise ValueError(
                f"item {_item_name(uniques[ids[bad]])}: column {name!r} (target) is not numeric: row "
                f"{frame.index[bad]!r} holds {str(frame[name].iloc[bad])!r:.60}"
            )
        infinite = np.flatnonzero(np.isinf(array))
        if len(infinite):
            row = infinite[0]
            raise ValueError(
                f"item {_item_name(uniques[ids[row]])}: column {name!r} (target) holds an infinite value in row "
                f"{frame.index[row]!r}; use NaN for missing values"
            )
        columns.append(array)
    return np.column_stack(columns)


def _times(frame: pd.DataFrame, name: str, ids: np.ndarray, uniques) -> pd.DatetimeIndex:
    """The timestamp column as datetimes; ValueError naming the item and column of a time that is missing or does not
    parse."""
    raw = frame[name]
    if pd.api.types.is_datetime64_any_dtype(raw):
        times = pd.DatetimeIndex(raw)
    elif pd.api.types.is_numeric_dtype(raw):
        raise ValueError(
            f"column {name!r} (timestamp_column) holds numbers of unknown time unit; write dates (ISO 8601), or pass "
            "timestamp_column=None to read each item's rows in the frame's order"
        )
    else:
        try:
            times = parse_datetimes(raw)
        except (ValueError, TypeError, OverflowError) as err:
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
            bad = np.flatnonzero((parsed.isna() & raw.notna()).to_numpy())
            if not len(bad):
                raise ValueError(f"column {name!r} (timestamp_column) does not parse as datetimes: {err}") from None
            row = bad[0]
            raise ValueError(
                f"item {_item_name(uniques[ids[row]])}: column {name!r} (timestamp_column) does not parse as a time "
                f"in row {frame.index[row]!r}: {str(raw.iloc[row])!r:.60}"
            ) from None
    missing = np.flatnonzero(times.isna())
    if len(missing):
        row = missing[0]
        raise ValueError(
            f"item {_item_name(uniques[ids[row]])}: column {name!r} (timestamp_column) has no time in row "
            f"{frame.index[row]!r}; every sample needs one"
        )
    return times


def long_items(
    frame: pd.DataFrame,
    id_column: str = ID_COLUMN,
    timestamp_column: str | None = TIMESTAMP_COLUMN,
    target: str | Sequence[str] = TARGET,
) -> list[LongItem]:
    """The items of a long frame, in the order of their first row, each sorted by time with its gaps filled (the
    rules and errors: the module docstring).

    Args:
        frame: one row per sample of each item.
        id_column: the column of item ids.
        timestamp_column: the column of times (datetimes, or strings that parse as dates); None: the frame has no
            times, and each item's rows are its samples in the frame's order.
        target: the column of values, or a list of them (a multivariate item, one channel per column).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"a long frame is a pandas DataFrame, got {type(frame).__name__}")
    targets = target_columns(target)
    _check_columns(frame, id_column, timestamp_column, targets)
    ids, uniques = pd.factorize(frame[id_column], sort=False)  # ids: [rows], -1 where the id is missing
    if (ids < 0).any():
        row = frame.index[np.flatnonzero(ids < 0)[0]]
        raise ValueError(f"column {id_column!r} (id_column) has no id in row {row!r}; every row needs its item's id")
    values = _target_values(frame, targets, ids, uniques)  # [rows x channels]
    times = None if timestamp_column is None else _times(frame, timestamp_column, ids, uniques)
    # Stable: rows of one time keep their order, so the duplicates are reported in the frame's order.
    order = np.argsort(ids, kind="stable") if times is None else np.lexsort((times.asi8, ids))
    bounds = np.concatenate([[0], np.cumsum(np.bincount(ids, minlength=len(uniques)))])
    items = []
    for k, item_id in enumerate(uniques):
        rows = order[bounds[k] : bounds[k + 1]]
        items.append(
            _read_item(item_id, values[rows], None if times is None else times[rows], targets, timestamp_column)
        )
    return items


def _read_item(item_id, values: np.ndarray, times, targets: list[str], timestamp_column) -> LongItem:
    """One item's sorted rows as a `LongItem`: its channels the target columns it has a value in, gaps filled."""
    name = _item_name(item_id)
    observed = ~np.isnan(values).all(axis=0)  # [channels]
    if not observed.any():
        raise ValueError(
            f"item {name}: no observed value in column(s) {targets} (target): all {len(values)} samples are missing"
        )
    values = values[:, observed]
    channels = [column for column, kept in zip(targets, observed, strict=True) if kept]
    if times is None:
        return LongItem(item_id, values, channels, None)
    steps = np.diff(times.asi8)
    if (steps == 0).any():
        repeated = times[1:][steps == 0].unique()
        others = f" and {len(repeated) - 1} other times appear" if len(repeated) > 1 else " appears"
        raise ValueError(
            f"item {name}: duplicate timestamps in column {timestamp_column!r}: {repeated[0]}{others} more than once; "
            "each sample of an item needs a time of its own"
        )
    grid = regular_grid(times, name)
    if grid is None:
        logger.warning("item %s: timestamps lie on no regular grid; read in time order, gaps not filled", name)
        return LongItem(item_id, values, channels, times)
    if len(grid) == len(times):
        return LongItem(item_id, values, channels, times)
    filled = np.full((len(grid), values.shape[1]), np.nan)
    filled[grid.get_indexer(times)] = values
    return LongItem(item_id, filled, channels, grid, filled=len(grid) - len(times))


def regular_grid(times: pd.DatetimeIndex, name: str = "") -> pd.DatetimeIndex | None:
    """The regular grid of increasing `times` from the first to the last: `times` itself when they have no gap, None
    when they lie on no grid. The frequency is the one `pandas.infer_freq` names most often on short stretches of
    `times` (`FREQ_STRETCH` samples, up to `FREQ_STRETCHES` of them spread over the item) whose grid holds every time
    (calendar frequencies such as business days or month ends included), else the median step when every step is a
    whole multiple of it. ValueError (naming item `name`) when the grid would be over `MAX_FILL_FACTOR` times as long
    as `times` (counted in median steps)."""
    if len(times) < 3:
        return times
    steps = np.diff(times.asi8)  # in the times' unit (times.unit)
    if (steps == steps[0]).all() or pd.infer_freq(times) is not None:
        return times
    step = int(np.sort(steps)[(len(steps) - 1) // 2])  # the (lower) median step, one of the steps
    delta = pd.Timedelta(step, unit=times.unit)
    samples = (times[-1] - times[0]) // delta + 1
    if samples > MAX_FILL_FACTOR * len(times):
        raise ValueError(
            f"item {name}: filling the gaps between its {len(times)} timestamps ({times[0]} to {times[-1]}) at its "
            f"median step {delta} would make {samples} samples, over {MAX_FILL_FACTOR} times as many; check for a "
            "stray time, or split the item"
        )
    width = min(FREQ_STRETCH, len(times))
    starts = np.unique(np.linspace(0, len(times) - width, min(FREQ_STRETCHES, len(times) - width + 1)).astype(int))
    found = Counter(pd.infer_freq(times[s : s + width]) for s in starts)
    found.pop(None, None)
    for freq, _ in found.most_common():
        grid = pd.date_range(times[0], times[-1], freq=freq, unit=times.unit)
        if len(grid) <= MAX_FILL_FACTOR * len(times) and times.isin(grid).all():
            return grid
    if (steps % step == 0).all():
        return pd.date_range(times[0], periods=samples, freq=delta, unit=times.unit)
    return None


def predict_long(
    pipe,
    frame: pd.DataFrame,
    *,
    id_column: str = ID_COLUMN,
    timestamp_column: str | None = TIMESTAMP_COLUMN,
    target: str | Sequence[str] = TARGET,
    timestamps: Any = None,
    **kwargs,
) -> pd.DataFrame:
    """Runs the pipeline `pipe` on every item of the long frame `frame` (`long_items`) and returns the table of what
    it found (`predict_items`); `kwargs` are `predict_items`' and the pipeline's."""
    if timestamps is not None:
        raise ValueError("a long frame's times come from its timestamp_column; timestamps= is for arrays of values")
    items = long_items(frame, id_column, timestamp_column, target)
    return predict_items(pipe, items, frame[id_column].dtype, **kwargs)


def predict_items(
    pipe,
    items: list[LongItem],
    id_dtype: Any = None,
    *,
    batch_size: int = 1,
    progress: bool = False,
    **kwargs,
) -> pd.DataFrame:
    """The table (`TABLE_COLUMNS`) of what the pipeline `pipe` finds in `items`: rows by item in the order given,
    then by task, then as the pipeline answered. `id_dtype` is the type of the ids (the id column's); `batch_size`
    items per forward pass, `progress` shows a progress bar of the items (tqdm); `kwargs` are the pipeline's (task,
    text, window, num_beams, ...)."""
    if kwargs.get("return_point_scores"):
        raise ValueError("return_point_scores has no column in the long table; run the items' arrays for them")
    results = _run(pipe, items, batch_size, progress, kwargs)
    return results_table(items, results, id_dtype)


def _run(pipe, items: list[LongItem], batch_size: int, progress: bool, kwargs: dict) -> list[dict]:
    """The pipeline's result of every item, one batch per call: items in the pipeline's own order (by channel count,
    then as given), so the batches are those of one call on all of them, with a progress bar between them."""
    from tqdm.auto import tqdm

    order = sorted(range(len(items)), key=lambda i: (items[i].values.shape[1], i))
    results: list[dict | None] = [None] * len(items)
    with tqdm(total=len(items), unit="item", desc="items", disable=not progress) as bar:
        for begin in range(0, len(order), batch_size):
            chosen = order[begin : begin + batch_size]
            times = [items[i].timestamps for i in chosen]
            found = pipe(
                [items[i].values for i in chosen],
                timestamps=None if all(t is None for t in times) else times,
                batch_size=batch_size,
                **kwargs,
            )
            for i, result in zip(chosen, found, strict=True):
                results[i] = result
            bar.update(len(chosen))
    return results


def results_table(items: list[LongItem], results: list[dict], id_dtype: Any = None) -> pd.DataFrame:
    """The table (`TABLE_COLUMNS`) of the pipeline's `results`, one per item of `items` (channels named by the items'
    `channel_names`); `id_dtype` is the id column's type."""
    columns: dict[str, list] = {name: [] for name in TABLE_COLUMNS}
    # The times' type (unit, time zone) of the frame also where no row has a time (text answers only).
    time_dtype = next((item.timestamps.dtype for item in items if item.timestamps is not None), "datetime64[ns]")
    for item, result in zip(items, results, strict=True):
        for task, found in result.items():
            for row in _rows(found, item.channel_names):
                columns["item_id"].append(item.item_id)
                columns["task"].append(task)
                for name, value in zip(TABLE_COLUMNS[2:], row, strict=True):
                    columns[name].append(value)
    return pd.DataFrame(
        {
            "item_id": pd.Series(columns["item_id"], dtype=id_dtype),
            "task": pd.Series(columns["task"]),
            "start": pd.Series(columns["start"], dtype="Int64"),
            "end": pd.Series(columns["end"], dtype="Int64"),
            "start_timestamp": pd.Series(columns["start_timestamp"], dtype=time_dtype),
            "end_timestamp": pd.Series(columns["end_timestamp"], dtype=time_dtype),
            "label": pd.Series(columns["label"]),
            "channel": pd.Series(columns["channel"]),
            "score": pd.Series(columns["score"], dtype="float64"),
            "text": pd.Series(columns["text"]),
        }
    )


def _rows(found: dict, channel_names: list[str]) -> list[tuple]:
    """`(start, end, start_timestamp, end_timestamp, label, channel, score, text)` of each thing in one task's
    result."""
    if "text" in found:
        scores = found.get("scores") or [None]
        return [(None, None, None, None, None, None, scores[0], found["text"])]
    if "points" in found:
        where = [(p, p + 1) for p in found["points"]]
        times = [(t, t) for t in found.get("timestamps", [])]
    else:
        where = [tuple(span) for span in found.get("spans", [])]
        times = [tuple(pair) for pair in found.get("timestamps", [])]
    n = len(where)
    times = times or [(None, None)] * n
    labels = found.get("labels") or [None] * n
    channels = found.get("channels") or [None] * n
    scores = found.get("scores") or [None] * n
    return [
        (int(s), int(e), t0, t1, label, _channel_name(channel, channel_names), score, None)
        for (s, e), (t0, t1), label, channel, score in zip(where, times, labels, channels, scores, strict=True)
    ]


def _channel_name(channel: int | None, names: list[str]) -> str | None:
    if channel is None:
        return None
    return str(names[channel]) if 0 <= channel < len(names) else str(channel)


def check_table_path(path: str | os.PathLike) -> Path:
    """ValueError unless `path` ends in one of `TABLE_SUFFIXES` and its folder exists (checked before any work)."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: the table is written as CSV or Parquet, by the suffix: {', '.join(TABLE_SUFFIXES)}")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: the folder {path.parent} does not exist")
    return path


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Writes `table` to `path`, CSV or Parquet by its suffix (`check_table_path`), to a temporary name first and
    moved into place (`io.file_in_place`); returns the path. In CSV, times are ISO 8601 and empty cells missing
    values."""
    path = check_table_path(path)
    with file_in_place(path) as tmp:
        if path.suffix.lower() == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
    return path
