"""scripts/benchmark.py: the baselines on hand-made series whose answer is known, the scoring shared by every
method, bad input, and a run end to end with a tiny random model on a tiny corpus built by the engine."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from corpora import build_synthetic_corpus
from script_modules import load_script
from tiny import tiny_config

from ts_florence import TSFlorenceForConditionalGeneration
from ts_florence import benchmark as BM
from ts_florence.evaluation import baselines
from ts_florence.evaluation import datasets as D
from ts_florence.evaluation.runner import build_examples

ROOT = Path(__file__).resolve().parents[1]
B = load_script("benchmark")

DEV_DATA = (ROOT / ".." / "shared" / "data").resolve()
needs_dev_data = pytest.mark.skipif(
    not DEV_DATA.is_dir(), reason=f"dev sets not found at {DEV_DATA} (../shared/data from the repository)"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A corpus of 8 synthetic training series and 8 evaluation series, built by the engine in seconds."""
    return build_synthetic_corpus(tmp_path_factory.mktemp("corpus"), "benchmark-test", 8, 8, shards=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, processor):
    """A tiny random checkpoint saved to disk, as `--model` takes it."""
    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    TSFlorenceForConditionalGeneration(tiny_config()).save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def cell_model_dir(tmp_path_factory, processor):
    """A tiny random checkpoint with a cell head, whose pipeline gives point scores."""
    out = tmp_path_factory.mktemp("cell-model")
    torch.manual_seed(0)
    config = tiny_config()
    config.cell_head_weight = 1.0
    TSFlorenceForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _tiny_nab(root: Path) -> Path:
    """A dev-data folder with a NAB of three real series of 800 five-minute samples, laid out as NAB's: one with
    a plateau at samples 400-419 (label window 380-439), one with a drop at 600-609 (window 590-619), one without
    anomalies. Returns `root`."""
    import pandas as pd

    stamps = pd.date_range("2015-03-01", periods=800, freq="5min")
    folder = root / "nab" / "data" / "realFake"
    folder.mkdir(parents=True)
    labels = {}
    series = [("a", (400, 420, 4.0), (380, 440)), ("b", (600, 610, -4.0), (590, 620)), ("c", None, None)]
    for seed, (name, anomaly, window) in enumerate(series):
        values = np.sin(2 * np.pi * np.arange(800) / 48) + 0.1 * _noise(800, seed)
        windows = []
        if anomaly is not None:
            values[anomaly[0] : anomaly[1]] += anomaly[2]
            windows = [[f"{stamps[window[0]]}.000000", f"{stamps[window[1] - 1]}.000000"]]
        frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "value": values})
        frame.to_csv(folder / f"{name}.csv", index=False)
        labels[f"realFake/{name}.csv"] = windows
    (root / "nab" / "labels").mkdir(parents=True)
    (root / "nab" / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    return root


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


def _covers(result: dict, index: int) -> bool:
    return any(start <= index < end for start, end in result["spans"])


# Baselines


def test_robust_z_finds_one_spike_where_it_is_and_nothing_else():
    x = _noise(500, seed=1)  # no sample beyond 3.5 std
    x[321] += 12.0
    x[100] = np.nan  # missing values are neither flagged nor fatal
    found = baselines.robust_z_spans(x)
    assert found["spans"] == [[321, 322]]
    assert found["labels"] == ["anomaly"] and 0 < found["scores"][0] < 1


def test_robust_z_reports_the_channel_of_a_multichannel_spike():
    values = np.stack([_noise(400, 1), _noise(400, 2)])
    values[1, 50] -= 15.0
    found = baselines.robust_z_spans(values)
    assert found["spans"] == [[50, 51]] and found["channels"] == [1]


def test_robust_z_of_a_constant_series_is_empty():
    assert baselines.robust_z_spans(np.ones(100))["spans"] == []


def test_ruptures_finds_a_mean_shift_at_its_index():
    x = _noise(800) + np.r_[np.zeros(400), np.full(400, 3.0)]
    assert baselines.ruptures_change_points(x) == [400]


def test_ruptures_finds_nothing_in_stationary_noise():
    assert baselines.ruptures_change_points(_noise(800, 3)) == []


def test_clasp_finds_a_change_of_shape_with_its_default_settings():
    t = np.arange(1000)
    x = np.where(t < 600, np.sin(2 * np.pi * t / 20), np.sin(2 * np.pi * t / 50)) + 0.1 * _noise(1000)
    (found,) = baselines.clasp_change_points(x)
    assert abs(found - 600) <= 10  # 1% of the length, TSSB's margin
    (found,) = baselines.clasp_change_points(x, window_size=20)
    assert abs(found - 600) <= 10


def test_clasp_finds_a_mean_shift_with_the_euclidean_distance():
    # The default z-normalized distance cannot see a change of level alone (each window is normalized).
    x = _noise(800) + np.r_[np.zeros(400), np.full(400, 3.0)]
    (found,) = baselines.clasp_change_points(x, distance="euclidean_distance")
    assert abs(found - 400) <= 16


def test_stumpy_top_discord_is_the_distorted_cycle():
    t = np.arange(1200)
    x = np.sin(2 * np.pi * t / 40) + 0.05 * _noise(1200)
    x[700:720] = 0.0  # half a cycle flattened
    found = baselines.stumpy_discord_spans(x, window=40, k=1)
    (start, end), score = found["spans"][0], found["scores"][0]
    assert end - start == 40 and start < 720 and 700 < end
    assert 0 < score <= 1


def test_stumpy_returns_k_discords_outside_each_other():
    found = baselines.stumpy_discord_spans(_noise(600), window=16, k=3)
    spans = sorted(found["spans"])
    assert len(spans) == 3
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))


@pytest.mark.parametrize(
    ("name", "options"),
    [("robust_z_spans", {}), ("iforest_window_spans", {"window": 40}), ("stumpy_discord_spans", {"window": 40})],
)
def test_anomaly_baselines_give_one_finite_point_score_per_sample_highest_at_the_anomaly(name, options):
    t = np.arange(1200)
    values = np.stack([np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 40)]) + 0.05 * _noise(2400).reshape(2, -1)
    values[0, 700:720] += 6.0 * np.hanning(20)  # a bump far above the rest, of a shape seen nowhere else
    values[1, 30] = np.nan
    detect = getattr(baselines, name)
    found = detect(values, return_point_scores=True, **options)
    scores = np.asarray(found.pop("point_scores"))
    assert scores.shape == (1200,) and np.isfinite(scores).all()
    assert found == detect(values, **options)  # the same spans as without point scores, not given by default
    assert "point_scores" not in detect(values, **options)
    peak = int(np.argmax(scores))
    assert 700 - 40 < peak < 720 + 40, peak  # within a window of the bump
    assert found["spans"] and any(start <= peak < end for start, end in found["spans"])


def test_point_scores_of_a_series_too_short_for_the_windows_are_constant():
    for detect in (baselines.iforest_window_spans, baselines.stumpy_discord_spans):
        found = detect(_noise(12), return_point_scores=True)
        assert found["spans"] == [] and found["point_scores"].tolist() == [0.0] * 12


def test_isolation_forest_windows_flag_a_burst():
    x = 0.1 * _noise(2000)
    x[1500:1530] += 3.0 * _noise(30, 9)
    found = baselines.iforest_window_spans(x, window=16)
    assert found["spans"], "no span"
    assert any(_covers(found, i) for i in range(1500, 1530))
    assert sum(e - s for s, e in found["spans"]) <= 200  # about 1% of the windows, each 16 samples


# Scoring: one code path for every method


def test_a_method_that_answers_the_truth_scores_one_on_every_metric(corpus):
    from ts_florence.records import load_split

    records = list(load_split(corpus, "eval"))
    examples = build_examples(records, D.TASKS)
    for task in D.TASKS:
        if not examples[task]:
            continue
        preds = [dict(ex.truth, scores=[1.0] * len(ex.truth.get("spans", ex.truth.get("points")))) for ex in
                 examples[task]]  # fmt: skip
        scores = BM.score(task, examples[task], preds, typed=True)
        assert scores, task
        flagged = scores.pop("flagged", None)  # a diagnostic: the share of samples inside the spans
        assert all(value == pytest.approx(1.0) for value in scores.values()), (task, scores)
        if flagged is not None:
            inside = [sum(e - s for s, e in ex.truth["spans"]) / ex.length for ex in examples[task]]
            assert flagged == pytest.approx(np.mean(inside))  # the truth's spans do not overlap
        untyped = BM.score(task, examples[task], preds, typed=False)
        assert not any(name.startswith("typed") for name in untyped)


def test_point_score_metrics_of_the_truth_are_one_and_of_the_references_their_known_values(tmp_path):
    data = D.load_nab(_tiny_nab(tmp_path), None)
    examples = [c.examples[D.ANOMALY] for c in data.cases]
    labels = [np.zeros(ex.length) for ex in examples]
    for label, ex in zip(labels, examples, strict=True):
        for start, end in ex.truth["spans"]:
            label[start:end] = 1.0
    perfect = [{**ex.truth, "scores": [1.0] * len(ex.truth["spans"]), "point_scores": label}
               for ex, label in zip(examples, labels, strict=True)]  # fmt: skip
    scores = BM.score(D.ANOMALY, examples, perfect, typed=False, point_scores=True)
    assert scores["auc_pr"] == pytest.approx(1.0) and scores["vus_pr"] == pytest.approx(1.0)
    assert scores["event_f1"] == pytest.approx(1.0)  # the span metrics are still there
    everything, random = (next(m for m in BM.reference_methods() if m.name == n) for n in ("all_anomalous",
                                                                                          "random_scores"))  # fmt: skip
    constant = BM.score(D.ANOMALY, examples, [everything.run(c)["anomaly"] for c in data.cases], False,
                        point_scores=True)  # fmt: skip
    with_anomaly = [label.mean() for label in labels if label.any()]
    assert constant["auc_pr"] == pytest.approx(np.mean(with_anomaly))  # the share of true samples
    drawn = BM.score(D.ANOMALY, examples, [random.run(c)["anomaly"] for c in data.cases], False, random.spans,
                     point_scores=True)  # fmt: skip
    assert set(drawn) == {"auc_pr", "vus_pr"}  # no spans: no span metric
    assert drawn["auc_pr"] < 0.5


def test_the_model_scores_as_the_evaluation_runner_scores_it(model_dir, corpus):
    from ts_florence import TSFlorenceProcessor
    from ts_florence.evaluation.runner import evaluate_model, score_task
    from ts_florence.records import load_split

    model = TSFlorenceForConditionalGeneration.from_pretrained(model_dir)
    processor = TSFlorenceProcessor.from_pretrained(model_dir)
    records = list(load_split(corpus, "eval"))
    report = evaluate_model(model, processor, records, list(D.TASKS), max_new_tokens=12, progress=False)
    data = D.load_frozen(corpus, None, progress=False)
    pipe = BM.load_model(model_dir, "cpu")
    for task in D.TASKS:
        cases = [c for c in data.cases if task in c.examples]
        if not cases:
            continue
        generate = {"max_new_tokens": 12, "num_beams": 1}
        preds, seconds = BM.run_model(pipe, cases, task, None, 0.25, 32, generate, torch.get_num_threads(), False)
        assert seconds > 0
        assert score_task(task, [c.examples[task] for c in cases], preds) == pytest.approx(report["scores"][task])


def test_engine_annotations_become_spans_of_each_kind_and_change_points():
    found = {
        "spans": [
            {"start": 3, "end": 5, "label": "spike", "kind": "anomaly", "channel": None, "score": 0.9},
            {"start": 10, "end": 20, "label": "peak", "kind": "event", "channel": None, "score": 0.8},
        ],
        "segments": [{"start": 0, "end": 40, "label": "calm"}, {"start": 40, "end": 100, "label": "volatile"}],
        "change_points": [{"index": 70, "label": "level shift"}],
    }
    out = BM.engine_outputs(found, 100)
    assert out["anomaly"]["spans"] == [[3, 5]] and out["anomaly"]["labels"] == ["spike"]
    assert out["event"]["spans"] == [[10, 20]]
    assert out["segments"]["points"] == [40]
    assert out["points"]["points"] == [40, 70]


# Bad input


def test_a_missing_model_folder_is_a_clear_error(corpus, tmp_path):
    with pytest.raises(SystemExit, match=r"model .*nope is not a folder with a saved model"):
        B.main(["--model", str(tmp_path / "nope"), "--corpus", str(corpus), "--datasets", "frozen"])


def test_a_folder_without_a_checkpoint_is_a_clear_error(corpus, tmp_path):
    with pytest.raises(SystemExit, match=r"holds no config\.json"):
        B.main(["--model", str(tmp_path), "--corpus", str(corpus), "--datasets", "frozen"])


def test_a_corpus_without_eval_split_is_a_clear_error(model_dir, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-00000-of-00001.parquet").write_bytes(b"")
    with pytest.raises(SystemExit, match="no split 'eval'"):
        B.main(["--model", str(model_dir), "--corpus", str(tmp_path), "--datasets", "frozen", "--methods", "robust_z"])
    with pytest.raises(SystemExit, match="does not exist"):
        B.main(["--model", str(model_dir), "--corpus", str(tmp_path / "nope"), "--datasets", "frozen"])


def test_unknown_methods_and_bad_options_are_refused(model_dir, corpus):
    base = ["--model", str(model_dir), "--corpus", str(corpus), "--datasets", "frozen"]
    with pytest.raises(SystemExit, match=r"unknown method\(s\) \['prophet'\]"):
        B.main([*base, "--methods", "model", "prophet"])
    with pytest.raises(SystemExit, match="--model-window"):
        B.main([*base, "--model-window", "wide"])
    with pytest.raises(SystemExit, match="--limit"):
        B.main([*base, "--limit", "-1"])


# End to end


def test_end_to_end_every_method_is_scored_in_range(model_dir, corpus, tmp_path, capsys):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    args = ["--model", str(model_dir), "--corpus", str(corpus), "--datasets", "frozen", "--limit", "6"]
    args += ["--max-new-tokens", "12", "--json", str(out), "--markdown", str(md), "--no-progress"]
    assert B.main(args) == 0
    report = json.loads(out.read_text())
    frozen = report["datasets"]["frozen"]
    assert frozen["series"] == 6 and frozen["total"] == 8
    assert any("6 of 8 series" in note for note in frozen["notes"])  # the subsampling is stated
    rows = frozen["rows"]
    # random_scores gives point scores only, which the frozen split does not score
    assert {row["method"] for row in rows} == set(BM.all_method_names()) - {"random_scores"}
    assert not any("auc_pr" in row["scores"] for row in rows)
    assert {row["task"] for row in rows if row["method"] == "model"} == set(D.TASKS)
    for row in rows:
        assert row["scores"], row
        assert all(0.0 <= value <= 1.0 for value in row["scores"].values()), row
        assert row["series_per_second"] > 0 and 1 <= row["n_series"] <= 6
        if row["kind"] in ("baseline", "reference"):
            assert not any(name.startswith("typed") for name in row["scores"])
    # the engine's recipe (events specialist only, in this corpus) finds some of the synthetic anomalies
    engine = next(r for r in rows if r["method"] == "engine" and r["task"] == D.ANOMALY)
    assert engine["scores"]["event_f1"] > 0
    everything = next(r for r in rows if r["method"] == "all_anomalous")
    assert everything["scores"]["flagged"] == 1.0
    printed = capsys.readouterr().out
    assert "| method | task |" in printed and "6 of 8 series" in printed
    assert "model reads each task in its own window" in printed  # how the model reads long series is stated
    assert "| ClaSP (claspy) | `<REGIME_SEGMENTATION>` |" in md.read_text()


# Dev sets


def test_dev_sets_are_skipped_with_the_reason_when_shared_data_is_missing(
    model_dir, corpus, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(B, "ROOT", tmp_path / "checkout")  # a user's checkout has no ../shared
    out = tmp_path / "skip.json"
    args = ["--model", str(model_dir), "--corpus", str(corpus), "--datasets", "tssb", "nab", "--methods", "robust_z"]
    assert B.main([*args, "--json", str(out), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    for key in ("tssb", "nab"):
        assert "shared/data does not exist" in report["datasets"][key]["skipped"]
    assert "skipped (no dev data" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--dev-data .* does not exist"):
        B.main([*args, "--dev-data", str(tmp_path / "nowhere")])


def test_nab_rows_carry_auc_pr_and_vus_pr_of_the_methods_with_point_scores(cell_model_dir, corpus, tmp_path,
                                                                          capsys):  # fmt: skip
    dev = _tiny_nab(tmp_path / "dev")
    out, md = tmp_path / "nab.json", tmp_path / "nab.md"
    methods = ["model", "robust_z", "iforest_windows", "all_anomalous", "random_scores", "events", "ruptures"]
    args = ["--model", str(cell_model_dir), "--corpus", str(corpus), "--dev-data", str(dev), "--datasets", "nab"]
    args += ["--methods", *methods, "--max-new-tokens", "8", "--no-progress", "--json", str(out), "--markdown", str(md)]
    assert B.main(args) == 0
    nab = json.loads(out.read_text())["datasets"]["nab"]
    rows = {row["method"]: row for row in nab["rows"]}
    assert set(rows) == set(methods) - {"ruptures"}  # ruptures finds change points only
    for name in ("model", "robust_z", "iforest_windows", "all_anomalous", "random_scores"):
        assert {"auc_pr", "vus_pr"} <= set(rows[name]["scores"]), name
        assert all(0.0 <= v <= 1.0 for v in rows[name]["scores"].values()), rows[name]
    assert "auc_pr" not in rows["events"]["scores"]  # a specialist gives spans only
    assert set(rows["random_scores"]["scores"]) == {"auc_pr", "vus_pr"}
    assert rows["all_anomalous"]["scores"]["auc_pr"] == pytest.approx((60 / 800 + 30 / 800) / 2)  # label rates
    assert rows["robust_z"]["scores"]["auc_pr"] > rows["random_scores"]["scores"]["auc_pr"]
    assert any("means over the 2 series with anomalous and normal samples" in n for n in nab["notes"])
    printed = capsys.readouterr().out
    assert "| event_f1 | affiliation_f1 | flagged | auc_pr | vus_pr |" in printed
    assert "| reference: random point scores | `<ANOMALY_DETECTION>` |  |  |  | 0." in md.read_text()


def test_nab_without_tsb_ad_is_a_clear_error_before_anything_runs(model_dir, corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "TSB_AD.utils.slidingWindows", None)  # import fails as if not installed
    args = ["--model", str(model_dir), "--corpus", str(corpus), "--dev-data", str(_tiny_nab(tmp_path)), "--datasets"]
    with pytest.raises(SystemExit, match=r"pip install --no-deps tsb-ad==1\.5.*leave out .*nab"):
        B.main([*args, "nab", "--methods", "robust_z"])


@needs_dev_data
def test_tssb_loads_series_with_their_change_points():
    data = D.load_tssb(DEV_DATA, limit=3)
    assert data.total == 75 and len(data.cases) == 3
    for case in data.cases:
        truth = case.examples[D.POINTS].truth["points"]
        assert truth and all(0 < p < case.length for p in truth)
        assert case.window_size >= 1


@needs_dev_data
def test_nab_real_windows_become_spans_of_their_timestamps():
    data = D.load_nab(DEV_DATA, limit=None)
    assert data.total == len(data.cases) == 47  # the real* series only
    labels = json.loads((DEV_DATA / "nab/labels/combined_windows.json").read_text())
    taxi = next(c for c in data.cases if c.id == "nab:realKnownCause/nyc_taxi.csv")
    spans = taxi.examples[D.ANOMALY].truth["spans"]
    assert len(spans) == len(labels["realKnownCause/nyc_taxi.csv"]) == 5
    first_start = labels["realKnownCause/nyc_taxi.csv"][0][0][:19].replace(" ", "T")
    assert taxi.timestamps[spans[0][0]] == first_start
    assert all(0 <= s < e <= taxi.length for s, e in spans)


@needs_dev_data
def test_dev_sets_run_end_to_end(model_dir, corpus, tmp_path):
    out = tmp_path / "dev.json"
    args = ["--model", str(model_dir), "--corpus", str(corpus), "--dev-data", str(DEV_DATA), "--datasets", "tssb"]
    args += ["nab", "--limit", "2", "--methods", "model", "ruptures", "robust_z", "--max-new-tokens", "8"]
    assert B.main([*args, "--json", str(out), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    tssb, nab = report["datasets"]["tssb"], report["datasets"]["nab"]
    assert {(r["method"], r["prompt"]) for r in tssb["rows"]} == {
        ("model", D.POINTS),
        ("model", D.SEGMENTS),
        ("ruptures", None),
    }
    assert {r["method"] for r in nab["rows"]} == {"model", "robust_z"}
    for row in tssb["rows"] + nab["rows"]:
        assert row["n_series"] == 2
        assert all(0.0 <= v <= 1.0 for v in row["scores"].values())
    assert set(tssb["rows"][0]["scores"]) == {"covering", "cp_f1"}
    assert {"event_f1", "affiliation_f1"} <= set(nab["rows"][0]["scores"])
