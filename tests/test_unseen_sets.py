"""The unseen real sets of the benchmark (`ts_florence.evaluation.datasets`: TCPD in river, MIT-BIH in sktime): read
from hand-made stand-ins of the packages' files as the packages lay them out, from the installed packages where they
are (skipped otherwise), skipped by the benchmark with the install line when missing, and the model card's gap to the
best baseline with its measured why."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from script_modules import load_script
from test_benchmark import corpus, model_dir  # noqa: F401  (fixtures)

from ts_florence.evaluation import datasets as D

B = load_script("benchmark")
CARDS = load_script("make_cards")

RIVER_SOURCE = """
import a_module_that_does_not_exist  # the loader reads this file, it never imports it

class Stand(ChangePointFileDataset):
    def __init__(self):
        super().__init__(
            annotations={{"6": {six}, "7": []}},
            filename="{file}",
        )
"""


def _river(root: Path, files: dict[str, tuple[pd.DataFrame, dict]]) -> Path:
    """A stand-in of river's folder: `drift/datasets/<file>.csv` and the `.py` of the same stem holding its
    `annotations=` literal (annotator "6" marks `points`, "7" nothing). Returns `root`."""
    folder = root / "drift" / "datasets"
    folder.mkdir(parents=True)
    for file, (frame, points) in files.items():
        frame.to_csv(folder / file, index=False)
        (folder / file).with_suffix(".py").write_text(RIVER_SOURCE.format(six=points, file=file))
    return root


def _two_series(monkeypatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two TCPD-like series in place of river's seven: "daily", whose TCPD series is every third row after the first
    (as apple's), and "spot", every second row from the first row of 2000 on (as brent_spot's, every tenth)."""
    daily = pd.DataFrame({"Date": [f"d{i}" for i in range(31)], "Close": np.arange(31.0), "Volume": -np.arange(31.0)})
    spot = pd.DataFrame({"day": [f"01/{i % 28 + 1}/{1999 + i // 10}" for i in range(40)], "DPB": np.arange(40.0)})
    monkeypatch.setattr(D, "TCPD_SERIES", (
        D.TcpdSeries("daily", "daily.csv", ("Close", "Volume"), 10, start=1, step=3),
        D.TcpdSeries("spot", "spot.csv", ("DPB",), 15, step=2, from_year="2000"),
    ))  # fmt: skip
    return daily, spot


def test_tcpd_series_are_the_rows_tcpd_keeps_with_one_case_per_annotator(tmp_path, monkeypatch):
    daily, spot = _two_series(monkeypatch)
    root = _river(tmp_path, {"daily.csv": (daily, [4, 7]), "spot.csv": (spot, [3])})
    data = D.load_tcpd(None, root=root)
    assert data.total == len(data.cases) == 4  # two series, two annotators each
    assert [c.id for c in data.cases] == [
        "tcpd:daily:annotator6", "tcpd:daily:annotator7", "tcpd:spot:annotator6", "tcpd:spot:annotator7"]  # fmt: skip
    first = data.cases[0]
    assert first.values.shape == (2, 10)  # Close and Volume, one channel each
    assert first.values[0].tolist() == [1.0, 4.0, 7.0, 10.0, 13.0, 16.0, 19.0, 22.0, 25.0, 28.0]
    assert first.values[1].tolist() == (-first.values[0]).tolist()
    assert first.examples[D.POINTS].truth == {"points": [4, 7]}
    assert data.cases[1].examples[D.POINTS].truth == {"points": []}  # an annotator who saw no change
    # every second row is 1999's (rows 0-9) or later; the series starts at the first kept row of 2000, row 10
    assert data.cases[2].values[0].tolist() == list(np.arange(10.0, 40.0, 2))
    assert data.tasks == (D.POINTS,) and data.model_prompts == {D.POINTS: D.POINTS, D.SEGMENTS: D.POINTS}
    assert "unseen" in data.notes[0] and "human annotators" in data.notes[0]


def test_tcpd_refuses_a_file_that_does_not_give_tcpds_length(tmp_path, monkeypatch):
    daily, spot = _two_series(monkeypatch)
    root = _river(tmp_path, {"daily.csv": (daily.iloc[:-3], [4]), "spot.csv": (spot, [3])})
    with pytest.raises(D.BenchmarkError, match="gives 9 samples of TCPD's daily, not its 10"):
        D.load_tcpd(None, root=root)


def test_tcpd_refuses_an_annotation_outside_the_series(tmp_path, monkeypatch):
    daily, spot = _two_series(monkeypatch)
    root = _river(tmp_path, {"daily.csv": (daily, [4, 10]), "spot.csv": (spot, [3])})
    with pytest.raises(D.BenchmarkError, match="annotator 6 of daily marks a point outside the series"):
        D.load_tcpd(None, root=root)


def test_mitdb_labels_become_half_open_spans(tmp_path):
    labels = np.zeros(500, dtype=int)
    labels[100:130] = 1
    labels[499:] = 1  # a run that reaches the last sample
    folder = tmp_path / "datasets" / "data" / "mitdb"
    folder.mkdir(parents=True)
    pd.DataFrame({"data": np.sin(np.arange(500) / 7), "label": labels}).to_csv(folder / "mitdb.csv", index=False)
    data = D.load_mitdb(None, root=tmp_path)
    (case,) = data.cases
    assert case.values.shape == (1, 500)
    assert case.examples[D.ANOMALY].truth["spans"] == [[100, 130], [499, 500]]
    assert data.point_metrics and "f1@0.5" in data.metrics
    with pytest.raises(D.DataUnavailable, match="sktime==1.2.0"):
        D.load_mitdb(None, root=tmp_path / "elsewhere")


def test_a_missing_package_names_how_to_install_it(monkeypatch):
    monkeypatch.setattr(D.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(D.DataUnavailable, match=r"river is not installed \(pip install --no-deps river==0\.26\.1\)"):
        D.load_tcpd(None)


needs_river = pytest.mark.skipif(D.importlib.util.find_spec("river") is None, reason="river==0.26.1 not installed")
needs_sktime = pytest.mark.skipif(D.importlib.util.find_spec("sktime") is None, reason="sktime==1.2.0 not installed")


@needs_river
def test_tcpd_from_river_is_tcpds_seven_series_and_their_annotators():
    data = D.load_tcpd(None)
    assert data.total == 35  # 7 series, 5 annotators each
    brent = next(c for c in data.cases if c.id.startswith("tcpd:brent_spot:"))
    assert brent.length == 500 and brent.values[0, :3].tolist() == [23.95, 26.31, 27.35]  # TCPD's brent_spot.json
    apple = next(c for c in data.cases if c.id == "tcpd:apple:annotator6")
    assert apple.values.shape == (2, 622) and apple.examples[D.POINTS].truth == {"points": [319]}
    assert apple.values[0, 319] < 0.6 * apple.values[0, 318]  # 2000-09-29, the stock fell by half


@needs_sktime
def test_mitdb_from_sktime_is_one_ecg_with_one_abnormal_stretch():
    (case,) = D.load_mitdb(None).cases
    assert case.length == 7500 and case.examples[D.ANOMALY].truth["spans"] == [[6936, 7288]]


def test_the_benchmark_skips_a_set_whose_package_is_missing(model_dir, corpus, tmp_path, monkeypatch, capsys):  # noqa: F811
    def missing(dist, version):
        raise D.DataUnavailable(f"{dist} is not installed (pip install --no-deps {dist}=={version})")

    monkeypatch.setattr(D, "package_root", missing)
    out = tmp_path / "unseen.json"
    args = ["--model", str(model_dir), "--corpus", str(corpus), "--datasets", "tcpd", "mitdb", "--methods", "robust_z"]
    assert B.main([*args, "--json", str(out), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    assert report["datasets"]["tcpd"]["skipped"] == "river is not installed (pip install --no-deps river==0.26.1)"
    assert "sktime==1.2.0" in report["datasets"]["mitdb"]["skipped"]
    assert "## TCPD in river: skipped (river is not installed" in capsys.readouterr().out


def test_tcpd_runs_end_to_end_with_the_answers_counted(model_dir, corpus, tmp_path, monkeypatch):  # noqa: F811
    daily, spot = _two_series(monkeypatch)
    root = _river(tmp_path / "river", {"daily.csv": (daily, [4, 7]), "spot.csv": (spot, [3])})
    monkeypatch.setattr(D, "package_root", lambda dist, version: root)
    out = tmp_path / "tcpd.json"
    args = ["--model", str(model_dir), "--corpus", str(corpus), "--datasets", "tcpd", "--methods", "model", "ruptures"]
    assert B.main([*args, "no_change", "--max-new-tokens", "8", "--json", str(out), "--no-progress"]) == 0
    tcpd = json.loads(out.read_text())["datasets"]["tcpd"]
    assert tcpd["truth_items_per_series"] == {D.POINTS: 0.75}  # (2 + 0 + 1 + 0) / 4 cases
    rows = {(r["method"], r["prompt"]): r for r in tcpd["rows"]}
    assert set(rows) == {("model", D.POINTS), ("model", D.SEGMENTS), ("ruptures", None), ("no_change", None)}
    assert rows[("no_change", None)]["items_per_series"] == 0.0
    assert all(r["n_series"] == 4 and 0 <= r["scores"]["covering"] <= 1 for r in rows.values())


def test_items_per_series_counts_spans_and_the_change_points_a_segmentation_is_scored_on():
    assert B.items_per_series(D.ANOMALY, [{"spans": [[1, 2], [5, 9]]}, {"spans": []}]) == 1.0
    assert B.items_per_series(D.POINTS, [{"points": [10, 20, 30]}, {"points": [5]}]) == 2.0
    assert B.items_per_series(D.POINTS, [{"spans": [[0, 10], [10, 30]], "labels": ["a", "b"]}]) == 1.0


def _row(method: str, kind: str, task: str, metric: str, value: float, items: float, **scores) -> dict:
    return {"method": method, "label": method, "kind": kind, "task": task, "prompt": task if kind == "model" else None,
            "scores": {metric: value, **scores}, "items_per_series": items}  # fmt: skip


def test_the_card_states_the_gap_to_the_best_baseline_and_why_where_the_model_is_below():
    report = {"datasets": {
        "tcpd": {"title": "TCPD in river (/some/path)", "truth_items_per_series": {D.POINTS: 2.4}, "rows": [
            _row("model", "model", D.POINTS, "covering", 0.55, 0.3),
            _row("ClaSP", "baseline", D.POINTS, "covering", 0.62, 1.9),
            _row("BinSeg", "baseline", D.POINTS, "covering", 0.58, 3.1),
            _row("engine", "engine", D.POINTS, "covering", 0.90, 2.0),  # not a classical baseline
            _row("no change", "reference", D.POINTS, "covering", 0.95, 0.0),
        ]},
        "mitdb": {"title": "MIT-BIH ECG in sktime (/x)", "truth_items_per_series": {D.ANOMALY: 1.0}, "rows": [
            _row("model", "model", D.ANOMALY, "affiliation_f1", 0.80, 2.0, flagged=0.05),
            _row("robust z", "baseline", D.ANOMALY, "affiliation_f1", 0.70, 9.0, flagged=0.01),
        ]},
        "nab": {"title": "NAB", "rows": [_row("model", "model", D.ANOMALY, "affiliation_f1", 0.1, 1.0)]},  # not unseen
    }}  # fmt: skip
    text = "\n".join(CARDS.unseen_lines(report))
    assert (
        "TCPD in river, `<CHANGE_POINT_DETECTION>`: covering 0.550, best classical baseline ClaSP 0.620 "
        "(the model -0.070, below it): the model answers 0.3 change points per series, ClaSP 1.9, the truth 2.4."
    ) in text
    assert "MIT-BIH ECG in sktime, `<ANOMALY_DETECTION>`: affiliation_f1 0.800, best classical baseline robust z" in (
        text
    )
    assert "(the model +0.100, at or above it)." in text
    assert "/some/path" not in text and "NAB" not in text
    assert "- Near TCPD in river in the training corpus: two of TCPD's series" in text
    report["datasets"]["mitdb"]["rows"] = [
        _row("model", "model", D.ANOMALY, "affiliation_f1", 0.0, 0.0, flagged=0.0, auc_pr=0.03),
        _row("robust z", "baseline", D.ANOMALY, "affiliation_f1", 0.6, 26.0, flagged=0.03, auc_pr=0.07),
        {**_row("random", "reference", D.ANOMALY, "auc_pr", 0.05, 0.0), "method": "random_scores"},
    ]
    text = "\n".join(CARDS.unseen_lines(report))
    assert (
        "affiliation_f1 0.000, best classical baseline robust z 0.600 (the model -0.600, below it): the model answers "
        "0.0 spans per series, robust z 26.0, the truth 1.0; they flag 0.0% and 3.0% of the samples; the model's "
        "per-sample scores (its cell head) have an AUC-PR of 0.030, random ones 0.050, robust z's 0.070."
    ) in text
    assert CARDS.unseen_lines({"datasets": {"tcpd": {"title": "TCPD", "skipped": "river is not installed"}}}) == []
