"""scripts/choose_windows.py: every candidate window scored on a dev set, the best saved in the generation config."""

import json

import numpy as np
import pandas as pd
from script_modules import load_script
from test_benchmark import corpus, model_dir  # noqa: F401  (fixtures)
from transformers import GenerationConfig

W = load_script("choose_windows")


def _dev_data(root):
    """A NAB with one real series (an anomaly window around a spike) and a TSSB with one series (one change)."""
    rng = np.random.default_rng(0)
    nab = root / "nab"
    (nab / "data" / "realTest").mkdir(parents=True)
    stamps = pd.date_range("2026-01-01", periods=300, freq="5min")
    values = rng.normal(size=300)
    values[200] += 12.0
    pd.DataFrame({"timestamp": stamps.astype(str), "value": values}).to_csv(nab / "data/realTest/a.csv", index=False)
    (nab / "labels").mkdir()
    window = [str(stamps[190]), str(stamps[210])]
    (nab / "labels/combined_windows.json").write_text(json.dumps({"realTest/a.csv": [window]}))
    tssb = root / "tssb" / "datasets"
    tssb.mkdir(parents=True)
    (tssb / "desc.txt").write_text("s1,10,150\n")
    np.savetxt(tssb / "s1.txt", np.concatenate([rng.normal(size=150), 5 + rng.normal(size=150)]))
    return root


def test_every_window_is_scored_and_the_best_is_written(model_dir, tmp_path, capsys):  # noqa: F811
    dev = _dev_data(tmp_path / "dev")
    args = ["--model", str(model_dir), "--dev-data", str(dev), "--windows", "64", "128", "--max-new-tokens", "8"]
    assert W.main([*args, "--write"]) == 0
    printed = capsys.readouterr().out
    for task in ("<ANOMALY_DETECTION> on nab (1 series)", "<CHANGE_POINT_DETECTION> on tssb (1 series)"):
        assert task in printed
    assert printed.count("| 64 |") == 2 and printed.count("| whole |") == 2
    windows = GenerationConfig.from_pretrained(model_dir).windows or {}
    assert set(windows) <= {"<ANOMALY_DETECTION>", "<CHANGE_POINT_DETECTION>"}
    assert all(w in (64, 128) for w in windows.values())
    assert f"generation_config.windows = {windows}" in printed


def test_a_model_with_a_cell_head_is_also_scored_cell_decoded(processor, tmp_path, capsys):
    import torch
    from tiny import tiny_config

    from ts_florence import TSFlorenceForConditionalGeneration

    torch.manual_seed(0)
    config = tiny_config()
    config.cell_head_weight, config.location_pointer = 1.0, True
    cell_model = tmp_path / "model"
    TSFlorenceForConditionalGeneration(config).save_pretrained(cell_model)
    processor.save_pretrained(cell_model)
    dev = _dev_data(tmp_path / "dev")
    args = ["--model", str(cell_model), "--dev-data", str(dev), "--windows", "64", "--max-new-tokens", "8"]
    assert W.main([*args, "--cell-thresholds", "0.3", "0.6", "--write"]) == 0
    printed = capsys.readouterr().out
    # Anomalies: 2 windows x (generate + 2 thresholds); change points: 2 windows, generated.
    assert printed.count("| cells >= 0.3 |") == 2 and printed.count("| generate |") == 4
    chosen = GenerationConfig.from_pretrained(cell_model)
    thresholds = getattr(chosen, "cell_thresholds", None) or {}
    assert set(thresholds) <= {"<ANOMALY_DETECTION>"} and all(t in (0.3, 0.6) for t in thresholds.values())
    assert f"generation_config.cell_thresholds = {thresholds}" in printed
