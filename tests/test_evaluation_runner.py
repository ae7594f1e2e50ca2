import json

import datasets
import numpy as np
import pytest

from ts_florence import TASKS
from ts_florence.evaluation import runner
from ts_florence.evaluation.runner import evaluate_model, evaluate_path, load_records, report_markdown
from ts_florence.records import change_point, new_record, segment, span

CAPTION = "The series rises, with a period of 16 samples; it has one spike at sample 40."


def _description(length: int, trend: str, periods: list[int], events: list[tuple[int, int, str]]) -> dict:
    """A SeriesDescription dict (`SeriesDescription.to_dict()`), as synthetic records carry in meta."""
    return {
        "length": length,
        "channels": [{"name": "ch0", "trend": trend, "periods": periods}],
        "events": [{"start": s, "end": e, "label": label, "kind": "anomaly"} for s, e, label in events],
        "segments": [],
        "sampling": None,
        "label": None,
    }


def _records() -> list[dict]:
    """Three series of different lengths and channels with every kind of annotation, by hand."""
    rng = np.random.default_rng(0)
    t = np.arange(128)
    a = new_record(
        "a",
        "synthetic",
        0.05 * t + np.sin(2 * np.pi * t / 16) + 0.1 * rng.normal(size=128),
        split="eval",
        label="sine",
        meta={"description": _description(128, "rising", [16], [(40, 43, "spike"), (80, 90, "peak")])},
    )
    a["spans"] = [
        span(40, 43, "spike", "anomaly", description="a sharp spike", source="hand"),
        span(80, 90, "peak", "event", description="a broad peak", source="hand"),
    ]
    a["segments"] = [segment(0, 64, "rising", source="hand"), segment(64, 128, "steady", source="hand")]
    a["change_points"] = [change_point(64, source="hand")]
    a["captions"] = {
        "brief": CAPTION,
        "detailed": CAPTION + " The noise is low.",
        "more_detailed": CAPTION + " The noise is low and the peak near sample 85 is broad.",
        "source": "hand",
    }
    a["groundings"] = [{"phrase": "one spike", "spans": [[40, 43]], "source": "hand"}]

    b = new_record("b", "synthetic", rng.normal(size=(2, 200)), split="eval", label="noise")
    b["spans"] = [
        span(100, 150, "level shift", "anomaly", channel=1, description="the level jumps", source="hand"),
        span(20, 30, "trough", "event", channel=0, source="hand"),
    ]
    b["segments"] = [segment(0, 100, "calm", source="hand"), segment(100, 200, "shifted", source="hand")]
    b["change_points"] = [change_point(100, source="hand")]
    b["captions"] = {"brief": "noise with a level shift", "detailed": "", "more_detailed": "", "source": "hand"}
    b["groundings"] = [{"phrase": "a level shift", "spans": [[100, 150]], "source": "hand"}]

    c = new_record("c", "synthetic", rng.normal(size=64), split="eval", label="noise")
    c["captions"] = {"brief": "plain noise", "detailed": "", "more_detailed": "", "source": "hand"}
    return [a, b, c]


def _scores_in_unit_interval(report: dict) -> None:
    for task, scores in report["scores"].items():
        assert scores, task
        for name, value in scores.items():
            assert isinstance(value, float) and 0.0 <= value <= 1.0, (task, name, value)


def test_random_model_is_scored_on_every_task(model, processor):
    report = evaluate_model(model, processor, _records(), batch_size=2, max_new_tokens=12, progress=False)
    assert set(report["examples"]) == set(TASKS)
    assert set(report["scores"]) == set(TASKS)
    assert report["examples"]["<ANOMALY_DETECTION>"] == 3  # c has an empty target: no anomaly
    assert report["examples"]["<SPAN_TO_CATEGORY>"] == 4  # one per span
    assert report["examples"]["<DETAILED_CAPTION>"] == 1
    _scores_in_unit_interval(report)
    assert set(report["scores"]["<ANOMALY_DETECTION>"]) >= {"f1@0.3", "f1@0.5", "f1@0.7", "map", "event_f1"}
    assert all(x > 0 for x in report["series_per_second"].values())


def test_beam_search_runs_and_keeps_scores(model, processor):
    report = evaluate_model(
        model, processor, _records(), ["<EVENT_DETECTION>"], num_beams=2, max_new_tokens=8, progress=False
    )
    assert set(report["scores"]["<EVENT_DETECTION>"]) == {"f1@0.3", "f1@0.5", "f1@0.7", "map"}


def test_perfect_predictions_score_one_everywhere(model, processor, monkeypatch):
    # The model "writes" each target, with full confidence in every character.
    monkeypatch.setattr(
        runner, "_generate", lambda model, processor, batch, kw: [(ex.target, [1.0] * len(ex.target)) for ex in batch]
    )
    report = evaluate_model(model, processor, _records(), progress=False)
    assert set(report["scores"]) == set(TASKS)
    for task, scores in report["scores"].items():
        assert scores == pytest.approx(dict.fromkeys(scores, 1.0)), task
    assert "attribute_accuracy" in report["scores"]["<CAPTION>"]  # record a has an exact description
    assert "description_rouge_l" in report["scores"]["<DENSE_SPAN_CAPTION>"]


def test_wrong_predictions_are_scored_below_one(model, processor, monkeypatch):
    wrong = {"<ANOMALY_DETECTION>": "spike<loc_0><loc_10>", "<CAPTION>": "the series falls"}
    monkeypatch.setattr(
        runner, "_generate", lambda model, processor, batch, kw: [(wrong[ex.task], None) for ex in batch]
    )
    report = evaluate_model(model, processor, _records(), list(wrong), progress=False)
    anomaly = report["scores"]["<ANOMALY_DETECTION>"]
    assert anomaly["f1@0.5"] == 0.0 and "map" not in anomaly  # no scores, no mAP
    assert report["scores"]["<CAPTION>"]["attribute_accuracy"] == 0.0  # "falls" for a rising series
    assert report["scores"]["<CAPTION>"]["fact_precision"] == 0.0  # the one fact stated, and wrong
    assert report["scores"]["<CAPTION>"]["rouge_l"] < 1.0


def test_the_answer_that_reads_nothing_is_scored_on_the_same_examples(model, processor):
    tasks = ["<ANOMALY_DETECTION>", "<REGIME_SEGMENTATION>", "<CAPTION>"]
    report = evaluate_model(model, processor, _records(), tasks, max_new_tokens=8, progress=False)
    reference = report["reference_scores"]
    assert reference["<ANOMALY_DETECTION>"]["f1@0.5"] == 0.0  # no span
    # One segment over series cut in halves: covering 0.5; change-point F1 counts the start as found (1 of 2 true
    # points, no false one: 2/3).
    assert reference["<REGIME_SEGMENTATION>"] == pytest.approx({"covering": 0.5, "cp_f1": 2 / 3})
    assert "<CAPTION>" not in reference  # text tasks have no such answer
    assert report_markdown(report).count("reference: reads nothing") == 2


def test_the_best_constant_answer_is_scored_beside_the_text_and_span_tasks(model, processor):
    tasks = [
        "<SPAN_TO_CATEGORY>",
        "<CAPTION_TO_PHRASE_GROUNDING>",
        "<OPEN_VOCABULARY_DETECTION>",
        "<ANOMALY_DETECTION>",
    ]
    tasks += ["<REGIME_SEGMENTATION>"]
    report = evaluate_model(model, processor, _records(), tasks, max_new_tokens=8, progress=False)
    constant = report["constant_scores"]
    # Four spans with four labels, once each: the constant answer is one of them (the last by name on a tie).
    assert constant["<SPAN_TO_CATEGORY>"]["accuracy"] == pytest.approx(1 / 4)
    # The whole series for every phrase or label: "one spike" (3 of 128 samples) is not found, "a level shift"
    # (50 of 200, IoU 0.25) is found at IoU 0.1 only.
    grounding = constant["<CAPTION_TO_PHRASE_GROUNDING>"]
    assert (grounding["recall@0.5"], grounding["recall@0.1"]) == (0.0, 0.5)
    assert constant["<OPEN_VOCABULARY_DETECTION>"]["f1@0.5"] == 0.0
    assert constant["<ANOMALY_DETECTION>"]["f1@0.5"] == 0.0
    assert "<REGIME_SEGMENTATION>" not in constant  # its constant answer is the reference's one segment
    assert report_markdown(report).count("constant: the most frequent answer") == 4


def test_constant_prediction_spans_the_whole_series_with_the_majority_label():
    from ts_florence.evaluation.examples import build_examples

    examples = build_examples(_records(), ["<ANOMALY_DETECTION>", "<CAPTION_TO_PHRASE_GROUNDING>"])
    anomalies = runner.constant_prediction("<ANOMALY_DETECTION>", examples["<ANOMALY_DETECTION>"])
    assert [p["spans"] for p in anomalies] == [[[0, ex.length]] for ex in examples["<ANOMALY_DETECTION>"]]
    assert {label for p in anomalies for label in p["labels"]} == {"spike"}  # spike and level shift tie: by name
    grounded = runner.constant_prediction("<CAPTION_TO_PHRASE_GROUNDING>", examples["<CAPTION_TO_PHRASE_GROUNDING>"])
    assert [p["labels"] for p in grounded] == [ex.truth["labels"] for ex in examples["<CAPTION_TO_PHRASE_GROUNDING>"]]
    assert runner.constant_prediction("<CHANGE_POINT_DETECTION>", []) is None


def test_limit_keeps_a_fixed_subsample_and_is_reported(model, processor):
    first = evaluate_model(
        model, processor, _records(), ["<SPAN_TO_CATEGORY>"], limit=2, max_new_tokens=6, progress=False
    )
    again = evaluate_model(
        model, processor, _records(), ["<SPAN_TO_CATEGORY>"], limit=2, max_new_tokens=6, progress=False
    )
    assert first["examples"] == {"<SPAN_TO_CATEGORY>": 2} and first["limit"] == 2
    assert first["scores"] == again["scores"]
    assert "`2`" in report_markdown(first)


def test_model_mode_is_restored(model, processor):
    model.train()
    evaluate_model(model, processor, _records(), ["<CLASSIFICATION>"], max_new_tokens=4, progress=False)
    assert model.training


def test_errors_are_clear(model, processor):
    with pytest.raises(ValueError, match="unknown task '<NOPE>'"):
        evaluate_model(model, processor, _records(), ["<NOPE>"])
    with pytest.raises(ValueError, match="no records"):
        evaluate_model(model, processor, [])
    with pytest.raises(ValueError, match="gives an example"):
        evaluate_model(model, processor, [new_record("x", "s", [1.0, 2.0, 3.0])], ["<CLASSIFICATION>"])


def test_requested_task_without_examples_is_reported_empty(model, processor):
    records = [new_record("x", "s", np.arange(32.0), label="ramp")]
    report = evaluate_model(
        model, processor, records, ["<CLASSIFICATION>", "<REGIME_SEGMENTATION>"], max_new_tokens=4, progress=False
    )
    assert report["examples"] == {"<CLASSIFICATION>": 1, "<REGIME_SEGMENTATION>": 0}
    assert report["scores"]["<REGIME_SEGMENTATION>"] == {}
    assert report_markdown(report).count("\n| `<") == 2


def _save_corpus(folder, records):
    """Parquet shards and a card with `configs`, as the engine writes a corpus."""
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_list(records).to_parquet(str(folder / "data" / "eval-00000-of-00001.parquet"))
    card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: eval\n    path: data/eval-*.parquet\n---\n"
    (folder / "README.md").write_text(card)


def test_burst_model_is_scored_perfectly_through_evaluate_path(burst_model, tmp_path):
    # The burst model finds the burst of each of its 8 series and says where it is: the runner must score
    # those real predictions as perfect.
    records = []
    for i, (values, (start, end), caption) in enumerate(
        zip(burst_model.series, burst_model.spans, burst_model.captions, strict=True)
    ):
        record = new_record(f"burst-{i}", "synthetic", values, split="eval")
        record["spans"] = [span(start, end, "burst", "anomaly", source="hand")]
        record["captions"]["brief"] = caption
        records.append(record)
    _save_corpus(tmp_path / "corpus", records)

    report = evaluate_path(
        burst_model.folder, tmp_path / "corpus", split="eval", max_new_tokens=32, batch_size=3, progress=False
    )
    assert report["model"] == str(burst_model.folder) and report["split"] == "eval"
    assert report["examples"]["<ANOMALY_DETECTION>"] == 8 and report["examples"]["<CAPTION>"] == 8
    assert report["scores"]["<ANOMALY_DETECTION>"]["f1@0.5"] == 1.0
    assert report["scores"]["<ANOMALY_DETECTION>"]["event_f1"] == 1.0
    assert report["scores"]["<CAPTION>"]["rouge_l"] == 1.0
    _scores_in_unit_interval(report)

    table = report_markdown(report)
    rows = [line for line in table.splitlines() if line.startswith("| `<")]
    assert [row.split("`")[1] for row in rows] == list(report["examples"])
    assert len({line.count("|") for line in table.splitlines() if line.startswith("|")}) == 1


def test_the_target_captions_are_scored_alike_as_the_ceiling(model, processor):
    report = evaluate_model(model, processor, _records(), ["<CAPTION>"], max_new_tokens=8, progress=False)
    target = report["target_scores"]["<CAPTION>"]
    # a's caption: rises, a period of 16 samples and one spike at sample 40, all true
    assert target["fact_precision"] == 1.0 and target["fact_precision[event]"] == 1.0
    assert target["rouge_l"] == 1.0 and target["no_repeat_rate"] == 1.0
    table = report_markdown(report)
    assert "| target: the engine's caption | 3 |" in table
    assert "| `<CAPTION>` | period |" in table  # the table per kind


def test_load_records_reads_saved_dataset_dicts_and_names_missing_splits(tmp_path):
    records = _records()
    _save_corpus(tmp_path / "parquet", records)
    assert len(load_records(tmp_path / "parquet", "eval")) == 3
    with pytest.raises(ValueError, match="no split 'test'; available splits: eval"):
        load_records(tmp_path / "parquet", "test")

    datasets.DatasetDict({"eval": datasets.Dataset.from_list(records)}).save_to_disk(str(tmp_path / "saved"))
    loaded = load_records(tmp_path / "saved", "eval")
    assert json.loads(loaded[0]["meta"])["description"]["length"] == 128
    with pytest.raises(ValueError, match="available splits: eval"):
        load_records(tmp_path / "saved", "train")


def test_examples_whose_prompt_is_longer_than_the_model_takes_are_answered_with_nothing_and_counted(
    model, processor, monkeypatch
):
    records = _records()
    # The model takes 256 encoder positions; a caption of ~400 words to ground cannot fit.
    records[1]["captions"]["brief"] = "noise with a level shift" + " and then more noise" * 100
    # The model grounds every phrase it is given right: only the example it cannot take is missed.
    monkeypatch.setattr(runner, "_generate", lambda model, processor, batch, kw: [(ex.target, None) for ex in batch])
    report = evaluate_model(
        model, processor, records, ["<CAPTION_TO_PHRASE_GROUNDING>"], max_new_tokens=8, progress=False
    )
    assert report["skipped_too_long"] == {"<CAPTION_TO_PHRASE_GROUNDING>": 1}
    assert report["examples"]["<CAPTION_TO_PHRASE_GROUNDING>"] == 2  # both are scored
    # a's one true pair found, b's one true pair missed: recall over all the examples
    assert report["scores"]["<CAPTION_TO_PHRASE_GROUNDING>"]["recall@0.5"] == 0.5


def test_a_task_is_scored_through_its_spec_by_the_scorer_it_names():
    from ts_florence.evaluation.scorers import SCORERS

    examples = runner.build_examples(_records(), list(TASKS))
    for token, spec in TASKS.items():
        truths = [ex.truth for ex in examples[token]]
        scores = spec.score(examples[token], truths)
        assert scores == SCORERS[spec.scorer](examples[token], truths), token
        # the target itself scores 1 on every metric a target can be scored on
        assert all(value == 1.0 for name, value in scores.items() if value is not None), token


def test_every_task_names_a_scorer_of_the_one_registry_and_a_metric_it_gives_to_gate_on():
    from ts_florence.evaluation.scorers import METRICS, SCORERS

    for spec in TASKS.values():
        assert spec.scorer in SCORERS, spec.token
        assert spec.gate_metric is None or spec.gate_metric in METRICS, spec.token
