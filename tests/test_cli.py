import json
import os
import re
import shutil
import subprocess
import sys

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
    # A span's timestamps read as times (first to last sample), not as a list of pandas objects.
    assert re.search(r"2026-01-\d\d \d\d:00:00 to 2026-01-\d\d \d\d:00:00", out) and "Timestamp(" not in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_predict_without_a_model_says_no_model_is_bundled(burst_files, monkeypatch):
    monkeypatch.setattr(cli, "bundled_model_path", lambda: None)
    with pytest.raises(SystemExit, match="bundles no default model"):
        cli.main(["predict", str(burst_files / "s.csv"), "--task", "<CAPTION>"])


def test_predict_reports_bad_files_and_tasks_clearly(burst_files, burst_model, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SystemExit, match="error: .*empty"):
        cli.main(["predict", str(empty), "--task", "<CAPTION>", "--model", str(burst_model.folder)])
    with pytest.raises(SystemExit) as exited:  # a usage error: exit 2, the message on stderr
        cli.main(["predict", str(burst_files / "s.csv"), "--task", "<FORECAST>", "--model", str(burst_model.folder)])
    assert exited.value.code == 2 and "unknown task '<FORECAST>'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="not a folder"):
        cli.main(["predict", str(burst_files / "s.csv"), "--task", "<CAPTION>", "--model", str(tmp_path / "nope")])


def test_tasks_command_lists_every_task(capsys):
    from ts_florence import TASKS

    cli.main(["tasks"])
    out = capsys.readouterr().out
    assert all(token in out for token in TASKS)
    assert np.sum([line.startswith("<") for line in out.splitlines()]) == len(TASKS)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-beams", "0"], "argument --num-beams: must be at least 1, got 0"),
        (["--num-beams", "-1"], "argument --num-beams: must be at least 1, got -1"),
        (["--window", "0"], "argument --window: must be at least 1, got 0"),
        (["--max-new-tokens", "0"], "argument --max-new-tokens: must be at least 1, got 0"),
        (["--text", "foo"], "--text 'foo' given, but <CAPTION> takes no input"),
        (["--task", "ANOMALY_DETECTION"], r"unknown task 'ANOMALY_DETECTION' \(did you mean '<ANOMALY_DETECTION>'\?\)"),
        (["--task", "<CAPTION_TO_PHRASE_GROUNDING>"], "needs text input: pass it with --text"),
        (
            ["--plot", "no/such/folder/plot.png"],
            "--plot: cannot save the plot to .*: the folder no/such/folder does not",
        ),
    ],
)
def test_predict_usage_errors_exit_2_naming_the_option(tmp_path, capsys, args, message):
    series = tmp_path / "s.csv"
    series.write_text("x\n1\n2\n3\n")
    with pytest.raises(SystemExit) as exited:
        cli.main(["predict", str(series), "--model", str(tmp_path), "--task", "<CAPTION>", *args])
    assert exited.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_evaluate_refuses_a_batch_size_of_zero(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["evaluate", "--model", str(tmp_path), "--data", str(tmp_path), "--batch-size", "0"])
    assert exited.value.code == 2
    assert "argument --batch-size: must be at least 1, got 0" in capsys.readouterr().err


def test_predict_reads_the_file_after_the_task_list(burst_files, burst_model, capsys):
    model = str(burst_model.folder)
    cli.main(["predict", "--task", "<ANOMALY_DETECTION>", "<CAPTION>", str(burst_files / "s.csv"), "--model", model])
    assert burst_model.captions[0] in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        cli.main(["predict", "--task", "<CAPTION>", "--model", model])
    assert exited.value.code == 2
    assert "required: file (give it before --task, or after the tasks)" in capsys.readouterr().err


def _damage(folder, name, content):
    if content is None:
        (folder / name).unlink()
    elif isinstance(content, int):  # cut the file to this many bytes
        (folder / name).write_bytes((folder / name).read_bytes()[:content])
    else:
        (folder / name).write_text(content)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("model.safetensors", 100_000, r"model\.safetensors is damaged \(.*incomplete metadata"),
        ("model.safetensors", 4, r"model\.safetensors is damaged"),
        ("model.safetensors", None, r"holds no model\.safetensors \(the model weights\)"),
        ("config.json", '{"model_type": "ts_flor', r"config\.json is damaged \(not valid JSON"),
        ("config.json", None, r"holds no config\.json: a model folder is written by save_pretrained"),
        ("config.json", '{"model_type": "bert"}', r"config\.json is not a ts-florence config \(model_type 'bert'\)"),
        ("tokenizer.json", None, r"holds no tokenizer\.json"),
        ("tokenizer_config.json", "[1, 2", r"tokenizer_config\.json is damaged"),
    ],
)
def test_a_damaged_model_folder_names_the_file(burst_files, burst_model, tmp_path, name, content, message):
    folder = tmp_path / "model"
    shutil.copytree(burst_model.folder, folder)
    _damage(folder, name, content)
    with pytest.raises(SystemExit) as exited:
        cli.main(["predict", str(burst_files / "s.csv"), "--task", "<CAPTION>", "--model", str(folder)])
    assert re.match(r"error: .*" + message, str(exited.value.code))


@pytest.mark.parametrize(
    "name, content, load, message",
    [
        ("model.safetensors", 100_000, "model", r"model\.safetensors is damaged \(.*incomplete metadata"),
        ("generation_config.json", "{", "model", r"generation_config\.json is damaged \(not valid JSON"),
        ("tokenizer_config.json", "[1, 2", "processor", r"tokenizer_config\.json is damaged \(not valid JSON"),
        ("tokenizer.json", "{", "processor", r"tokenizer\.json is damaged \(not valid JSON"),
        ("model.safetensors", 100_000, "pipeline", r"model\.safetensors is damaged"),
        ("tokenizer_config.json", "[1, 2", "pipeline", r"tokenizer_config\.json is damaged"),
        ("config.json", None, "pipeline", r"holds no config\.json: a model folder is written by save_pretrained"),
        ("model.safetensors", None, "pipeline", r"holds no model\.safetensors \(the model weights\)"),
    ],
)
def test_from_pretrained_of_a_damaged_folder_names_the_file(burst_model, tmp_path, name, content, load, message):
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor, pipeline

    folder = tmp_path / "model"
    shutil.copytree(burst_model.folder, folder)
    _damage(folder, name, content)
    loader = {
        "model": AutoModelForSeq2SeqLM.from_pretrained,
        "processor": AutoProcessor.from_pretrained,
        # transformers' pipeline() wraps the model's error in its own ValueError, whose last line is ours
        "pipeline": lambda path: pipeline("time-series-prompting", model=path),
    }[load]
    with pytest.raises(ValueError, match=message):
        loader(str(folder))


def test_an_empty_model_folder_says_config_json_is_missing(burst_files, tmp_path):
    from transformers import AutoConfig, pipeline

    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match=r"empty holds no config\.json"):
        cli.main(["predict", str(burst_files / "s.csv"), "--task", "<CAPTION>", "--model", str(tmp_path / "empty")])
    with pytest.raises(ValueError, match=r"empty holds no config\.json"):
        pipeline("time-series-prompting", model=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="Unrecognized model"):  # other uses of AutoConfig keep transformers' message
        AutoConfig.from_pretrained(str(tmp_path / "empty"))


@pytest.mark.parametrize("name", ["x.csv", "x.json", "x.parquet"])
def test_predict_on_a_folder_named_like_a_series_file_says_it_is_a_folder(burst_model, tmp_path, name):
    (tmp_path / name).mkdir()
    with pytest.raises(SystemExit, match=f"error: .*{name}: is a folder, not a file"):
        cli.main(["predict", str(tmp_path / name), "--task", "<CAPTION>", "--model", str(burst_model.folder)])


def test_the_command_exits_1_on_bad_data_without_a_traceback_unless_verbose(burst_model, tmp_path):
    folder = tmp_path / "x.csv"
    folder.mkdir()
    command = [sys.executable, "-m", "ts_florence.cli"]
    args = ["predict", str(folder), "--task", "<CAPTION>", "--model", str(burst_model.folder)]
    quiet = subprocess.run([*command, *args], capture_output=True, text=True)
    assert quiet.returncode == 1
    assert quiet.stderr.strip().splitlines() == [
        f"error: {folder}: is a folder, not a file; give the path of one series file"
    ]
    verbose = subprocess.run([*command, "-v", *args], capture_output=True, text=True)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
