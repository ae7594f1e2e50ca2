"""training/train.py (`ts_florence.training`): configs, the task mixture, a run whose loss falls, resume after
SIGKILL, two CPU processes, fine-tuning on a table of labelled series."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from corpora import build_synthetic_corpus
from script_modules import load_script

from ts_florence import PRESETS, TSFlorenceConfig, TSFlorenceForConditionalGeneration
from ts_florence import training as T
from ts_florence.data import (
    ExampleDataset,
    SeriesAugmentation,
    TaskMixtureSampler,
    TSFlorenceCollator,
    build_example_index,
    records_from_table,
    resolve_task_weights,
)
from ts_florence.evaluation.series_gain import example_losses, swap_series

ROOT = Path(__file__).resolve().parents[1]

# A short run of the tiny preset: a few seconds per step on one core.
QUICK = [
    "--max-steps=8",
    "--set=optim.per_device_batch_size=4",
    "--set=optim.warmup_steps=2",
    "--set=optim.learning_rate=0.002",
    "--set=run.log_every=1",
    "--set=run.eval_every=4",
    "--set=run.save_every=3",
    "--set=run.save_total_limit=5",
    "--set=run.report_to=none",
    "--set=run.final_eval_limit=2",
    "--set=run.progress=false",
    "--set=data.eval_examples=8",
    "--set=data.num_proc=null",
    "--set=model.tokenizer_texts=50",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A corpus of 40 synthetic training series and 12 evaluation series, built by the engine in seconds."""
    return build_synthetic_corpus(tmp_path_factory.mktemp("corpus"), "train-test", 40, 12, shards=2)


def _args(corpus, out, *extra):
    return ["--config", str(ROOT / "training/configs/tiny.yaml"), "--data", str(corpus), "--output-dir", str(out)]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]


def _train_steps(out: Path) -> dict[int, dict]:
    return {e["step"]: e for e in _log(out) if "loss" in e}


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """The reference run: 8 uninterrupted steps, in this process."""
    out = tmp_path_factory.mktemp("run")
    # One torch thread, as in the subprocess runs compared against this one (OMP_NUM_THREADS=1): reductions
    # summed in another order differ in the last bits, and six training steps make that visible. Earlier tests
    # can change this process's thread count (numba), so it is set here.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert T.main(_args(corpus, out) + QUICK) == 0
    finally:
        torch.set_num_threads(threads)
    return out


# Configs


@pytest.mark.parametrize("path", sorted((ROOT / "training/configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_run_config_loads_and_names_a_known_preset(path):
    config = T.load_config(path)
    assert config.model.preset in PRESETS
    assert config.optim.max_steps >= 1


def test_unknown_or_mistyped_keys_are_refused_with_their_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  learning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['learning_rat'\]"):
        T.load_config(bad)
    with pytest.raises(ValueError, match="optim.max_steps: expected int"):
        T.load_config(None, ["optim.max_steps=many"])
    with pytest.raises(ValueError, match="unknown key"):
        T.load_config(None, ["colour.red=1"])
    assert T.main(["--config", str(bad)]) == 2
    # PyYAML reads "3e-4" as text; a float setting takes it, and still refuses words
    assert T.load_config(None, ["optim.learning_rate=3e-4"]).optim.learning_rate == 3e-4
    with pytest.raises(ValueError, match="optim.learning_rate: expected float, got 'fast'"):
        T.load_config(None, ["optim.learning_rate=fast"])


@pytest.mark.parametrize(
    "preset, low, high", [("tiny", 3e6, 12e6), ("base", 0.20e9, 0.26e9), ("large", 0.70e9, 0.83e9)]
)
def test_model_presets_have_the_sizes_the_configs_promise(preset, low, high):
    with torch.device("meta"):
        model = TSFlorenceForConditionalGeneration(TSFlorenceConfig.from_preset(preset))
    count = sum(p.numel() for p in model.parameters())
    assert low <= count <= high, count


@pytest.mark.parametrize("path", sorted((ROOT / "training/accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_every_accelerate_config_loads_in_accelerate(path, tmp_path):
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(path)
    assert config.num_processes >= 2
    broken = tmp_path / "broken.yaml"
    broken.write_text(path.read_text() + "not_an_accelerate_key: 1\n")
    with pytest.raises((TypeError, ValueError)):
        ClusterConfig.from_yaml_file(broken)


# Data


def test_the_mixture_draws_tasks_by_weight_and_repeats_with_the_seed():
    tasks = ["<CAPTION>"] * 900 + ["<ANOMALY_DETECTION>"] * 100
    weights = resolve_task_weights({"<ANOMALY_DETECTION>": 3.0}, sorted(set(tasks)))
    assert weights == {"<ANOMALY_DETECTION>": 0.75, "<CAPTION>": 0.25}
    draws = list(TaskMixtureSampler(tasks, weights, 20000, seed=3))
    share = np.mean([tasks[i] == "<ANOMALY_DETECTION>" for i in draws])
    assert abs(share - 0.75) < 0.02
    assert draws == list(TaskMixtureSampler(tasks, weights, 20000, seed=3))
    assert draws != list(TaskMixtureSampler(tasks, weights, 20000, seed=4))
    with pytest.raises(ValueError, match="unknown task"):
        resolve_task_weights({"<NOPE>": 1.0}, ["<CAPTION>"])
    with pytest.raises(ValueError, match="group_size"):
        TaskMixtureSampler(tasks, weights, 10, group_size=0)


def test_grouped_mixture_gives_batches_of_one_task_in_the_same_proportions():
    tasks = ["<CAPTION>"] * 900 + ["<ANOMALY_DETECTION>"] * 100
    weights = resolve_task_weights({"<ANOMALY_DETECTION>": 3.0}, sorted(set(tasks)))
    draws = list(TaskMixtureSampler(tasks, weights, 12 * 2000 + 5, seed=3, group_size=12))
    assert len(draws) == 12 * 2000 + 5
    batches = [{tasks[i] for i in draws[b : b + 12]} for b in range(0, len(draws), 12)]
    assert all(len(batch) == 1 for batch in batches)
    share = np.mean([tasks[i] == "<ANOMALY_DETECTION>" for i in draws])
    assert abs(share - 0.75) < 0.03
    with pytest.raises(ValueError, match="all their weights are 0"):
        resolve_task_weights({"<CAPTION>": 0.0}, ["<CAPTION>"])


def test_mixture_grouped_by_channels_keeps_every_examples_chance_in_batches_of_one_class():
    """`classes`: each batch holds one task and one class, and every example of a task is drawn about as often as
    without classes (the class is picked by its share of the task's examples)."""
    from ts_florence.data import channel_classes

    tasks = ["<CAPTION>"] * 600 + ["<ANOMALY_DETECTION>"] * 400
    channels = np.array([1, 1, 1, 4, 12] * 200)  # per task: 60 % univariate, 20 % four channels, 20 % twelve
    classes = channel_classes(channels)
    assert classes[:5].tolist() == [0, 0, 0, 2, 4]
    weights = resolve_task_weights(None, sorted(set(tasks)))
    draws = np.array(list(TaskMixtureSampler(tasks, weights, 8 * 6000, seed=1, group_size=8, classes=classes)))
    batches = draws.reshape(-1, 8)
    assert all(len({tasks[i] for i in b}) == 1 and len(set(classes[b])) == 1 for b in batches)
    counts = np.bincount(draws, minlength=len(tasks))
    for name in set(tasks):
        members = [i for i, task in enumerate(tasks) if task == name]
        for c in np.unique(classes):
            of_class = [i for i in members if classes[i] == c]
            # each example's expected count is the same across the task's classes
            assert abs(counts[of_class].mean() / counts[members].mean() - 1) < 0.15, (name, c)
    assert draws.tolist() == list(TaskMixtureSampler(tasks, weights, 8 * 6000, seed=1, group_size=8, classes=classes))
    with pytest.raises(ValueError, match="3 classes for 1000 examples"):
        TaskMixtureSampler(tasks, weights, 10, classes=[0, 1, 2])


@pytest.mark.parametrize("grouped", [False, True])
def test_example_weights_draw_the_weighted_examples_more_often_and_keep_the_mixture(grouped):
    from ts_florence.data import channel_classes, source_factors

    tasks = ["<CAPTION>"] * 600 + ["<ANOMALY_DETECTION>"] * 400
    sources = ["semi:ucr"] * 100 + ["synthetic"] * 500 + ["semi:shape-regimes:x"] * 50 + ["semi:ucr"] * 350
    factors = source_factors(sources, {"^semi:(?!shape-regimes)": 3.0})
    assert factors[[0, 100, 600, 650]].tolist() == [3.0, 1.0, 1.0, 3.0]
    weights = {"<CAPTION>": 1.0, "<ANOMALY_DETECTION>": 1.0}
    classes = channel_classes(np.array([1, 4] * 500)) if grouped else None
    group = 4 if grouped else 1
    draws = np.array(
        list(
            TaskMixtureSampler(
                tasks, weights, 40000, seed=2, group_size=group, classes=classes, example_weights=factors
            )
        )
    )
    counts = np.bincount(draws, minlength=len(tasks))
    # within a task, an example of factor 3 is drawn about 3 times as often as one of factor 1
    assert abs(counts[:100].mean() / counts[100:600].mean() - 3) < 0.3
    assert abs(counts[650:].mean() / counts[600:650].mean() - 3) < 0.6
    # the task mixture is untouched: half the draws each
    assert abs((draws < 600).mean() - 0.5) < 0.02
    # without weights the draws are the sampler's uniform ones, as before
    plain = list(TaskMixtureSampler(tasks, weights, 100, seed=2, group_size=group, classes=classes))
    ones = list(
        TaskMixtureSampler(
            tasks, weights, 100, seed=2, group_size=group, classes=classes, example_weights=np.ones(1000)
        )
    )
    assert plain == ones
    with pytest.raises(ValueError, match="positive finite weights expected"):
        TaskMixtureSampler(tasks, weights, 10, example_weights=np.zeros(1000))
    with pytest.raises(ValueError, match="factors must be positive"):
        source_factors(sources, {"semi": -1})


def test_source_factors_per_task_weight_only_the_named_tasks_examples():
    from ts_florence.data import source_factors

    sources = ["ucr:a", "semi:ucr", "ucr:a", "synthetic", "ucr:b"]
    tasks = ["<ANOMALY_DETECTION>", "<ANOMALY_DETECTION>", "<CAPTION>", "<ANOMALY_DETECTION>", "<ANOMALY_DETECTION>"]
    weights = {"^(?!semi:|synthetic)": {"<ANOMALY_DETECTION>": 0.1}, "^semi:": 3.0}
    assert source_factors(sources, weights, tasks).tolist() == [0.1, 3.0, 1.0, 1.0, 0.1]
    with pytest.raises(ValueError, match="need the task of every item"):
        source_factors(sources, weights)
    with pytest.raises(ValueError, match="factors must be positive"):
        source_factors(sources, {"ucr": {"<CAPTION>": 0.0}}, tasks)


def test_record_channels_reads_the_channel_counts_without_decoding_series():
    import datasets

    from ts_florence.data import record_channels

    records = datasets.Dataset.from_list([{"values": [[1.0, 2.0]]}, {"values": [[1.0], [2.0], [3.0]]}] * 3)
    assert record_channels(records).tolist() == [1, 3] * 3
    assert record_channels(records.select([1, 4, 5])).tolist() == [3, 1, 3]


def test_group_by_channels_needs_group_by_task():
    config = T.load_config(
        Path(__file__).resolve().parents[1] / "training/configs/tiny.yaml",
        ["data.group_by_task=false", "data.group_by_channels=true"],
    )
    with pytest.raises(ValueError, match="data.group_by_channels groups the batches of data.group_by_task"):
        T.train(config)


def test_tables_of_labelled_series_become_records(tmp_path):
    wide = tmp_path / "wide.csv"
    pd.DataFrame({"label": ["a", "b"], "t0": [1.0, 2.0], "t1": [3.0, np.nan], "t2": [5.0, 6.0]}).to_csv(
        wide, index=False
    )
    records = records_from_table(wide)
    assert [r["label"] for r in records] == ["a", "b"]
    assert records[0]["values"] == [[1.0, 3.0, 5.0]] and np.isnan(records[1]["values"][0][1])
    long = tmp_path / "long.csv"
    pd.DataFrame({"series": ["1 2 3 4", "[5, 6, 7]"], "label": ["x", "y"]}).to_csv(long, index=False)
    assert [r["values"] for r in records_from_table(long)] == [[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0]]]
    nan_row = tmp_path / "nan.csv"
    pd.DataFrame({"series": ["1 2", "nan nan"], "label": ["x", "y"]}).to_csv(nan_row, index=False)
    with pytest.raises(ValueError, match="row 1 has no observed value"):
        records_from_table(nan_row)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        records_from_table(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match="no 'class' column"):
        records_from_table(wide, label_column="class")


def test_augmentation_changes_classification_series_only_and_repeats_with_the_seed():
    import datasets

    augment = SeriesAugmentation(scale=0.2, jitter=0.05, crop=0.3)
    values = np.sin(np.linspace(0, 6, 200))[None].astype(np.float32)
    values[0, 50] = np.nan
    out = augment(values, "<CLASSIFICATION>", np.random.default_rng(1))
    assert 140 <= out.shape[1] <= 200 and out.shape[0] == 1 and not np.allclose(out[0, :10], values[0, :10])
    assert np.isnan(out).sum() <= 1  # missing cells stay missing, no new ones
    assert augment(values, "<ANOMALY_DETECTION>", np.random.default_rng(1)) is values
    with pytest.raises(ValueError, match="time locations"):
        SeriesAugmentation(tasks=["<EVENT_DETECTION>"])
    with pytest.raises(ValueError, match="crop < 1"):
        SeriesAugmentation(crop=1.0)

    records = datasets.Dataset.from_list(
        [{"id": "a", "source": "t", "split": "train", "values": values.tolist(), "label": "up"}]
    )
    dataset = ExampleDataset(records, build_example_index(records, ["<CLASSIFICATION>"]), augment)
    torch.manual_seed(0)
    first = [dataset[0]["values"] for _ in range(3)]
    torch.manual_seed(0)
    again = [dataset[0]["values"] for _ in range(3)]
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0][:, :100], first[1][:, :100], equal_nan=True)  # each draw differs


def test_augmented_training_cannot_stream(tmp_path):
    config = T.load_config(None, ["data.path=corpus", "data.streaming=true", "data.augment={}", "run.report_to=none",
                                  f"run.output_dir={tmp_path}"])  # fmt: skip
    with pytest.raises(ValueError, match="not with streaming"):
        T.train(config)
    grouped = T.load_config(None, ["data.path=corpus", "data.streaming=true", "data.group_by_task=true",
                                   "run.report_to=none", f"run.output_dir={tmp_path}"])  # fmt: skip
    with pytest.raises(ValueError, match="group_by_task .* not with streaming"):
        T.train(grouped)


def test_the_collator_cuts_long_inputs_and_targets_to_the_model_limits(processor):
    collator = TSFlorenceCollator(processor, max_target_length=12, max_source_length=40)
    long_phrase = "<CAPTION_TO_PHRASE_GROUNDING>" + "a spike near the end " * 30
    batch = collator(
        [
            {"values": np.sin(np.arange(200))[None], "prompt": long_phrase, "target": "word " * 100},
            {"values": np.ones((2, 50)), "prompt": "<CAPTION>", "target": "flat"},
        ]
    )
    assert batch["input_ids"].shape[1] == 40 and batch["labels"].shape[1] == 12
    assert batch["labels"][0, -1] == processor.tokenizer.eos_token_id


# Runs


def test_tiny_preset_trains_from_a_corpus_and_the_result_loads_with_the_auto_classes(trained, corpus):
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor, pipeline

    import ts_florence  # noqa: F401
    from ts_florence.records import load_split

    steps = _train_steps(trained)
    assert sorted(steps) == list(range(1, 9))
    first, last = np.mean([steps[s]["loss"] for s in (1, 2)]), np.mean([steps[s]["loss"] for s in (7, 8)])
    assert last < first - 0.5, (first, last)
    results = json.loads((trained / "train_results.json").read_text())
    assert results["steps"] == 8 and results["final_eval"]["scores"]
    assert all(steps[s]["series_reconstruction_loss"] > 0 for s in steps)  # the auxiliary losses are logged
    assert all(steps[s]["cell_loss"] > 0 for s in steps)  # the tiny preset has a cell head
    evaluations = [json.loads(line) for line in (trained / "trainer_log.jsonl").read_text().splitlines()]
    evaluations = [e for e in evaluations if "eval/series_gain" in e]
    assert evaluations and np.isfinite(evaluations[-1]["eval/series_gain"])
    assert results["eval_series_gain"] == evaluations[-1]["eval/series_gain"]
    assert "library_name: transformers" in (trained / "README.md").read_text()
    assert T.load_config(trained / "run_config.yaml").optim.max_steps == 8

    model = AutoModelForSeq2SeqLM.from_pretrained(trained)
    processor = AutoProcessor.from_pretrained(trained)
    series = np.asarray(load_split(corpus, "eval")[0]["values"][0])
    inputs = processor(series=series, text="<ANOMALY_DETECTION>", return_tensors="pt")
    ids = model.generate(**inputs, max_new_tokens=8)
    text = processor.batch_decode(ids, skip_special_tokens=False)[0]
    parsed = processor.post_process_generation(text, task="<ANOMALY_DETECTION>", series_length=len(series))
    assert set(parsed["<ANOMALY_DETECTION>"]) >= {"spans", "labels"}
    pipe = pipeline("time-series-prompting", model=str(trained))
    assert "<CAPTION>" in pipe(series, task="<CAPTION>", max_new_tokens=8)


def test_sigkill_mid_run_then_relaunch_resumes_at_the_same_step_with_the_same_next_batch(trained, corpus, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, str(ROOT / "training/train.py"), *_args(corpus, out), *QUICK]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "checkpoints" / "step-6").exists():
        assert process.poll() is None, "the run ended before its second checkpoint"
        assert time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "train_results.json").exists()
    at_step_6 = TSFlorenceForConditionalGeneration.from_pretrained(out / "checkpoints" / "step-6")  # loadable
    assert at_step_6.config.text_config.d_model == PRESETS["tiny"]["text"]["d_model"]
    before = max(
        json.loads(p.read_text())["train_seconds"] for p in (out / "checkpoints").glob("step-*/trainer_state.json")
    )
    assert before > 0

    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The wall time counts the first launch up to the checkpoint resumed from, not only the relaunch.
    assert json.loads((out / "train_results.json").read_text())["train_seconds"] > before
    reference, resumed = _train_steps(trained), _train_steps(out)
    # The first launch may have logged steps 7 and 8 before the kill; the relaunch appends from step 7 again.
    relaunched = [e for e in _log(out) if "loss" in e][-2:]
    assert [e["step"] for e in relaunched] == [7, 8]
    for entry in relaunched:
        assert entry["batch"] == reference[entry["step"]]["batch"]
        assert entry["loss"] == pytest.approx(reference[entry["step"]]["loss"], rel=1e-4)
    assert resumed[8]["batch"] == reference[8]["batch"]
    from safetensors.torch import load_file

    ours, theirs = load_file(out / "model.safetensors"), load_file(trained / "model.safetensors")
    assert ours.keys() == theirs.keys()
    for name, tensor in ours.items():
        torch.testing.assert_close(tensor, theirs[name], rtol=1e-4, atol=1e-5, msg=name)


def test_a_dataloader_worker_prepares_the_same_batches_and_gives_the_same_run(trained, corpus, tmp_path):
    out = tmp_path / "worker"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert T.main(_args(corpus, out) + QUICK + ["--set=data.num_workers=1"]) == 0
    finally:
        torch.set_num_threads(threads)
    reference, found = _train_steps(trained), _train_steps(out)
    assert found.keys() == reference.keys()
    for step, entry in found.items():
        assert entry["batch"] == reference[step]["batch"]
        assert entry["loss"] == pytest.approx(reference[step]["loss"], rel=1e-4)


def test_two_cpu_processes_train_and_end_with_identical_weights(corpus, tmp_path):
    out = tmp_path / "ddp"
    command = [
        # `--cpu --num_processes 2` starts one process in accelerate 1.x; its torchrun launcher starts two, which
        # train.py runs as CPU workers (gloo) on a machine without a GPU. The same as training/accelerate/cpu2.yaml.
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(ROOT / "training/train.py"), *_args(corpus, out), *QUICK, "--max-steps=3", "--set=run.final_eval_limit=0",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "train_results.json").read_text())
    assert results["world_size"] == 2 and results["steps"] == 3
    digests = results["weights_digest_per_rank"]
    assert len(digests) == 2 and digests[0] == digests[1]


def test_finetuning_on_a_table_of_labelled_series_learns_to_answer_with_its_labels(trained, tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        label = "rising" if i % 2 else "falling"
        slope = 1 if i % 2 else -1
        rows.append(
            {
                "series": " ".join(f"{v:.3f}" for v in slope * np.linspace(0, 3, 60) + 0.1 * rng.normal(size=60)),
                "label": label,
            }
        )
    table = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    out = tmp_path / "finetuned"
    argv = ["--config", str(ROOT / "training/configs/finetune.yaml"), "--init-from", str(trained), "--data", str(table)]
    argv += ["--output-dir", str(out), "--max-steps", "60", "--set", "run.progress=false"]
    argv += ["--set", "optim.learning_rate=0.003", "--set", "optim.per_device_batch_size=8"]
    assert T.main(argv) == 0
    steps = _train_steps(out)
    assert steps[max(steps)]["loss"] < 0.5 * steps[min(steps)]["loss"]

    from ts_florence import TSFlorenceProcessor

    model = TSFlorenceForConditionalGeneration.from_pretrained(out).eval()
    processor = TSFlorenceProcessor.from_pretrained(out)
    series = [np.linspace(0, 3, 60), -np.linspace(0, 3, 60)]
    ids = model.generate(**processor(series=series, text="<CLASSIFICATION>"), max_new_tokens=6)
    texts = [
        processor.post_process_generation(t, "<CLASSIFICATION>", 60)["<CLASSIFICATION>"]["text"]
        for t in processor.batch_decode(ids, skip_special_tokens=False)
    ]
    # An 8-step base model learns the answer format and the label set here; telling the classes apart takes a
    # trained base model and more steps (scripts/finetune_ucr.py measures that).
    assert set(texts) <= {"rising", "falling"} and texts[0]


def test_training_without_data_or_from_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no training data"):
        T.train(T.load_config(None, ["run.report_to=none", f"run.output_dir={tmp_path}"]))
    table = tmp_path / "t.csv"
    pd.DataFrame({"series": ["1 2 3"], "label": ["a"]}).to_csv(table, index=False)
    config = T.load_config(None, [f"data.path={table}", f"model.init_from={tmp_path / 'nothing'}", "run.report_to=none",
                                  f"run.output_dir={tmp_path / 'o'}", "data.eval_split=null"])  # fmt: skip
    with pytest.raises(FileNotFoundError, match="no saved model there"):
        T.train(config)


def test_lora_fine_tuning_changes_only_the_adapted_projections_and_saves_a_plain_model(trained, tmp_path):
    from safetensors.torch import load_file

    table = tmp_path / "t.csv"
    pd.DataFrame({"series": ["1 2 3 4 5", "5 4 3 2 1"] * 4, "label": ["up", "down"] * 4}).to_csv(table, index=False)
    out = tmp_path / "lora"
    argv = ["--config", str(ROOT / "training/configs/finetune.yaml"), "--init-from", str(trained), "--data", str(table)]
    argv += ["--output-dir", str(out), "--max-steps", "4", "--set", "model.lora={r: 4}", "--set", "run.progress=false"]
    assert T.main(argv) == 0
    before, after = load_file(trained / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()  # merged: no adapter weights left, loads as a plain model
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.endswith(("q_proj.weight", "v_proj.weight")) for name in changed), sorted(changed)


def test_swapping_series_pairs_each_example_with_another_of_the_same_token_count():
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 0], [1, 1, 0], [1, 1, 0]])
    batch = {
        "series_mask": mask,
        "series_patches": torch.tensor([0.0, 1.0, 2.0, 3.0, 3.0])[:, None].expand(5, 3),  # 3 and 4: one series
        "input_ids": torch.arange(5)[:, None],
    }
    swapped, moved = swap_series(batch)
    # 0->2->3->0 and 4->0; 1 has no partner of its size, and 3 and 4 (two tasks of one series) never swap
    assert swapped["series_patches"][:, 0].tolist() == [2.0, 1.0, 3.0, 0.0, 0.0]
    assert moved.tolist() == [True, False, True, True, True]
    assert torch.equal(swapped["input_ids"], batch["input_ids"])  # the prompts stay
    assert torch.equal(swapped["series_mask"].sum(1), mask.sum(1))  # placeholders still match the features


@pytest.mark.slow
def test_tiny_preset_at_its_learning_rate_memorises_which_of_16_series_is_which():
    """The tiny preset, at the learning rate of training/configs/tiny.yaml, must learn to tell 16 series of two
    shapes apart in 200 steps: the minimal proof that the series reach the decoder (about a minute)."""
    from ts_florence import TSFlorenceProcessor

    config = T.load_config(ROOT / "training" / "configs" / "tiny.yaml")
    rng = np.random.default_rng(0)
    grid = np.linspace(0, 1, 150)
    series = [
        np.exp(-((grid - 0.5) ** 2) / 0.01) * (1 if i % 2 else -1) + 0.1 * rng.normal(size=150) for i in range(16)
    ]
    labels = ["peak" if i % 2 else "dip" for i in range(16)]
    processor = TSFlorenceProcessor.from_preset("tiny", texts=["peak dip"] * 50)
    torch.manual_seed(0)
    model = TSFlorenceForConditionalGeneration(
        TSFlorenceConfig.from_preset("tiny", vocab_size=len(processor.tokenizer))
    )
    batch = processor(series=series, text="<CLASSIFICATION>", text_target=labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.optim.learning_rate, weight_decay=0.01)
    for step in range(200):
        warmup = min(1.0, (step + 1) / 50)
        for group in optimizer.param_groups:
            group["lr"] = config.optim.learning_rate * warmup
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        right = example_losses(model, dict(batch))
        swapped, _ = swap_series(dict(batch))  # neighbours have the other shape
        wrong = example_losses(model, swapped)
    assert float(right.mean()) < 0.05, float(right.mean())
    assert float((wrong - right).mean()) > 1.0, float((wrong - right).mean())


def test_excluded_sources_are_left_out_of_training(corpus, tmp_path):
    # The fixture corpus is all synthetic: excluding that source leaves nothing to train on.
    config = T.load_config(ROOT / "training/configs/tiny.yaml", [
        f"data.path={corpus}", f"run.output_dir={tmp_path}", "run.report_to=none", 'data.exclude_sources=["^synth"]',
    ])  # fmt: skip
    with pytest.raises(ValueError, match="no training pair"):
        T.train(config)


def _finetune_ucr():
    return load_script("finetune_ucr")


def test_the_ucr_benchmark_tells_whether_pretraining_held_each_dataset_out(tmp_path):
    finetune_ucr = _finetune_ucr()
    assert finetune_ucr.held_out_in_pretraining(str(tmp_path), "GunPoint") == "unknown"
    tiny = T.load_config(ROOT / "training/configs/tiny.yaml")
    (tmp_path / "run_config.yaml").write_text(yaml.safe_dump(T.config_dict(tiny)))
    assert [finetune_ucr.held_out_in_pretraining(str(tmp_path), n) for n in ("GunPoint", "ArrowHead", "Adiac")] == [
        "yes",
        "yes",
        "NO",
    ]


def test_the_ucr_benchmark_probes_the_frozen_series_features_linearly(trained):
    finetune_ucr = _finetune_ucr()
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 80)
    # Two classes told apart by where a bump sits; the labels alternate so both splits hold both.
    x = np.stack(
        [np.exp(-(((t - (0.25 if i % 2 else 0.75)) / 0.08) ** 2)) + 0.1 * rng.normal(size=80) for i in range(40)]
    )
    y = np.array(["early" if i % 2 else "late" for i in range(40)])
    features = finetune_ucr.series_features(trained, x[:, None, :])
    config = TSFlorenceConfig.from_pretrained(trained)
    assert features.shape == (40, PRESETS["tiny"]["series"]["num_patches"] * config.text_config.d_model)
    assert finetune_ucr.linear_probe_accuracy(trained, x[:20, None], y[:20], x[20:, None], y[20:]) >= 0.9


def test_the_ucr_benchmark_fine_tunes_once_per_seed_and_summarises_the_seeds(trained, tmp_path, capsys):
    finetune_ucr = _finetune_ucr()
    out = tmp_path / "ucr"
    argv = ["--model", str(trained), "--datasets", "GunPoint", "--steps", "2", "--seeds", "0", "1", "--out", str(out)]
    assert finetune_ucr.main(argv) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["dataset"], r["seed"]) for r in rows] == [("GunPoint", 0), ("GunPoint", 1)]
    assert (out / "GunPoint-seed0" / "config.json").exists() and (out / "GunPoint-seed1" / "config.json").exists()
    run = yaml.safe_load((out / "GunPoint-seed1" / "run_config.yaml").read_text())
    assert (run["run"]["seed"], run["optim"]["learning_rate"], run["optim"]["max_steps"]) == (1, 1e-4, 2)
    for r in rows:
        assert 0.0 <= r["ts_florence"] <= 1.0 and r["minirocket"] > 0.8 and r["nearest_neighbour"] > 0.85
    assert "Mean ± standard deviation over seeds" in capsys.readouterr().out

    # Seeds run as separate processes are summarised together from their results files.
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"rows": [{**rows[0], "ts_florence": 0.5, "minirocket": 0.9}]}))
    second.write_text(json.dumps({"rows": [{**rows[1], "ts_florence": 0.7, "minirocket": 0.9}]}))
    assert finetune_ucr.main(["--summarise", str(first), str(second)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("| GunPoint | 0 |") and "| -40.0 |" in line for line in printed)  # per seed
    summary = printed[-1]
    assert summary.startswith("| GunPoint | 0, 1 | 0.600 ± 0.141 | 0.900 ± 0.000 |") and summary.endswith("| -30.0 |")
    with pytest.raises(SystemExit, match="cannot read results from .*missing.json"):
        finetune_ucr.main(["--summarise", str(tmp_path / "missing.json")])
    first.write_text(json.dumps({"rows": [{k: v for k, v in rows[0].items() if k != "seed"}]}))
    with pytest.raises(SystemExit, match="a.json has a row without seed"):
        finetune_ucr.main(["--summarise", str(first)])


def test_fine_tuning_can_set_the_dropout_of_a_saved_model(trained, tmp_path):
    table = tmp_path / "t.csv"
    pd.DataFrame({"series": ["1 2 3 4 5", "5 4 3 2 1"] * 4, "label": ["up", "down"] * 4}).to_csv(table, index=False)
    argv = ["--config", str(ROOT / "training/configs/finetune.yaml"), "--init-from", str(trained), "--data", str(table)]
    argv += ["--max-steps", "2", "--set", "run.progress=false"]
    assert TSFlorenceConfig.from_pretrained(trained).text_config.dropout > 0
    assert T.main([*argv, "--output-dir", str(tmp_path / "out"), "--set", "model.dropout=0"]) == 0
    config = TSFlorenceConfig.from_pretrained(tmp_path / "out")
    assert config.text_config.dropout == 0 and config.series_config.dropout == 0
    model = TSFlorenceForConditionalGeneration.from_pretrained(tmp_path / "out")
    assert model.model.series_tower.dropout.p == 0 and model.model.language_model.encoder.dropout == 0
    with pytest.raises(ValueError, match=r"model.dropout must be in \[0, 1\)"):
        T.main([*argv, "--output-dir", str(tmp_path / "bad"), "--set", "model.dropout=1.5"])


def test_frozen_parameters_stay_fixed_for_freeze_steps_then_train(trained, tmp_path):
    from safetensors.torch import load_file

    table = tmp_path / "t.csv"
    pd.DataFrame({"series": ["1 2 3 4 5", "5 4 3 2 1"] * 4, "label": ["up", "down"] * 4}).to_csv(table, index=False)
    argv = ["--config", str(ROOT / "training/configs/finetune.yaml"), "--init-from", str(trained), "--data", str(table)]
    argv += ["--max-steps", "3", "--set", "run.progress=false", "--set", 'optim.freeze=["model.series_tower"]']
    before = load_file(trained / "model.safetensors")

    def changed(folder):
        after = load_file(folder / "model.safetensors")
        return {name.split(".")[1] for name in before if not torch.equal(before[name], after[name])}

    assert T.main([*argv, "--output-dir", str(tmp_path / "whole")]) == 0
    assert "series_tower" not in changed(tmp_path / "whole") and "language_model" in changed(tmp_path / "whole")
    assert T.main([*argv, "--output-dir", str(tmp_path / "first"), "--set", "optim.freeze_steps=1"]) == 0
    assert "series_tower" in changed(tmp_path / "first")
    with pytest.raises(ValueError, match="no parameter starts with 'model.vision_tower'"):
        T.main([*argv[:-1], 'optim.freeze=["model.vision_tower"]', "--output-dir", str(tmp_path / "bad")])


def test_lr_scale_gives_the_named_parameters_their_own_learning_rate():
    from tiny import tiny_config

    from ts_florence.training.config import OptimArgs
    from ts_florence.training.model import make_optimizer

    config = tiny_config()
    config.cell_head_weight, config.location_pointer = 1.0, True
    model = TSFlorenceForConditionalGeneration(config)
    optimizer = make_optimizer(model, OptimArgs(learning_rate=1e-3, lr_scale={"cell_head.classifier": 20.0}))
    new = {id(p) for p in model.cell_head.classifier.parameters()}
    rates = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    assert sorted(rates[i] for i in new) == pytest.approx([0.02, 0.02])  # weight and bias
    assert {rate for i, rate in rates.items() if i not in new} == {1e-3}
    assert len(rates) == len([p for p in model.parameters() if p.requires_grad])
    with pytest.raises(ValueError, match="no trained parameter starts with 'cell_head.nothing'"):
        make_optimizer(model, OptimArgs(lr_scale={"cell_head.nothing": 2.0}))


def test_autocorrelation_option_turns_the_feature_on_in_model_and_processor(model, processor, tmp_path):
    from ts_florence.training.model import build_model

    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    config = T.load_config(None, [f"model.init_from={tmp_path / 'm'}", "model.autocorrelation=true"])
    built, built_processor = build_model(config, None)
    assert built.config.series_config.autocorrelation and built_processor.feature_extractor.autocorrelation
    assert not built.model.series_tower.autocorrelation_embedding.weight.any()  # starts where the saved model was
    built.save_pretrained(tmp_path / "acf")
    built_processor.save_pretrained(tmp_path / "acf")
    again = TSFlorenceForConditionalGeneration.from_pretrained(tmp_path / "acf")
    assert again.config.series_config.autocorrelation
    inputs = built_processor(series=np.sin(np.arange(90) / 5.0), text="<CAPTION>")
    assert inputs["series_patches"].shape[-1] == 5
    again(**inputs, decoder_input_ids=inputs["input_ids"][:, :2])  # the saved pair reads its own features
