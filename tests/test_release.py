"""The bundled model and its cards: what ships inside the package, loaded offline as a user would."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

import ts_florence
from ts_florence import cli
from ts_florence.bundled import bundle, bundled_models, pretrained_path
from ts_florence.windowing import span_iou

ROOT = Path(__file__).resolve().parents[1]
CARDS = ROOT / "model_cards"


def test_bundle_stores_half_width_weights_that_load_and_answer_in_float32(burst_model, tmp_path):
    import torch
    from transformers import AutoModelForSeq2SeqLM, pipeline

    dest = tmp_path / "pretrained" / "m"
    size = bundle(burst_model.folder, dest, "float16", recipe="train it", command="bundle it")
    with safe_open(dest / "model.safetensors", framework="pt") as weights:
        assert {weights.get_tensor(name).dtype for name in weights.keys()} == {torch.float16}
    assert json.loads((dest / "config.json").read_text())["dtype"] == "float32"
    assert AutoModelForSeq2SeqLM.from_pretrained(dest).dtype == torch.float32
    assert "train it\nbundle it" in (dest / "RECIPE.md").read_text()
    assert size < 0.6 * (burst_model.folder / "model.safetensors").stat().st_size + 1_000_000
    found = pipeline("time-series-prompting", model=str(dest))(burst_model.series[0], task="<ANOMALY_DETECTION>")
    assert span_iou(found["<ANOMALY_DETECTION>"]["spans"][0], burst_model.spans[0]) >= 0.5
    assert not list(dest.parent.glob(".*")), "no temporary folder is left behind"


def test_an_unknown_bundled_model_is_named_with_the_ones_there_are():
    with pytest.raises(ValueError, match=r"no bundled model 'nope' in this installation \(bundled: "):
        pretrained_path("nope")


# The model that ships (ts_florence/pretrained/ts-florence-tiny, scripts/bundle_model.py)

EXAMPLE = ROOT / "examples" / "load_and_temperature.csv"
LEVEL_SHIFT = 500  # examples/make_examples.py: the load's level shift


def _near_the_level_shift(points) -> bool:
    return any(abs(p - LEVEL_SHIFT) <= 3 for p in points)


def test_the_package_ships_its_tiny_model():
    assert "ts-florence-tiny" in bundled_models()
    assert (ts_florence.pretrained_path() / "RECIPE.md").is_file()


def test_the_bundled_model_loads_offline_through_the_auto_classes():
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor

    from ts_florence.io import read_series

    path = ts_florence.pretrained_path()
    model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    values = read_series(EXAMPLE).values
    inputs = processor(series=values, text="<CHANGE_POINT_DETECTION>", return_tensors="pt")
    text = processor.batch_decode(model.generate(**inputs), skip_special_tokens=False)[0]
    result = processor.post_process_generation(text, task="<CHANGE_POINT_DETECTION>", series_length=len(values))
    assert _near_the_level_shift(result["<CHANGE_POINT_DETECTION>"]["points"])


def test_the_pipeline_without_a_model_is_the_bundled_one():
    from transformers import pipeline

    from ts_florence.io import read_series

    series = read_series(EXAMPLE)
    pipe = pipeline("time-series-prompting")
    assert Path(pipe.model.name_or_path) == ts_florence.pretrained_path()
    found = pipe(series.values, timestamps=series.timestamps, task="<CHANGE_POINT_DETECTION>")
    assert _near_the_level_shift(found["<CHANGE_POINT_DETECTION>"]["points"])


def test_predict_without_a_model_uses_the_bundled_one(capsys):
    cli.main(["predict", str(EXAMPLE), "--task", "<CHANGE_POINT_DETECTION>", "--json"])
    found = json.loads(capsys.readouterr().out)["<CHANGE_POINT_DETECTION>"]
    assert _near_the_level_shift(found["points"]) and found["timestamps"]


# The cards (scripts/make_cards.py)


def test_the_model_cards_metrics_are_the_benchmarks():
    from huggingface_hub import ModelCard

    card = ModelCard.load(CARDS / "ts-florence-tiny" / "README.md")
    report = json.loads((CARDS / "ts-florence-tiny" / "benchmark.json").read_text())
    measured = {}
    for key, data in report["datasets"].items():
        for row in data["rows"]:
            if row["kind"] == "model":
                for metric, value in row["scores"].items():
                    measured[(key, row["prompt"], metric)] = value
    results = card.data.eval_results
    assert len(results) >= 8  # frozen split (4 tasks, several metrics each) and the dev sets
    for result in results:
        assert result.metric_value == pytest.approx(
            measured[(result.dataset_type, result.task_name, result.metric_type)], abs=5e-5
        )
    assert {"frozen", "tssb", "nab"} <= {result.dataset_type for result in results}
    assert card.data.license == "apache-2.0" and "ts-florence-corpus" in card.data.datasets
    # The copy in the model folder is the card of the model that ships.
    assert (ts_florence.pretrained_path() / "README.md").read_text() == (
        CARDS / "ts-florence-tiny" / "README.md"
    ).read_text()


def test_the_model_cards_text_and_span_figures_are_the_evaluate_and_audit_reports():
    card = (CARDS / "ts-florence-tiny" / "README.md").read_text()
    evaluation = json.loads((CARDS / "ts-florence-tiny" / "evaluate.json").read_text())
    tasks = {"<CAPTION>", "<CAPTION_TO_PHRASE_GROUNDING>", "<SPAN_TO_CATEGORY>", "<DENSE_SPAN_CAPTION>"}
    assert tasks <= set(evaluation["scores"])
    for task, scores in evaluation["scores"].items():
        for metric, value in scores.items():
            if "[" not in metric:
                assert f"| `{task}` | {evaluation['examples'][task]} | {metric} | {value:.3f} |" in card
    accuracy = evaluation["constant_scores"]["<SPAN_TO_CATEGORY>"]["accuracy"]  # the majority label's
    assert f"| accuracy | {evaluation['scores']['<SPAN_TO_CATEGORY>']['accuracy']:.3f} |  | {accuracy:.3f} |" in card
    merged = json.loads((CARDS / "ts-florence-tiny" / "audit.json").read_text())["scores"]["merged+filtered"]
    assert f"{merged['anomaly label agreement']:.3f} of the anomalies" in card


def test_the_dataset_card_is_the_one_the_build_writes_from_its_stats():
    from ts_florence.engine.build import config_from_dict, dataset_card

    path = CARDS / "ts-florence-corpus" / "stats.json"
    stats = json.loads(path.read_text())
    card = (CARDS / "ts-florence-corpus" / "README.md").read_text()
    assert card == dataset_card(config_from_dict(stats["config"], str(path)), stats)
    assert "task_categories:\n- other\n" in card  # no forecasts in the corpus


def test_the_dataset_cards_counts_are_the_corpus_stats():
    stats = json.loads((CARDS / "ts-florence-corpus" / "stats.json").read_text())
    card = (CARDS / "ts-florence-corpus" / "README.md").read_text()
    counts = re.search(r"train: (\d+) series \(real: (\d+), synthetic: (\d+), semi: (\d+)", card).groups()
    assert [int(c) for c in counts] == [
        stats["train"],
        *(stats["train_by_kind"][k] for k in ("real", "synthetic", "semi")),
    ]
    assert re.search(rf"eval \(frozen\): {stats['eval']} series", card)
    for name, count in stats["annotations"].items():
        assert f"{name}: {count}" in card
    assert np.isclose(float(re.search(r"real share ([\d.]+)%", card).group(1)), 100 * stats["real_share"], atol=0.05)
