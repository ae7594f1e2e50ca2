"""Read one time series, or a table, from a CSV, TSV, Parquet, JSON or JSON Lines file; check a saved model folder.

`read_series(path)` returns a `SeriesFile`: values as float32 `(time, channels)` with NaN for missing
samples, the timestamps when the file has a time column, and one name per channel. `read_table(path)` returns
the file's table as it is (a long table of many series, `ts_florence.long_format`, is read with it).

Formats, chosen by the file extension:

- `.csv` (comma), `.tsv` and `.txt` (tab): the first row is a header unless every field in it is a
  number, in which case the file has no header and the channels are named `"0"`, `"1"`, ... A header
  whose first field is empty (what `DataFrame.to_csv` writes for the index) makes the first column
  the row index: it gives the timestamps when it parses as datetimes and is never a channel.
- `.parquet` / `.pq`: read with pandas; a `DatetimeIndex` saved by pandas gives the timestamps.
- `.json`, one document:
    - a list of numbers: one channel, named `"0"`;
    - a list of lists: rows are time, columns are channels (`"0"`, `"1"`, ...);
    - a list of objects (records, one per time step) or an object of columns `{"col": [...], ...}`;
    - the series object `{"values": ..., "timestamps": [...], "channel_names": [...]}`, where only
      `values` is required. `values` is a list of numbers (one channel) or a list of lists. A list of
      lists is `[channels][time]`, as in the corpus schema, unless `channel_names` is given and its
      length matches the inner lists and not the outer one: then it is `[time][channels]`. An object
      counts as the series object when its `values` is a list of lists, or when it has no keys other
      than the three above (so `{"time": [...], "values": [...]}` is a table of two columns). Other keys
      of a series object, such as a corpus record's annotations, are ignored.
- `.jsonl`: one JSON value per line, read as if the lines were the items of one JSON list (records,
  rows or numbers).

Timestamps come from `time_column` when given, else from the first column named time, timestamp,
date or datetime (any case) or, failing that, the first column of a datetime type, else from a
`DatetimeIndex`. Numbers are not accepted as times, since their unit (seconds? milliseconds?) cannot be
known: write times as date strings (ISO 8601). A time column found by name that does not parse is
left out of the channels, with a warning, and the series is read without timestamps.

Values are never changed beyond the conversion to float32: infinities stay (the processor rejects
them with its own message), rows keep their order, and missing values become NaN.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
_PARQUET_EXTENSIONS = (".parquet", ".pq")
_JSON_EXTENSIONS = (".json", ".jsonl")
SUPPORTED_EXTENSIONS: tuple[str, ...] = (*_DELIMITERS, *_PARQUET_EXTENSIONS, *_JSON_EXTENSIONS)

_TIME_COLUMN_NAMES = frozenset({"time", "timestamp", "date", "datetime"})
_SERIES_OBJECT_KEYS = frozenset({"values", "timestamps", "channel_names"})
# pd.to_numeric turns these strings into NaN too; they mean "missing", not "not a number".
_MISSING_STRINGS = frozenset({"", "nan", "-nan", "na", "n/a", "null", "none"})


@dataclass
class SeriesFile:
    """One series read from a file.

    Attributes:
        values: float32 array of shape `(time, channels)`, one row per sample; NaN marks a missing sample.
        timestamps: one timestamp per sample (row of `values`), or None when the file has no time axis.
        channel_names: one name per channel (column of `values`).
        path: the file the series was read from.
    """

    values: np.ndarray
    timestamps: pd.DatetimeIndex | None
    channel_names: list[str]
    path: str


# ---------------------------------------------------------------------------------------------------------
# Atomic writes: every file or folder the project writes for others to read goes through these, so a reader (a
# resumed build, a training run, another process) sees the old version or the new one, never half of one.


@contextmanager
def file_in_place(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write the file to; when the block ends without error the file
    replaces `path` in one rename, and on an error it is removed. The temporary name is unique (two writers of one
    path never write into each other's file) and starts with a dot (globs of the folder's files do not see it).
    The caller creates the file, with `open()` or a library's writer, so it gets the umask's permissions."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_in_place(path: str | os.PathLike, text: str) -> None:
    """Writes `text` (UTF-8) to `path` through `file_in_place`."""
    with file_in_place(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def update_generation_config(model_dir: str | os.PathLike, **settings: Any) -> Path:
    """Sets `settings` (e.g. `windows={...}`, `end_thresholds={...}`; None removes a choice) in the
    `generation_config.json` of a saved model, written in place; returns the file's path."""
    path = Path(model_dir) / "generation_config.json"
    config = json.loads(path.read_text())
    config.update(settings)
    write_text_in_place(path, json.dumps(config, indent=2) + "\n")
    return path


@contextmanager
def directory_in_place(out: Path, *, staging: str | None = None, owner: bool = True) -> Iterator[Path]:
    """Yields an empty folder beside `out` to write into; when the block ends without error the folder replaces
    `out` whole, and on an error it is removed, so `out` is never half-written.

    For writers in several processes (a checkpoint of a distributed training, where every process saves its part):
    `staging` names the folder beside `out` so that each of them finds it, and only the process with `owner` empties
    and makes it on entering and moves it into place (or removes it) on leaving; the others only write into it.
    The caller makes them wait for the owner in between (a barrier after entering and one before leaving)."""
    out = Path(out)
    if staging is None:
        if not owner:
            raise ValueError("a folder written by several processes needs a `staging` name they share")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp", dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    else:
        tmp = out.parent / staging
        if owner:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
    if not owner:
        yield tmp
        return
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def files_in_place(folder: Path, staging: str) -> Iterator[Path]:
    """Yields `folder/staging`, emptied, to write several files into; when the block ends without error each of its
    entries replaces the entry of the same name in `folder` (one rename each) and the staging folder is removed.
    For a folder that holds other things too (a training run's checkpoints and logs), where `directory_in_place`
    cannot replace the whole: while the staging folder exists, also after an error, the entries of `folder` may be
    of two versions, and readers check for it by its name."""
    tmp = folder / staging
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    for item in tmp.iterdir():
        target = folder / item.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    tmp.rmdir()


def read_series(
    path: str | os.PathLike,
    columns: Sequence[str] | None = None,
    time_column: str | None = None,
) -> SeriesFile:
    """Reads one series, `(time, channels)`, from a file; see the module docstring for formats and rules.

    Args:
        path: a `.csv`, `.tsv`, `.txt`, `.parquet`, `.pq`, `.json` or `.jsonl` file.
        columns: the value columns to read, in this order; each must be numeric (numbers, or strings that
            parse as numbers). Default: every numeric column except the time column; other columns are
            skipped with a log line.
        time_column: the column holding one timestamp per sample; it must parse as datetimes. Default:
            found by name or type, see the module docstring.

    Returns:
        A `SeriesFile` with float32 values of shape `(time, channels)`; time is in samples (rows).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the extension is not supported, the file is empty or has zero rows, it has no numeric
            column, a requested column is missing or not numeric, or the time column does not parse.
    """
    path = Path(path)
    if isinstance(columns, str):
        columns = [columns]
    frame, timestamps = _read_frame(path)
    return _series_from_frame(frame, path, columns, time_column, timestamps)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Reads the table of a `.csv`, `.tsv`, `.txt`, `.parquet`, `.pq`, `.json` or `.jsonl` file as it is: its
    columns (named by strings), its rows in file order, nothing converted beyond what the format's reader does (a CSV
    index column written by pandas becomes the row labels, as in `read_series`; a JSON series object gives its
    channels as columns). For a long table of many series (`ts_florence.long_format`).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the extension is not supported, or the file is empty or does not parse.
    """
    frame, _ = _read_frame(Path(path))
    return frame.set_axis([str(name) for name in frame.columns], axis=1)


def _read_frame(path: Path) -> tuple[pd.DataFrame, pd.DatetimeIndex | None]:
    """The file's table by its extension, and the timestamps a JSON series object gives (else None)."""
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "series file not found", str(path))
    extension = path.suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise ValueError(f"{path}: unsupported extension {path.suffix!r}; supported: {supported}")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a file; give the path of one series file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty")
    if extension in _DELIMITERS:
        return _read_delimited(path, _DELIMITERS[extension]), None
    if extension in _PARQUET_EXTENSIONS:
        return _read_parquet(path), None
    return _read_json(path, lines=extension == ".jsonl")


def _read_delimited(path: Path, sep: str) -> pd.DataFrame:
    first_row = _first_row(path, sep)
    has_header = not all(_is_number(field) for field in first_row if field.strip())
    # An empty first header field is the index column that DataFrame.to_csv writes.
    index_col = 0 if has_header and not first_row[0].strip() else None
    try:
        frame = pd.read_csv(path, sep=sep, header=0 if has_header else None, index_col=index_col)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        kind = "CSV" if sep == "," else "tab-separated text"
        raise ValueError(f"{path}: cannot parse as {kind}: {err}") from err
    if not has_header:
        logger.info("%s: the first row is all numbers, so the file is read as having no header", path)
    if index_col is not None and not pd.api.types.is_numeric_dtype(frame.index):
        try:
            frame.index = parse_datetimes(frame.index)
        except (ValueError, TypeError, OverflowError):
            logger.info("%s: the unnamed first column is not datetimes; it is left out as a row label", path)
    return frame


def _first_row(path: Path, sep: str) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return [field.strip() for field in next(csv.reader([line], delimiter=sep))]
    raise ValueError(f"{path}: the file is empty (only blank lines)")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(f"{path}: cannot read as Parquet: {err}") from err


def _read_json(path: Path, lines: bool) -> tuple[pd.DataFrame, pd.DatetimeIndex | None]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); JSON files must be UTF-8") from err
    if not text.strip():
        raise ValueError(f"{path}: the file is empty (only whitespace)")
    if lines:
        document = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                document.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {number} is not valid JSON: {err}") from err
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON: {err}") from err
    return _frame_from_json(document, path)


def _frame_from_json(document: Any, path: Path) -> tuple[pd.DataFrame, pd.DatetimeIndex | None]:
    if isinstance(document, dict):
        if _is_series_object(document):
            return _frame_from_series_object(document, path)
        try:
            return pd.DataFrame(document), None
        except ValueError as err:  # scalar values or columns of different lengths
            raise ValueError(f"{path}: cannot read the JSON object as a table of columns: {err}") from err
    if not isinstance(document, list):
        raise ValueError(f"{path}: expected a JSON list or object, got {type(document).__name__}")
    if all(isinstance(row, list) for row in document):
        _check_same_lengths(document, path, "rows of the list of lists ([time][channels])")
        return pd.DataFrame(document), None
    if all(isinstance(row, dict) for row in document):
        return pd.DataFrame.from_records(document), None
    if not any(isinstance(row, (list, dict)) for row in document):
        return pd.DataFrame({"0": document}), None
    raise ValueError(f"{path}: a JSON list must hold only numbers, only rows (lists) or only records")


def _is_series_object(document: dict) -> bool:
    values = document.get("values")
    if not isinstance(values, list):
        return False
    nested = bool(values) and all(isinstance(row, list) for row in values)
    return nested or set(document) <= _SERIES_OBJECT_KEYS


def _frame_from_series_object(document: dict, path: Path) -> tuple[pd.DataFrame, pd.DatetimeIndex | None]:
    ignored = sorted(set(document) - _SERIES_OBJECT_KEYS)
    if ignored:
        logger.info("%s: ignoring keys %s of the series object", path, ignored)
    values = document["values"]
    names = document.get("channel_names")
    if names is not None and not isinstance(names, list):
        raise ValueError(f"{path}: 'channel_names' must be a list, got {type(names).__name__}")

    if values and all(isinstance(row, list) for row in values):
        _check_same_lengths(values, path, "lists in 'values'")
        inner = len(values[0])
        channels_first = names is None or len(names) == len(values)
        if not channels_first and len(names) != inner:
            raise ValueError(f"{path}: {len(names)} channel_names for 'values' of {len(values)} x {inner}")
        columns = values if channels_first else [list(column) for column in zip(*values, strict=True)]
    elif any(isinstance(value, (list, dict)) for value in values):
        raise ValueError(f"{path}: 'values' must be a list of numbers or a list of lists, not a mixture")
    else:
        columns = [values]

    if names is None:
        names = [str(i) for i in range(len(columns))]
    elif len(names) != len(columns):
        raise ValueError(f"{path}: 'channel_names' has {len(names)} names for {len(columns)} channels")
    frame = pd.DataFrame({i: column for i, column in enumerate(columns)})
    frame.columns = [str(name) for name in names]

    timestamps = None
    if document.get("timestamps") is not None:
        timestamps = _to_datetime_index(pd.Series(document["timestamps"]), "'timestamps'", path)
        if len(timestamps) != len(frame):
            raise ValueError(f"{path}: {len(timestamps)} timestamps for {len(frame)} samples")
    return frame, timestamps


def _check_same_lengths(rows: list[list], path: Path, what: str) -> None:
    lengths = sorted({len(row) for row in rows})
    if len(lengths) > 1:
        raise ValueError(f"{path}: the {what} have different lengths: {lengths}")


def _series_from_frame(
    frame: pd.DataFrame,
    path: Path,
    columns: Sequence[str] | None,
    time_column: str | None,
    timestamps: pd.DatetimeIndex | None,
) -> SeriesFile:
    frame = frame.set_axis([str(name) for name in frame.columns], axis=1)
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if duplicated:
        raise ValueError(f"{path}: duplicate column names {duplicated}")
    available = list(frame.columns)
    if not available:
        raise ValueError(f"{path}: the file has no columns")
    if len(frame) == 0:
        raise ValueError(f"{path}: the file has zero rows (columns: {available})")

    time_name = None
    if time_column is not None:
        if time_column not in frame.columns:
            raise ValueError(f"{path}: time column {time_column!r} not found; available columns: {available}")
        timestamps = _to_datetime_index(frame[time_column], f"time column {time_column!r}", path)
        time_name = time_column
    elif timestamps is None:
        timestamps, time_name = _find_timestamps(frame, path)

    names: list[str] = []
    arrays: list[np.ndarray] = []
    if columns is not None:
        if not columns:
            raise ValueError(f"{path}: `columns` is empty; available columns: {available}")
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise ValueError(f"{path}: column(s) {missing} not found; available columns: {available}")
        for name in columns:
            array, bad = as_numbers(frame[name])
            if array is None:
                raise ValueError(f"{path}: column {name!r} is not numeric: {_where(frame, name, bad)}")
            names.append(name)
            arrays.append(array)
    else:
        skipped = []
        for name in available:
            if name == time_name:
                continue
            array, bad = as_numbers(frame[name])
            if array is None:
                skipped.append(f"column {name!r} {_where(frame, name, bad)}")
                logger.info("%s: skipping non-numeric %s", path, skipped[-1])
                continue
            names.append(name)
            arrays.append(array)
        if not arrays:
            raise ValueError(f"{path}: no numeric column; {'; '.join(skipped) or f'columns: {available}'}")

    wide = np.column_stack(arrays)  # [time x channels], float64
    with np.errstate(over="ignore"):  # counted and logged just below
        values = wide.astype(np.float32)
    overflow = int(np.count_nonzero(np.isinf(values) & np.isfinite(wide)))
    if overflow:
        logger.warning("%s: %d values are beyond the float32 range and became +-inf", path, overflow)
    if timestamps is not None:
        _check_timestamps(timestamps, path)
    logger.debug("%s: read %d samples x %d channels", path, values.shape[0], values.shape[1])
    return SeriesFile(values=values, timestamps=timestamps, channel_names=names, path=str(path))


def _find_timestamps(frame: pd.DataFrame, path: Path) -> tuple[pd.DatetimeIndex | None, str | None]:
    """Timestamps found by column name, then column type, then index; and the column they came from."""
    named = [name for name in frame.columns if name.strip().lower() in _TIME_COLUMN_NAMES]
    typed = [name for name in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[name])]
    candidates = named + [name for name in typed if name not in named]
    if candidates:
        name = candidates[0]
        if len(candidates) > 1:
            logger.info("%s: timestamps from column %r (also time-like: %s)", path, name, candidates[1:])
        try:
            return _to_datetime_index(frame[name], f"column {name!r}", path), name
        except ValueError as err:
            logger.warning("%s; reading without timestamps and leaving the column out of the channels", err)
            return None, name
    if isinstance(frame.index, pd.DatetimeIndex):
        return frame.index, None
    return None, None


def _to_datetime_index(raw: pd.Series, what: str, path: Path) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(raw):
        return pd.DatetimeIndex(raw)
    if pd.api.types.is_numeric_dtype(raw):
        raise ValueError(f"{path}: {what} holds numbers of unknown time unit; write dates (ISO 8601)")
    try:
        return parse_datetimes(raw)
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(f"{path}: {what} does not parse as datetimes: {err}") from err


def parse_datetimes(raw: pd.Series | pd.Index) -> pd.DatetimeIndex:
    """`raw` (strings or datetimes) as datetimes, the format inferred by pandas; ValueError, TypeError or
    OverflowError from pandas when a value does not parse, which the caller words."""
    with warnings.catch_warnings():
        # Callers report a failure in their own words, and element-wise parsing that succeeds is fine.
        warnings.filterwarnings("ignore", "Could not infer format", UserWarning)
        return pd.DatetimeIndex(pd.to_datetime(raw))


def _check_timestamps(timestamps: pd.DatetimeIndex, path: Path) -> None:
    missing = int(timestamps.isna().sum())
    if missing:
        logger.warning("%s: %d timestamps are missing (NaT)", path, missing)
    elif not timestamps.is_monotonic_increasing:
        logger.warning("%s: timestamps are not in increasing order; rows are kept in file order", path)


def as_numbers(column: pd.Series) -> tuple[np.ndarray | None, int | None]:
    """The column as float64 (numbers, or strings that parse as numbers; the strings of `_MISSING_STRINGS` and
    None are NaN), or None and the position (row) of a value that is not a number (None when the
    whole column is of a type that is not numbers, such as datetimes)."""
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), None
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        return None, None
    try:
        converted = pd.to_numeric(column, errors="coerce")
    except (TypeError, ValueError):  # objects that are not scalars, such as nested lists
        present = np.flatnonzero(column.notna().to_numpy())
        return None, int(present[0]) if len(present) else None
    blank = column.astype(str).str.strip().str.lower().isin(_MISSING_STRINGS)
    failed = (column.notna() & converted.isna() & ~blank).to_numpy()
    if failed.any():
        return None, int(np.flatnonzero(failed)[0])
    return converted.to_numpy(dtype=np.float64, na_value=np.nan), None


def _where(frame: pd.DataFrame, name: str, row: int | None) -> str:
    """Where column `name` stops being numbers: its first bad cell (rows count from 1, after the header), or
    its type."""
    if row is None:
        return f"of type {frame[name].dtype}"
    return f"row {row + 1} holds {str(frame[name].iloc[row])!r:.60}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# Files of a model folder written by `save_pretrained` (model and processor) that loading needs.
_MODEL_CONFIG = "config.json"
_MODEL_WEIGHTS = "model.safetensors"
_MODEL_TOKENIZER = "tokenizer.json"
_MODEL_JSON_FILES = (_MODEL_CONFIG, "generation_config.json")  # read by the model's from_pretrained
_PROCESSOR_JSON_FILES = (_MODEL_TOKENIZER, "processor_config.json", "tokenizer_config.json")  # by the processor's


def check_model_folder(path: str | os.PathLike) -> Path:
    """ValueError naming the file of a saved model folder that is missing or damaged (unreadable JSON, weights
    cut short), so that a user learns which file to restore instead of reading a loader's traceback."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(
            f"model {path} is not a folder with a saved model (models load offline from a local folder written by "
            "save_pretrained)"
        )
    if not (folder / _MODEL_CONFIG).is_file():
        raise ValueError(
            f"{folder} holds no {_MODEL_CONFIG}: a model folder is written by save_pretrained "
            "(`ts-florence init`, training/train.py) and holds config.json, model.safetensors and the processor files"
        )
    if not (folder / _MODEL_TOKENIZER).is_file():
        raise ValueError(f"{folder} holds no {_MODEL_TOKENIZER} (the tokenizer); restore it or save the model again")
    _check_saved_json(folder, _PROCESSOR_JSON_FILES)
    model_type = _check_saved_json(folder, _MODEL_JSON_FILES).get("model_type")
    if model_type != "ts_florence":
        raise ValueError(f"{folder / _MODEL_CONFIG} is not a ts-florence config (model_type {model_type!r})")
    index = folder / f"{_MODEL_WEIGHTS}.index.json"
    if not index.is_file() and not (folder / _MODEL_WEIGHTS).is_file():
        raise ValueError(f"{folder} holds no {_MODEL_WEIGHTS} (the model weights); restore it or save the model again")
    _check_saved_weights(folder)
    return folder


def _check_saved_json(folder: Path, names: Sequence[str]) -> dict:
    """ValueError naming the first of the folder's JSON files `names` that does not parse to an object; returns the
    config (empty when it is not among them or not there)."""
    documents = {}
    for name in names:
        file = folder / name
        if not file.is_file():
            continue
        try:
            document = json.loads(file.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{file} is damaged (not valid JSON: {err}); restore it or save the model again") from None
        if not isinstance(document, dict):
            raise ValueError(f"{file} is damaged: expected a JSON object, got {type(document).__name__}")
        documents[name] = document
    return documents.get(_MODEL_CONFIG, {})


def _check_saved_weights(folder: Path) -> None:
    """ValueError naming a weights file of the folder that is cut short or unreadable (safetensors, single or
    sharded); weights that are not there are left to the loader, which names them."""
    index = folder / f"{_MODEL_WEIGHTS}.index.json"
    if index.is_file():  # sharded weights
        try:
            shards = sorted(set(json.loads(index.read_bytes())["weight_map"].values()))
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, AttributeError, TypeError) as err:
            raise ValueError(f"{index} is damaged ({err!r}); restore it or save the model again") from None
    else:
        shards = [_MODEL_WEIGHTS] if (folder / _MODEL_WEIGHTS).is_file() else []
    from safetensors import SafetensorError, safe_open

    for shard in shards:
        file = folder / shard
        if not file.is_file():
            raise ValueError(f"{folder} holds no {shard} (the model weights); restore it or save the model again")
        try:
            with safe_open(file, framework="numpy"):
                pass  # reads the header, which checks that the file holds every tensor it lists
        except SafetensorError as err:
            raise ValueError(f"{file} is damaged ({err}); restore it or save the model again") from None


def check_saved_files(path: str | os.PathLike, part: str) -> None:
    """For `from_pretrained` of a local folder: ValueError naming a file of `part` ("model": config and weights;
    "processor": tokenizer and processor config) that is damaged (JSON that does not parse, weights cut short),
    before a loader reads it and fails deep inside. Missing files are left to the loader, which names them;
    `check_model_folder` asks for a whole model folder."""
    folder = Path(path)
    if not folder.is_dir():
        return  # a Hub id or a file: the loader's own message
    if part == "model":
        _check_saved_json(folder, _MODEL_JSON_FILES)
        _check_saved_weights(folder)
    elif part == "processor":
        _check_saved_json(folder, _PROCESSOR_JSON_FILES)
    else:
        raise ValueError(f"part must be 'model' or 'processor', got {part!r}")
