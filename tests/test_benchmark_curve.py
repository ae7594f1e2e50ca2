"""scripts/benchmark_curve.py: every checkpoint of a run scored on the dev sets with one decoding, resumable."""

import json
import shutil

import pytest
from script_modules import load_script
from test_benchmark import corpus, model_dir  # noqa: F401  (fixtures)
from test_choose_windows import _dev_data

from ts_florence.io import update_generation_config

C = load_script("benchmark_curve")


def _checkpoint(run, model, step):
    folder = run / "checkpoints" / f"step-{step}"
    shutil.copytree(model, folder)
    (folder / "trainer_state.json").write_text(json.dumps({"step": step}))
    return folder


def test_each_step_is_scored_once_with_the_reference_settings(model_dir, tmp_path, capsys):  # noqa: F811
    dev, run, out = _dev_data(tmp_path / "dev"), tmp_path / "run", tmp_path / "curve.json"
    reference = tmp_path / "reference"
    shutil.copytree(model_dir, reference)
    update_generation_config(reference, windows={"<ANOMALY_DETECTION>": 128})
    _checkpoint(run, model_dir, 10)
    args = ["--run", str(run), "--start", str(model_dir), "--step-offset", "100", "--settings-from", str(reference),
            "--dev-data", str(dev), "--max-new-tokens", "8", "--out", str(out)]  # fmt: skip
    assert C.main(args) == 0
    curve = json.loads(out.read_text())
    assert curve["settings"] == {"windows": {"<ANOMALY_DETECTION>": 128}, "cell_thresholds": None}
    assert [p["step"] for p in curve["points"]] == [100, 110]
    for point in curve["points"]:
        assert set(point["nab"]) == {"event_f1", "affiliation_f1"} and set(point["tssb"]) == {"covering", "cp_f1"}
        assert all(0.0 <= v <= 1.0 for key in ("nab", "tssb") for v in point[key].values())
    assert "| 110 |" in capsys.readouterr().out

    _checkpoint(run, model_dir, 20)  # resumed: only the new step is scored
    assert C.main(args) == 0
    assert "step 120 " in capsys.readouterr().out
    assert [p["step"] for p in json.loads(out.read_text())["points"]] == [100, 110, 120]

    shutil.copytree(model_dir, run, dirs_exist_ok=True)  # the run finished: its own model is its last step
    (run / "train_results.json").write_text(json.dumps({"steps": 30}))
    assert C.main(args) == 0
    assert [p["step"] for p in json.loads(out.read_text())["points"]] == [100, 110, 120, 130]
    assert C.main([*args, "--note", "a test run"]) == 0  # nothing left to score; the note is kept
    assert json.loads(out.read_text())["note"] == "a test run"

    with pytest.raises(SystemExit, match="measured with the settings"):
        C.main([*args[:-2], "--settings-from", str(model_dir), "--out", str(out)])


def test_the_cards_curve_has_a_row_per_step_with_its_figures():
    from ts_florence.benchmark import curve_markdown

    curve = {"settings": {}, "points": [
        {"step": 14000, "nab": {"event_f1": 0.2, "affiliation_f1": 0.6}, "tssb": {"covering": 0.5, "cp_f1": 0.4}},
        {"step": 15000, "nab": {"event_f1": 0.25, "affiliation_f1": 0.65}},
    ]}  # fmt: skip
    lines = curve_markdown(curve).splitlines()
    assert lines[0] == "| step | NAB event_f1 | NAB affiliation_f1 | TSSB covering | TSSB cp_f1 |"
    assert lines[2:] == ["| 14,000 | 0.200 | 0.600 | 0.500 | 0.400 |", "| 15,000 | 0.250 | 0.650 | - | - |"]
