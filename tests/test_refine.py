"""Refinement rounds: the model as one more source of the merge, the rare-class guard, the contamination check,
resuming a round and resuming `scripts/run_rounds.py` after an interrupted stage."""

import hashlib
import importlib.util
import json
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from corpora import fake_real_source
from tiny import TINY_VOCAB, tiny_config

from ts_florence import (
    TSFlorenceForConditionalGeneration,
    TSFlorenceProcessor,
    TSFlorenceSeriesFeatureExtractor,
    generated_text_corpus,
    train_tokenizer,
)
from ts_florence.cli import main as cli_main
from ts_florence.engine import refine as R
from ts_florence.engine.build import BuildConfig, EvalConfig, SourcesConfig, build_corpus
from ts_florence.records import has_truth, span, values_hash
from ts_florence.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]


_fake_real = fake_real_source(6)


@pytest.fixture(scope="module")
def round0(tmp_path_factory):
    """Round 0: 13 real windows, 4 synthetic and 2 semi-synthetic series, 4 frozen evaluation series (2 s)."""
    import ts_florence.engine.sources as sources

    out = tmp_path_factory.mktemp("round0")
    config = BuildConfig(
        name="refine-test",
        shards=1,
        sources=SourcesConfig(
            synthetic=4, semi_synthetic=2, real=["fake"], max_length=512, heldout_fraction=0.0, max_windows_per_series=3
        ),
        eval=EvalConfig(synthetic=4, semi_synthetic=0, seed=99),
        specialists=[{"name": n} for n in ("regime_describer", "stl_zscore", "change_points", "events")],
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "read_raw", _fake_real)
        build_corpus(config, out, progress=False)
    shutil.rmtree(out / "work")
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny random model and its processor, saved: what `pipeline` loads."""
    folder = tmp_path_factory.mktemp("tiny_model")
    torch.manual_seed(0)
    series = tiny_config().series_config
    processor = TSFlorenceProcessor(
        feature_extractor=TSFlorenceSeriesFeatureExtractor(
            patch_length=series.patch_length, num_patches=series.num_patches, max_series_tokens=series.max_series_tokens
        ),
        tokenizer=train_tokenizer(generated_text_corpus(300), vocab_size=TINY_VOCAB),
    )
    TSFlorenceForConditionalGeneration(tiny_config()).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _records(corpus, split="train"):
    files = sorted((Path(corpus) / "data").glob(f"{split}-*.parquet"))
    return [row for path in files for row in pq.read_table(path).to_pylist()]


def _by_id(corpus):
    return {r["id"]: r for r in _records(corpus)}


def _same(a, b):
    """Records equal, values compared by hash (NaN != NaN)."""
    return values_hash(a) == values_hash(b) and {k: v for k, v in a.items() if k != "values"} == {
        k: v for k, v in b.items() if k != "values"
    }


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Scripted:
    """A stand-in for the model: `answer(values, previous)` gives the pipeline result of one series, where
    `previous` is the round-0 record of the same values. Counts the series it was asked about."""

    def __init__(self, corpus, answer=lambda values, previous: {}, fail_on_call=None):
        self.previous = {values_hash(r): r for r in _records(corpus)}
        self.answer, self.fail_on_call = answer, fail_on_call
        self.calls, self.series = 0, 0

    def __call__(self, series):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        self.series += len(series)
        return [self.answer(v, self.previous[values_hash(v.astype(np.float32))]) for v in series]


def _spans(found):
    """A labelled-span result of the pipeline from (span, label) pairs, every one sure of itself."""
    return {
        "spans": [s for s, _ in found],
        "labels": [label for _, label in found],
        "channels": [None] * len(found),
        "scores": [0.99] * len(found),
    }


# --------------------------------------------------------------------------------------------------------------
# The merge with a model source


def test_a_model_that_finds_nothing_gives_back_round_0_and_the_frozen_split_byte_for_byte(round0, tmp_path):
    audit = R.refine_corpus(round0, "silent", tmp_path / "round1", annotator=Scripted(round0), progress=False)
    before, after = _by_id(round0), _by_id(tmp_path / "round1")
    assert before.keys() == after.keys()
    for record_id, record in before.items():
        for key in ("spans", "segments", "change_points", "captions", "groundings", "meta", "timestamps"):
            assert after[record_id][key] == record[key], (record_id, key)
        assert values_hash(after[record_id]) == values_hash(record)  # NaN != NaN: compared by hash
    for path in (round0 / "data").glob("eval-*.parquet"):
        assert _sha(tmp_path / "round1" / "data" / path.name) == _sha(path)
    assert audit["records"]["refined"] == sum(not has_truth(r) for r in before.values()) == 13
    assert audit["agreement"]["unchanged records"] == 1.0 and not audit["guard"]["flagged"]
    stats = json.loads((tmp_path / "round1" / "stats.json").read_text())
    assert stats["round"] == 1 and stats["train"] == len(after) and stats["rounds"][0]["model"] == "silent"
    assert "round 1" in (tmp_path / "round1" / "README.md").read_text()
    assert (tmp_path / "round1" / "audit.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".round1*")), "the work and temporary folders are removed"


def _model_answer(values, previous):
    """A spike at [10, 14) everywhere, each round-0 event confirmed, an unusable label, and two regimes."""
    n = values.shape[1]
    events = [s for s in previous["spans"] if s["kind"] == "event"]
    return {
        "<ANOMALY_DETECTION>": _spans([([10, 14], "spike"), ([20, 30], "bogus")]),
        "<EVENT_DETECTION>": {
            "spans": [[s["start"], s["end"]] for s in events],
            "labels": [s["label"] for s in events],
            "channels": [s["channel"] for s in events],
            "scores": [0.99] * len(events),
        },
        "<REGIME_SEGMENTATION>": {
            "spans": [[0, n // 2], [n // 2, n]],
            "labels": ["calm", "volatile"],
            "scores": [0.9, 0.9],
        },
        "<CHANGE_POINT_DETECTION>": {"points": [n // 2], "scores": [0.9]},
    }


def test_model_annotations_enter_the_merge_with_their_weight_and_the_provenance_of_the_round(round0, tmp_path):
    config = R.RefineConfig(model_weight=4.0, guard_share=1.0)  # the merge alone, no guard
    audit = R.refine_corpus(round0, "runs/m0", tmp_path / "r1", config, annotator=Scripted(round0, _model_answer))
    before, after = _by_id(round0), _by_id(tmp_path / "r1")
    refined = [i for i, r in before.items() if not has_truth(r)]
    for record_id, record in before.items():
        if has_truth(record):  # exact truth is never re-annotated
            assert _same(after[record_id], record)
    spikes = [s for i in refined for s in after[i]["spans"] if (s["start"], s["end"], s["label"]) == (10, 14, "spike")]
    assert all("model@0" in s["source"].split("+") and s["round"] == 1 for s in spikes)
    assert any(s["source"] == "model@0" for s in spikes), "the model alone, heavy enough, adds a span"
    confirmed = [s for i in refined for s in after[i]["spans"] if s["kind"] == "event"]
    assert confirmed and all(R.from_specialist(s) and "model@0" in s["source"].split("+") for s in confirmed)
    assert all(s["round"] == 1 for s in confirmed)
    for i in refined:  # the heavier model's segmentation wins, with its provenance
        n = len(after[i]["values"][0])
        assert [(s["start"], s["end"], s["label"], s["source"]) for s in after[i]["segments"]] == [
            (0, n // 2, "calm", "model@0"),
            (n // 2, n, "volatile", "model@0"),
        ]
    assert not any(s["label"] == "bogus" for i in refined for s in after[i]["spans"])
    removed = json.loads((tmp_path / "r1" / "stats.json").read_text())["steps"]["annotate:model"]["removed"]
    assert removed == {"model anomaly label outside the vocabulary": 13}
    assert audit["sources"]["round 1"]["model@0"] > 0 and audit["provenance"]["round 1"]["model only"] > 0
    assert audit["counts"]["round 1"]["segment:calm"] == 13

    # With no weight, the model has no say at all.
    R.refine_corpus(
        round0,
        "runs/m0",
        tmp_path / "r1w0",
        R.RefineConfig(model_weight=0.0),
        annotator=Scripted(round0, _model_answer),
    )
    assert not any(s["source"] == "model@0" for r in _records(tmp_path / "r1w0") for s in r["spans"])


def _frozen_report(gains):
    """A frozen-split report of `evaluate_model` where the model beats reading nothing by `gains[task]`."""
    scores, reference = {}, {}
    for task, gain in gains.items():
        metric = TASKS[task].gate_metric
        reference[task] = {metric: 0.5}
        scores[task] = {metric: 0.5 + gain}
    return {"examples": dict.fromkeys(gains, 2), "scores": scores, "reference_scores": reference, "limit": 2}


def test_skill_gate_lets_in_only_the_tasks_where_the_model_beats_reading_nothing():
    report = _frozen_report(dict(zip(R.MODEL_TASKS, [0.2, 0.01, 0.05, -0.1], strict=True)))
    gate = R.skill_gate(report, R.MODEL_TASKS, 0.05)
    assert [gate[t]["used"] for t in R.MODEL_TASKS] == [True, False, True, False]
    assert gate["<ANOMALY_DETECTION>"]["model"] == pytest.approx(0.7) and gate["<EVENT_DETECTION>"]["reference"] == 0.5
    assert all(g["used"] for g in R.skill_gate(report, R.MODEL_TASKS, None).values())
    unscored = R.skill_gate(None, R.MODEL_TASKS, 0.05)  # no frozen-split scores: let in, and said so
    assert all(g["used"] and "no frozen-split score" in g["reason"] for g in unscored.values())


class GatedModel(R.ModelAnnotator):
    """A model annotator (so the gate narrows its tasks) that answers `_model_answer` for its current tasks."""

    def __init__(self, corpus):
        self.scripted, self.pipe, self.tasks, self.asked = Scripted(corpus, _model_answer), object(), [], set()

    def __call__(self, series):
        self.asked.update(self.tasks)
        return [{t: r[t] for t in self.tasks} for r in self.scripted(series)]


def test_the_model_votes_only_on_tasks_it_passed_the_skill_gate_on(round0, tmp_path, monkeypatch):
    gains = dict(zip(R.MODEL_TASKS, [0.3, 0.0, 0.01, 0.0], strict=True))  # anomalies only
    monkeypatch.setattr(R, "_evaluate", lambda annotator, corpus, config: _frozen_report(gains))
    model = GatedModel(round0)
    config = R.RefineConfig(model_weight=4.0, guard_share=1.0)
    audit = R.refine_corpus(round0, "runs/m0", tmp_path / "r1", config, annotator=model, progress=False)
    assert model.asked == {"<ANOMALY_DETECTION>"}
    voted = [s for r in _records(tmp_path / "r1") for s in r["spans"] if "model@0" in s["source"].split("+")]
    assert voted and {s["kind"] for s in voted} == {"anomaly"}  # no event vote, though it answered events
    assert not any("model@0" in s["source"] for r in _records(tmp_path / "r1") for s in r["segments"])
    assert [t for t, g in audit["gate"].items() if g["used"]] == ["<ANOMALY_DETECTION>"]
    markdown = (tmp_path / "r1" / "audit.md").read_text()
    assert "## Skill gate" in markdown and "| `<EVENT_DETECTION>` | f1@0.5 | 0.500 | 0.500 | no |" in markdown

    # The gate holds for any annotator, not only the model's pipeline: outputs of gated tasks are not used.
    R.refine_corpus(round0, "runs/m0", tmp_path / "r1s", config, annotator=Scripted(round0, _model_answer))
    voted = [s for r in _records(tmp_path / "r1s") for s in r["spans"] if "model@0" in s["source"].split("+")]
    assert voted and {s["kind"] for s in voted} == {"anomaly"}

    # A model that reads nothing anywhere gives back round 0.
    monkeypatch.setattr(R, "_evaluate", lambda annotator, corpus, config: _frozen_report(dict.fromkeys(gains, 0.0)))
    blind = GatedModel(round0)
    audit = R.refine_corpus(round0, "runs/m0", tmp_path / "r1b", config, annotator=blind, progress=False)
    assert blind.asked == set() and audit["agreement"]["unchanged records"] == 1.0


def test_model_outputs_outside_the_series_or_vocabulary_are_left_out_and_counted():
    values = np.zeros((2, 100))
    result = {
        "<ANOMALY_DETECTION>": {
            "spans": [[5, 9], [90, 120], [3, 4]],
            "labels": ["dip", "dip", "dip"],
            "channels": [1, None, 7],
            "scores": [0.8, 0.8, None],
        },
        "<EVENT_DETECTION>": {"spans": [[1, 2]], "labels": ["spike"], "channels": [None], "scores": [0.9]},
        "<REGIME_SEGMENTATION>": {"spans": [[3, 40], [40, 100]], "labels": ["calm", "volatile"], "scores": [0.5, 0.6]},
        "<CHANGE_POINT_DETECTION>": {"points": [0, 40], "scores": [0.9, 0.7]},
    }
    found, problems = R.model_candidates(result, values, "model@2", 3)
    assert found["spans"] == [span(5, 9, "dip", "anomaly", channel=1, score=0.8, source="model@2", round=3)]
    assert [(s["start"], s["end"], s["label"], s["round"]) for s in found["segments"]] == [
        (0, 40, "calm", 3),
        (40, 100, "volatile", 3),
    ]
    assert [p["index"] for p in found["change_points"]] == [40]
    assert problems == {
        "model span outside the series": 1,
        "model span on an unknown channel": 1,
        "model event label outside the vocabulary": 1,
        "model change point at or beyond the series' ends": 1,
    }


# --------------------------------------------------------------------------------------------------------------
# The rare-class guard


def _relabel(kind, old, new, only=None):
    """A model that relabels the round-0 spans of `old` as `new`: all of them, or those of `only` (a set of
    (values hash, start))."""

    def answer(values, previous):
        key = values_hash(previous)
        mine = [
            s
            for s in previous["spans"]
            if s["kind"] == kind and s["label"] == old and (only is None or (key, s["start"]) in only)
        ]
        task = "<EVENT_DETECTION>" if kind == "event" else "<ANOMALY_DETECTION>"
        return {
            task: {
                "spans": [[s["start"], s["end"]] for s in mine],
                "labels": [new] * len(mine),
                "channels": [s["channel"] for s in mine],
                "scores": [0.99] * len(mine),
            }
        }

    return answer


def _commonest_event_class(before):
    """The refined records of round 0, their class counts, the commonest event class, its label and a label of the
    event vocabulary that round 0 does not use."""
    refined = {i: r for i, r in before.items() if not has_truth(r)}
    counts = R.class_counts(refined.values())
    target = max((c for c in counts if c.startswith("event:")), key=counts.get)
    old = target.split(":", 1)[1]
    new = next(label for label in R.SPAN_LABELS["event"] if label != old and f"event:{label}" not in counts)
    return refined, counts, target, old, new


def test_the_guard_restores_the_specialist_annotations_of_a_class_the_model_erased(round0, tmp_path):
    before = _by_id(round0)
    refined, counts, target, old, new = _commonest_event_class(before)
    answer = _relabel("event", old, new)

    audit = R.refine_corpus(
        round0, "m", tmp_path / "guarded", R.RefineConfig(model_weight=10.0), annotator=Scripted(round0, answer)
    )
    assert target in [f["class"] for f in audit["guard"]["flagged"]]
    assert audit["counts"]["round 1 before the guard"].get(target, 0) == 0
    assert audit["counts"]["round 1"][target] == counts[target]
    after = _by_id(tmp_path / "guarded")
    restored = [s for i in refined for s in after[i]["spans"] if s["label"] == old]
    assert restored and all(R.from_specialist(s) and "model" not in s["source"] and s["round"] == 0 for s in restored)
    assert not any(s["label"] == new for i in refined for s in after[i]["spans"]), "the model's relabelling gave way"
    assert target in (tmp_path / "guarded" / "audit.md").read_text()
    assert audit["guard"]["restored"][f"restored {target}"] == counts[target]

    # A guard that tolerates any drop lets the class vanish, and the audit says so.
    audit = R.refine_corpus(
        round0,
        "m",
        tmp_path / "unguarded",
        R.RefineConfig(model_weight=10.0, guard_share=1.0),
        annotator=Scripted(round0, answer),
    )
    assert not audit["guard"]["flagged"] and target in audit["vanished"] and f"event:{new}" in audit["new"]


def _relabel_share(kind, old, new, targets, share):
    """Relabels the first `share` of `targets` (sorted (values hash, start) of the round-0 spans of `old`)."""
    return _relabel(kind, old, new, only=set(targets[: int(round(share * len(targets)))]))


def test_the_guard_measures_against_round_0_a_slow_drift_is_flagged_a_passing_inflation_is_not(round0, tmp_path):
    before = _by_id(round0)
    refined, counts, target, old, new = _commonest_event_class(before)
    targets = sorted(
        (values_hash(r), s["start"])
        for r in refined.values()
        for s in r["spans"]
        if s["kind"] == "event" and s["label"] == old
    )
    assert len(targets) >= 4, "the fixture needs a class to drift"
    config = R.RefineConfig(model_weight=10.0, guard_share=0.4)

    # Round 1 relabels a quarter of the class, round 2 (from round 1) half: against round 1 the class falls by a
    # third, within the share, against round 0 by half; the guard flags it and brings back round 0's annotations.
    one = R.refine_corpus(
        round0,
        "m0",
        tmp_path / "r1",
        config,
        annotator=Scripted(round0, _relabel_share("event", old, new, targets, 0.25)),
    )
    assert not one["guard"]["flagged"] and one["guard"]["against"] == "round 0"
    assert R.round_zero(tmp_path / "r1") == round0 and R.round_zero(round0) == round0
    two = R.refine_corpus(
        tmp_path / "r1",
        "m1",
        tmp_path / "r2",
        config,
        annotator=Scripted(round0, _relabel_share("event", old, new, targets, 0.5)),
    )
    assert two["counts"]["round 0"][target] == counts[target]
    kept_1, kept_2 = two["counts"]["round 1"][target], two["counts"]["round 2 before the guard"][target]
    assert (kept_1 - kept_2) / kept_1 <= 0.4 < (counts[target] - kept_2) / counts[target]
    flagged = {f["class"]: f for f in two["guard"]["flagged"]}
    assert target in flagged and flagged[target]["before"] == counts[target]
    assert two["counts"]["round 2"][target] == counts[target], "round 0's annotations are back"
    assert "against round 0" in (tmp_path / "r2" / "audit.md").read_text()

    # Round 1 brings a new class everywhere and round 2 (a model that finds nothing) takes it away: it fell by 100%
    # against round 1, but it is not a class of round 0, so nothing is flagged; the audit lists the fall.
    def everywhere(values, previous):
        return {"<EVENT_DETECTION>": {"spans": [[1, 3]], "labels": [new], "channels": [None], "scores": [0.99]}}

    R.refine_corpus(round0, "m0", tmp_path / "i1", config, annotator=Scripted(round0, everywhere))
    assert R.class_counts(_by_id(tmp_path / "i1").values())[f"event:{new}"] > 0
    back = R.refine_corpus(tmp_path / "i1", "m1", tmp_path / "i2", config, annotator=Scripted(round0))
    assert not back["guard"]["flagged"]
    assert back["guard"]["fell against round 1 only"] == [f"event:{new}"]
    assert f"event:{new}" in (tmp_path / "i2" / "audit.md").read_text()


def test_guard_flags_only_classes_that_fell_by_more_than_the_share():
    before = Counter({"event:peak": 10, "anomaly:dip": 4, "segment:calm": 2, "change point": 1})
    after = Counter({"event:peak": 5, "anomaly:dip": 1, "change point": 0, "anomaly:spike": 7})
    assert [f["class"] for f in R.guard_flags(before, after, 0.5)] == ["anomaly:dip", "change point", "segment:calm"]
    assert [f["class"] for f in R.guard_flags(before, after, 0.0)] == [
        "anomaly:dip",
        "change point",
        "event:peak",
        "segment:calm",
    ]


def test_the_guard_brings_back_change_points_and_segmentations_only_from_specialists():
    old = {
        "r": {
            "spans": [],
            "segments": [
                {"start": 0, "end": 50, "label": "calm", "score": 0.9, "source": "change_points", "round": 0},
                {"start": 50, "end": 100, "label": "volatile", "score": 0.9, "source": "change_points", "round": 0},
            ],
            "change_points": [
                {"index": 50, "label": "regime change", "score": 0.9, "source": "change_points", "round": 0},
                {"index": 80, "label": "change", "score": 0.9, "source": "model@0", "round": 1},
            ],
        }
    }
    record = {
        "id": "r",
        "values": [[0.0] * 100],
        "spans": [],
        "segments": [{"start": 0, "end": 100, "label": "calm", "score": 0.8, "source": "model@1", "round": 2}],
        "change_points": [{"index": 10, "label": "change", "score": 0.8, "source": "model@1", "round": 2}],
    }
    guard = R.RareClassGuard(old, ["segment:volatile", R.CHANGE_POINT_CLASS])
    out = next(guard.run([record]))
    assert [p["index"] for p in out["change_points"]] == [10, 50]
    assert [s["label"] for s in out["segments"]] == ["calm", "volatile"]


# --------------------------------------------------------------------------------------------------------------
# Contamination, bad input


def _contaminated(round0, tmp_path):
    corpus = tmp_path / "contaminated"
    shutil.copytree(round0, corpus)
    train = _records(corpus)
    leaked = dict(_records(corpus, "eval")[0], split="train")
    from ts_florence.engine.build import _table

    for path in (corpus / "data").glob("train-*.parquet"):
        path.unlink()
    _table([*train, leaked]).to_parquet(str(corpus / "data" / "train-00000-of-00001.parquet"))
    return corpus, leaked


def test_a_corpus_whose_training_part_shares_a_series_with_the_frozen_split_is_refused(round0, tmp_path):
    assert R.check_contamination(round0) == {"train": 19, "eval": 4}
    corpus, leaked = _contaminated(round0, tmp_path)
    with pytest.raises(ValueError, match=f"1 training series share.*{re.escape(leaked['id'])}"):
        R.check_contamination(corpus)
    with pytest.raises(ValueError, match="contaminated"):
        R.refine_corpus(corpus, "m", tmp_path / "out", annotator=Scripted(round0))
    assert not (tmp_path / "out").exists()


def test_value_hashes_read_column_wise_match_the_schema_hash(round0):
    files = sorted((round0 / "data").glob("*.parquet"))
    assert dict(R._value_hashes(files)) == {
        r["id"]: values_hash(r) for f in ("train", "eval") for r in _records(round0, f)
    }


def test_bad_input_gives_clear_errors(round0, tiny_model, tmp_path, capsys):
    with pytest.raises(ValueError, match="not a folder with a saved model"):
        R.refine_corpus(round0, tmp_path / "no-model", tmp_path / "out")
    empty = tmp_path / "empty"
    (empty / "data").mkdir(parents=True)
    (empty / "stats.json").write_text((round0 / "stats.json").read_text())
    with pytest.raises(ValueError, match="no training split"):
        R.refine_corpus(empty, tiny_model, tmp_path / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValueError, match="exists and is not empty"):
        R.refine_corpus(round0, tiny_model, tmp_path / "full")
    with pytest.raises(ValueError, match="must not be the corpus"):
        R.refine_corpus(round0, tiny_model, round0 / "inside")
    with pytest.raises(ValueError, match="guard_share"):
        R.RefineConfig(guard_share=1.5)
    corpus, _ = _contaminated(round0, tmp_path)
    for args, message in (
        (["--corpus", str(round0), "--model", str(tmp_path / "no-model")], "not a folder with a saved model"),
        (["--corpus", str(corpus), "--model", str(tiny_model)], "share their values with the frozen evaluation split"),
    ):
        with pytest.raises(SystemExit, match=f"error: .*{message}"):
            cli_main(["engine", "refine", *args, "--out", str(tmp_path / "cli-out")])


# --------------------------------------------------------------------------------------------------------------
# The real model, resuming


def test_refine_command_runs_the_model_and_a_second_round_builds_on_the_first(round0, tiny_model, tmp_path, capsys):
    args = ["--model", str(tiny_model), "--max-new-tokens", "12", "--eval-limit", "2", "--batch-size", "8"]
    assert cli_main(["engine", "refine", "--corpus", str(round0), "--out", str(tmp_path / "r1"), *args]) == 0
    printed = capsys.readouterr().out
    assert "round 1 written" in printed and "13 of 19" in printed and "skill gate: <ANOMALY_DETECTION>" in printed
    audit = json.loads((tmp_path / "r1" / "audit.json").read_text())
    assert audit["eval"]["limit"] == 2 and set(audit["eval"]["scores"]) == set(R.MODEL_TASKS)
    assert json.loads((tmp_path / "r1" / "stats.json").read_text())["steps"]["annotate:model"]["in"] == 13

    audit2 = R.refine_corpus(tmp_path / "r1", "runs/m1", tmp_path / "r2", annotator=Scripted(round0, _model_answer))
    assert audit2["from_round"] == 1 and audit2["model_source"] == "model@1"
    assert [h["round"] for h in audit2["history"]] == [0, 1, 2]
    spans = [s for r in _records(tmp_path / "r2") for s in r["spans"] if "model@1" in s["source"]]
    assert spans and all(s["round"] == 2 for s in spans)
    assert [r["round"] for r in json.loads((tmp_path / "r2" / "stats.json").read_text())["rounds"]] == [1, 2]


def test_an_interrupted_round_resumes_at_its_first_unfinished_chunk_and_gives_the_same_round(round0, tmp_path):
    config = R.RefineConfig(model_weight=2.0, chunk_size=5, batch_size=2)
    reference = R.refine_corpus(round0, "m", tmp_path / "reference", config, annotator=Scripted(round0, _model_answer))
    interrupted = Scripted(round0, _model_answer, fail_on_call=5)
    with pytest.raises(KeyboardInterrupt):
        R.refine_corpus(round0, "m", tmp_path / "r1", config, annotator=interrupted, progress=False)
    assert not (tmp_path / "r1").exists() and list((tmp_path / ".r1.work" / "chunks").glob("*.stats.json"))
    resumed = Scripted(round0, _model_answer)
    audit = R.refine_corpus(round0, "m", tmp_path / "r1", config, annotator=resumed, progress=False)
    assert 0 < resumed.series < reference["records"]["refined"], "finished chunks are not annotated again"
    resumed_records, reference_records = _records(tmp_path / "r1"), _records(tmp_path / "reference")
    assert len(resumed_records) == len(reference_records)
    assert all(_same(a, b) for a, b in zip(resumed_records, reference_records, strict=True))
    assert audit["counts"] == reference["counts"]


# --------------------------------------------------------------------------------------------------------------
# scripts/run_rounds.py


@pytest.fixture
def run_rounds(monkeypatch, tiny_model):
    """The script as a module, with a fake training (copies the tiny model, counts calls, can fail) and a scripted
    model for the refinement."""
    spec = importlib.util.spec_from_file_location("run_rounds_under_test", ROOT / "scripts" / "run_rounds.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    module.trained, module.fail_training, module.calls = [], set(), []

    def fake_training(corpus, out, args, init_from, seed=None):
        module.trained.append(out.name)
        module.calls.append({"out": out.name, "corpus": Path(corpus), "init_from": init_from, "seed": seed})
        if out.name in module.fail_training:
            module.fail_training.discard(out.name)
            (out / "checkpoints").mkdir(parents=True)
            raise RuntimeError("train.py exited with status -9")
        shutil.copytree(tiny_model, out, dirs_exist_ok=True)
        (out / "train_results.json").write_text(json.dumps({"steps": args.steps}))

    monkeypatch.setattr(module, "run_training", fake_training)
    state = {"fail_on_call": None, "series": 0}

    class FakeAnnotator:
        def __init__(self, path, tasks, **kwargs):
            self.calls = 0

        def __call__(self, series):
            self.calls += 1
            if self.calls == state["fail_on_call"]:
                state["fail_on_call"] = None
                raise KeyboardInterrupt("killed")
            state["series"] += len(series)
            return [{"<ANOMALY_DETECTION>": _spans([([10, 14], "spike")])} for _ in series]

    monkeypatch.setattr(R, "ModelAnnotator", FakeAnnotator)
    module.annotator_state = state
    return module


def test_run_rounds_resumes_after_an_interrupted_stage_and_skips_finished_ones(run_rounds, round0, tmp_path, capsys):
    work = tmp_path / "rounds"
    argv = ["--corpus", str(round0), "--work", str(work), "--steps", "3", "--chunk-size", "5", "--batch-size", "2"]

    run_rounds.annotator_state["fail_on_call"] = 4  # killed in the middle of refine0
    with pytest.raises(KeyboardInterrupt):
        run_rounds.main(argv)
    assert sorted(p.name for p in (work / "done").iterdir()) == ["check0", "train0"]
    assert not (work / "round1").exists() and run_rounds.trained == ["model0"]

    run_rounds.fail_training.add("model1")  # then training on round 1 dies
    series_before = run_rounds.annotator_state["series"]
    with pytest.raises(SystemExit, match="train.py exited"):
        run_rounds.main(argv)
    assert run_rounds.trained == ["model0", "model1"]
    assert (work / "done" / "refine0").exists() and not (work / "done" / "train1").exists()
    assert run_rounds.annotator_state["series"] - series_before < 13, "refine0 resumed its finished chunks"

    assert run_rounds.main(argv) == 0
    assert run_rounds.trained == ["model0", "model1", "model1"]
    assert sorted(p.name for p in (work / "done").iterdir()) == [
        "check0",
        "gallery0",
        "gallery1",
        "refine0",
        "refine1",
        "train0",
        "train1",
    ]
    assert (work / "gallery2" / "gallery.md").is_file() and "gallery2/gallery.md" in (work / "summary.md").read_text()
    audit = json.loads((work / "round2" / "audit.json").read_text())
    assert audit["round"] == 2 and audit["model"] == str(work / "model1")
    assert "| 2 |" in (work / "summary.md").read_text()

    capsys.readouterr()  # a relaunch needs only the work folder: the settings are read from WORK/run.json
    assert run_rounds.main(["--work", str(work)]) == 0 and run_rounds.trained == ["model0", "model1", "model1"]
    assert capsys.readouterr().out.count("done before, skipped") == 7

    with pytest.raises(SystemExit, match="other settings"):
        run_rounds.main([*argv, "--model-weight", "3"])


def test_run_rounds_refuses_a_contaminated_round_0_and_a_second_launch_on_the_same_work(run_rounds, round0, tmp_path):
    corpus, _ = _contaminated(round0, tmp_path)
    with pytest.raises(SystemExit, match="share their values"):
        run_rounds.main(["--corpus", str(corpus), "--work", str(tmp_path / "w1")])
    assert run_rounds.trained == []
    lock = run_rounds._lock(tmp_path / "w2")
    try:
        with pytest.raises(SystemExit, match="another run_rounds is running"):
            run_rounds.main(["--corpus", str(round0), "--work", str(tmp_path / "w2")])
    finally:
        lock.close()


def test_run_rounds_reads_a_work_folder_started_before_the_skill_gate_as_ungated(run_rounds, round0, tmp_path):
    work = tmp_path / "old"
    work.mkdir()
    started = {key: value for key, value in run_rounds.FIXED.items() if key != "min_gain"}
    (work / "run.json").write_text(json.dumps({**started, "corpus": str(round0.resolve())}))
    assert run_rounds._settled(run_rounds.parse_args(["--work", str(work)])).min_gain is None
    with pytest.raises(SystemExit, match="min_gain: 'none', now 0.05"):
        run_rounds._settled(run_rounds.parse_args(["--work", str(work), "--min-gain", "0.05"]))
    fresh = run_rounds._settled(run_rounds.parse_args(["--corpus", str(round0), "--work", str(tmp_path / "new")]))
    assert fresh.min_gain == 0.05
    ungated = ["--corpus", str(round0), "--work", str(tmp_path / "none"), "--min-gain", "none"]
    assert run_rounds._settled(run_rounds.parse_args(ungated)).min_gain is None
    assert json.loads((tmp_path / "none" / "run.json").read_text())["min_gain"] == "none"


# --------------------------------------------------------------------------------------------------------------
# The gallery: where the model disagrees with the specialists


def _truth_answer(values, previous):
    """A model that writes the exact truth of a semi-synthetic series (its injected anomalies), nothing elsewhere."""
    mine = [s for s in previous["spans"] if s["kind"] == "anomaly"] if has_truth(previous) else []
    return {"<ANOMALY_DETECTION>": _spans([([s["start"], s["end"]], s["label"]) for s in mine])}


def test_the_gallery_counts_what_the_model_added_and_removed_against_exact_truth_and_draws_it(round0, tmp_path):
    from ts_florence.engine.refine.gallery import disagreement_gallery

    config = R.RefineConfig(model_weight=10.0, eval_limit=0)
    truthful = R.refine_corpus(round0, "m0", tmp_path / "r1", config, annotator=Scripted(round0, _truth_answer))
    report = disagreement_gallery(
        round0, "m0", tmp_path / "g", config, refined=tmp_path / "r1", annotator=Scripted(round0, _truth_answer)
    )
    semi = report["views"]["semi-synthetic series, against exact truth"]
    assert semi["series"] == 2
    added = {name: c for name, c in semi["classes"].items() if c.get("added")}
    assert added, "the specialists miss some injected anomaly that the truthful model adds"
    assert all(c["added and true"] == c["added"] for c in added.values()), "everything it adds is true"
    real = report["views"]["refined real series, no truth"]
    assert real["series"] == truthful["records"]["refined"] and not any(
        c.get("added") for c in real["classes"].values()
    )
    for name, image in report["images"].items():
        assert (tmp_path / "g" / image).stat().st_size > 0 and f"![{name}]({image})" in (
            tmp_path / "g" / "gallery.md"
        ).read_text()

    # A model that writes a spike at the same place of every series adds it everywhere, and the truth rarely agrees.
    spikes = disagreement_gallery(round0, "m0", tmp_path / "g2", config, annotator=Scripted(round0, _model_answer))
    spike = spikes["views"]["semi-synthetic series, against exact truth"]["classes"]["anomaly:spike"]
    assert spike["added"] == 2 and spike["added and true"] < 2
    assert json.loads((tmp_path / "g2" / "gallery.json").read_text())["round"] == 1


def test_differences_match_by_class_place_and_channel():
    from ts_florence.engine.refine.gallery import differences

    a = span(10, 20, "spike", "anomaly", channel=0, score=0.9, source="stl_zscore", round=0)
    moved = span(11, 21, "spike", "anomaly", channel=0, score=0.9, source="model@0", round=1)
    other = span(10, 20, "dip", "anomaly", channel=0, score=0.9, source="model@0", round=1)
    before = {"spans": [a], "segments": [], "change_points": [], "length": 100}
    assert differences(before, {**before, "spans": [moved]}) == {}
    change = differences(before, {**before, "spans": [other]})
    assert [s["label"] for s in change["anomaly:dip"]["added"]] == ["dip"]
    assert [s["label"] for s in change["anomaly:spike"]["removed"]] == ["spike"]
    elsewhere = differences(before, {**before, "spans": [{**moved, "channel": 1}]})
    assert set(elsewhere) == {"anomaly:spike"} and len(elsewhere["anomaly:spike"]["added"]) == 1


def test_run_rounds_from_a_trained_model_with_controls_beside_and_the_round_table(
    run_rounds, round0, tiny_model, tmp_path, monkeypatch
):
    score = {"control0": 0.31, "control1": 0.33, "model1": 0.40, "model2": 0.45}

    def fake_benchmark(model, corpus, out, args, datasets, methods, limit=None):
        assert Path(corpus) == round0.resolve() and "frozen" in datasets
        rows = [
            {
                "method": m,
                "task": t,
                "prompt": t,
                "scores": {"f1@0.5": score.get(Path(model).name, 0.3) if m == "model" else 0.2},
            }
            for m in methods
            for t in ("<ANOMALY_DETECTION>", "<EVENT_DETECTION>")
        ]
        out.write_text(json.dumps({"datasets": {"frozen": {"series": 4, "rows": rows}}}))

    def fake_text(model, corpus, out, args):
        out.mkdir(parents=True)
        (out / "report.json").write_text(json.dumps({"scores": {"<CAPTION>": {"attribute_accuracy": 0.5}}}))

    monkeypatch.setattr(run_rounds, "run_benchmark", fake_benchmark)
    monkeypatch.setattr(run_rounds, "run_text_eval", fake_text)
    work = tmp_path / "w"
    argv = ["--corpus", str(round0), "--work", str(work), "--model0", str(tiny_model), "--init-from", "model0"]
    argv += ["--steps", "3", "--seed", "0", "--control-seeds", "0", "1", "--train-last", "--table", "--no-gallery"]
    argv += ["--chunk-size", "5", "--batch-size", "2"]

    # The controls alone first (as a second launch beside the rounds would run them), then everything else.
    with pytest.raises(SystemExit, match="no such stage"):
        run_rounds.main([*argv, "--only", "control7"])
    assert run_rounds.main([*argv, "--only", "control0", "control1", "table"]) == 0
    measured = sorted(p.name for p in (work / "table").iterdir())
    assert "control1.json" in measured and "model1.json" not in measured, "the table measures what is trained"
    assert not (work / "done" / "table").exists() and not (work / "table.json").exists()
    assert [(c["out"], c["seed"], c["corpus"]) for c in run_rounds.calls] == [
        ("control0", 0, round0.resolve()),
        ("control1", 1, round0.resolve()),
    ]
    assert run_rounds.main(argv) == 0
    assert run_rounds.trained == ["control0", "control1", "model1", "model2"], "no train0: model 0 is given"
    assert {c["init_from"] for c in run_rounds.calls} == {tiny_model.resolve()}, "all start from model 0"
    assert [c["corpus"].name for c in run_rounds.calls[2:]] == ["round1", "round2"]
    table = json.loads((work / "table.json").read_text())
    names = [r["name"] for r in table["rows"]]
    assert names[-5:] == ["model 0", "control (seed 0)", "control (seed 1)", "model 1", "model 2"]
    assert "merged round-0 labels (engine)" in names
    anomaly = next(c for c in table["comparisons"] if c["column"] == "anomaly F1@0.5")
    assert anomaly["model 1 - control"] == pytest.approx(0.08) and anomaly["control spread"] == pytest.approx(0.02)
    assert anomaly["model 2 - model 1"] == pytest.approx(0.05)
    summary = (work / "summary.md").read_text()
    assert "## The round table" in summary and "| model 1 - control | +0.080 |" in summary


def test_a_stage_another_launch_is_running_is_waited_for_not_run_twice(run_rounds, tmp_path):
    import fcntl
    import threading

    work = tmp_path / "w"
    (work / "locks").mkdir(parents=True)
    (work / "done").mkdir()
    held = open(work / "locks" / "train1", "w")  # noqa: SIM115 - the other launch's lock
    fcntl.flock(held, fcntl.LOCK_EX)
    ran = []
    thread = threading.Thread(target=run_rounds.run_stage, args=("train1", lambda: ran.append(1), work))
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and not ran, "it waits for the other launch"
    (work / "done" / "train1").write_text("{}")  # the other launch finishes the stage
    held.close()
    thread.join(5)
    assert not thread.is_alive() and not ran


def test_the_gallery_judges_a_class_only_where_the_series_carry_truth_of_its_kind():
    from ts_florence.engine.refine.gallery import tally

    spike = span(10, 14, "spike", "anomaly", channel=None, score=0.9, source="model@0", round=1)
    peak = span(30, 40, "peak", "event", channel=None, score=0.9, source="model@0", round=1)
    empty = {"spans": [], "segments": [], "change_points": [], "length": 100}
    truth = {**empty, "spans": [span(10, 14, "spike", "anomaly", channel=None, score=1.0, source="truth", round=0)]}
    row = {"id": "a", "truth": truth, "before": empty, "after": {**empty, "spans": [spike, peak]}}
    counts = tally([row], margin=0.01)
    assert counts["anomaly:spike"]["added and true"] == 1
    assert "added and true" not in counts["event:peak"], "no series has true events: the peak is not judged"
    assert counts["event:peak"]["added"] == 1 and counts["event:peak"]["series"] == ["a"]
