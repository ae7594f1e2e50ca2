"""scripts/choose_end_thresholds.py: thresholds scored on frozen series the benchmark leaves out, choice saved."""

import json

import torch
from corpora import build_synthetic_corpus
from script_modules import load_script
from tiny import tiny_config

from ts_florence import TSFlorenceForConditionalGeneration

C = load_script("choose_end_thresholds")


def test_thresholds_are_scored_per_task_and_the_choice_is_saved_in_the_generation_config(
    tmp_path, processor, capsys, monkeypatch
):
    corpus = build_synthetic_corpus(tmp_path / "corpus", "thresholds-test", 2, 6, shards=1)
    model_dir = tmp_path / "model"
    torch.manual_seed(0)
    model = TSFlorenceForConditionalGeneration(tiny_config())
    model.generation_config.max_new_tokens = 8
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    monkeypatch.setattr(C, "held_out_of_benchmark", lambda records: list(range(len(records))))  # 6 series only
    threads = torch.get_num_threads()
    try:
        argv = ["--model", str(model_dir), "--data", str(corpus), "--tasks", "<ANOMALY_DETECTION>",
                "--thresholds", "0.5", "0.01", "--limit", "6", "--threads", "1", "--write"]  # fmt: skip
        assert C.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("<ANOMALY_DETECTION>"))
    greedy, *scores = (float(v) for v in row.split()[2:])
    assert len(scores) == 2 and all(0 <= v <= 1 for v in [greedy, *scores])
    saved = json.loads((model_dir / "generation_config.json").read_text())
    best = max([greedy, *scores])
    if best > greedy:
        assert saved["end_thresholds"] == {"<ANOMALY_DETECTION>": [0.5, 0.01][scores.index(best)]}
    else:
        assert saved["end_thresholds"] is None
    assert saved["max_new_tokens"] == 8  # the rest of the generation config is kept


def test_the_thresholds_are_chosen_outside_the_benchmarks_subsample():
    from ts_florence.evaluation.datasets import subsample

    benchmark = load_script("benchmark")
    held_out = C.held_out_of_benchmark(list(range(2070)))
    scored = subsample(2070, benchmark.DEFAULT_LIMITS["frozen"])
    assert len(held_out) == 2070 - len(scored) and not set(held_out) & set(scored)
