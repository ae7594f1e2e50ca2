import json
import os

import numpy as np
import pandas as pd
import pytest
from transformers import AutoModelForSeq2SeqLM, AutoProcessor

from ts_florence import cli
from ts_florence.windowing import span_iou


def test_init_writes_a_loadable_tiny_model_offline(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert cli.main(["init", "--preset", "tiny", "--out", str(out)]) == 0
    assert "tiny model" in capsys.readouterr().out
    files = sorted(os.listdir(out))
    assert "model.safetensors" in files and "generation_config.json" in files and "tokenizer.json" in files
    assert not [f for f in files if f.endswith(".bin")]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tiny")]  # no temporary folder left over
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    assert 2e6 < sum(p.numel() for p in model.parameters()) < 15e6
    assert len(processor.tokenizer) <= model.config.text_config.vocab_size
    assert model.generation_config.no_repeat_ngram_size == 0


def test_init_refuses_to_overwrite_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="exists and is not empty"):
        cli.main(["init", "--preset", "tiny", "--out", str(tmp_path)])
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.fixture
def burst_files(tmp_path, burst_model):
    """The first burst series as CSV (with a time column), Parquet and JSON."""
    values = burst_model.series[0]
    frame = pd.DataFrame({"time": pd.date_range("2026-01-01", periods=len(values), freq="h"), "load": values})
    frame.to_csv(tmp_path / "s.csv", index=False)
    frame.to_parquet(tmp_path / "s.parquet")
    (tmp_path / "s.json").write_text(json.dumps(values.tolist()))
    return tmp_path


@pytest.mark.parametrize("name", ["s.csv", "s.parquet", "s.json"])
def test_predict_reads_each_format_and_finds_the_burst(burst_files, burst_model, name, capsys):
    path = burst_files / name
    cli.main(["predict", str(path), "--task", "<ANOMALY_DETECTION>", "--model", str(burst_model.folder), "--json"])
    result = json.loads(capsys.readouterr().out)["<ANOMALY_DETECTION>"]
    assert span_iou(result["spans"][0], burst_model.spans[0]) >= 0.5
    assert ("timestamps" in result) == name.endswith(("csv", "parquet"))


def test_predict_draws_the_plot_and_prints_a_summary(burst_files, burst_model, capsys):
    png = burst_files / "plot.png"
    cli.main(
        [
            "predict",
            str(burst_files / "s.csv"),
            "--task",
            "<ANOMALY_DETECTION>",
            "<CAPTION>",
            "--model",
            str(burst_model.folder),
            "--plot",
            str(png),
        ]
    )
    out = capsys.readouterr().out
    assert "burst" in out and burst_model.captions[0] in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_predict_without_a_model_says_no_model_is_bundled(burst_files, monkeypatch):
    monkeypatch.setattr(cli, "bundled_model_path", lambda: None)
    with pytest.raises(SystemExit, match="bundles no default model"):
        cli.main(["predict", str(burst_files / "s.csv"), "--task", "<CAPTION>"])


def test_predict_reports_bad_files_and_tasks_clearly(burst_files, burst_model, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SystemExit, match="error: .*empty"):
        cli.main(["predict", str(empty), "--task", "<CAPTION>", "--model", str(burst_model.folder)])
    with pytest.raises(SystemExit, match="unknown task"):
        cli.main(["predict", str(burst_files / "s.csv"), "--task", "<FORECAST>", "--model", str(burst_model.folder)])
    with pytest.raises(SystemExit, match="not a folder"):
        cli.main(["predict", str(burst_files / "s.csv"), "--task", "<CAPTION>", "--model", str(tmp_path / "nope")])


def test_tasks_command_lists_every_task(capsys):
    from ts_florence import TASKS

    cli.main(["tasks"])
    out = capsys.readouterr().out
    assert all(token in out for token in TASKS)
    assert np.sum([line.startswith("<") for line in out.splitlines()]) == len(TASKS)
