"""scripts/bench_inference.py --model: a tiny random checkpoint on a tiny engine corpus, beside the specialists."""

import json

import torch
from corpora import build_synthetic_corpus
from script_modules import load_script
from tiny import tiny_config

from ts_florence import TSFlorenceForConditionalGeneration

BI = load_script("bench_inference")


def test_model_mode_times_every_task_family_and_the_specialists_on_corpus_series(tmp_path, processor, capsys):
    corpus = build_synthetic_corpus(tmp_path / "corpus", "bench-inference-test", 4, 6, shards=1)
    model_dir = tmp_path / "model"
    torch.manual_seed(0)
    model = TSFlorenceForConditionalGeneration(tiny_config())
    model.generation_config.max_new_tokens = 20  # the script must use the model's own generation config
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)

    # The token counter on a stand-in `generate`: tokens after the start token, up to and with the first </s>.
    class Fake:
        generation_config = model.generation_config

        def generate(self):
            return torch.tensor([[2, 7, 8, 2, 1, 1], [2, 7, 8, 9, 10, 11]])

    fake = Fake()
    with BI.GeneratedTokens(fake) as counter:
        fake.generate()
    assert (counter.answers, counter.tokens, counter.at_max) == (2, 8, 1)
    assert "generate" not in vars(fake)

    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:
        BI.main(["--model", str(model_dir), "--data", str(corpus), "--series", "4", "--batch-sizes", "2",
                 "--threads", "1", "--json", str(out), "--no-progress"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # written atomically

    assert report["series"] == 4 and report["split"] == "eval"
    assert report["machine"]["torch_threads"] == 1 and "torch threads" in printed
    assert report["generation"]["max_new_tokens"] == 20 and "max_new_tokens 20" in printed
    model_rows = {r["task"]: r for r in report["rows"] if r["kind"] == "model" and r["family"]}
    assert set(model_rows) == set(BI.MODEL_TASKS)
    for task, row in model_rows.items():
        assert row["batch"] == 2 and row["n_series"] == 4 and row["answers"] == 4
        assert row["series_per_second"] > 0 and 0 < row["tokens_per_answer"] <= 20
        assert any(line.split()[:2] == ["model", task] for line in printed.splitlines())
    families = {r["family"] for r in model_rows.values()}
    assert families == {"detection", "change points", "segmentation", "caption"}

    # the corpus was annotated by the regime describer and the event specialist: those, and the two together
    engine = {r["method"]: r for r in report["rows"] if r["kind"] in ("specialist", "engine")}
    assert {"specialist regime_describer", "specialist events", "engine annotate"} <= set(engine)
    assert engine["specialist events"]["tasks"] == ["<ANOMALY_DETECTION>", "<EVENT_DETECTION>"]
    for name, row in engine.items():
        assert row["series_per_second"] > 0 and row["n_series"] == 4 and row["failures"] == 0, name
        assert row["tokens_per_answer"] is None and name in printed
