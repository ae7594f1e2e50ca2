"""The engine's build: schema on disk, rank sharding, resume after a crash, and bad input."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import datasets
import numpy as np
import pytest
from corpora import fake_real_source

from ts_florence.engine import build as B
from ts_florence.engine import steps as S
from ts_florence.engine.build import BuildConfig, EvalConfig, SourcesConfig, build_corpus, load_config
from ts_florence.records import new_record, values_hash


def small_config(**overrides) -> BuildConfig:
    """A build of ~80 series in a few seconds: synthetic, semi-synthetic and windows of a fake real source."""
    config = BuildConfig(
        name="test-corpus",
        shards=4,
        sources=SourcesConfig(
            synthetic=40,
            semi_synthetic=12,
            defects=8,
            defect_shards=2,
            real=["fake"],
            max_length=512,
            heldout_fraction=0.2,
        ),
        eval=EvalConfig(synthetic=16, semi_synthetic=6, seed=123_456_789),
        specialists=[{"name": n} for n in ("regime_describer", "stl_zscore", "change_points", "events")],
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


_fake_real = fake_real_source(10)


@pytest.fixture(autouse=True)
def fake_source(monkeypatch):
    import ts_florence.engine.sources as sources

    monkeypatch.setattr(sources, "read_raw", _fake_real)


def _load(path):
    # A private cache: datasets may serve an earlier corpus of the same folder name from its shared cache.
    return datasets.load_dataset(str(path), cache_dir=str(path / ".hf_cache"))


def test_build_writes_a_loadable_corpus_with_every_annotation_kind(tmp_path):
    stats = build_corpus(small_config(), tmp_path / "corpus", progress=False)
    corpus = _load(tmp_path / "corpus")
    assert set(corpus) == {"train", "eval"}
    train = corpus["train"]
    assert stats["train"] == len(train) and len(corpus["eval"]) == 22
    assert set(train.column_names) >= {
        "id",
        "source",
        "split",
        "values",
        "timestamps",
        "channel_names",
        "captions",
        "label",
        "spans",
        "segments",
        "change_points",
        "groundings",
    }
    kinds = {s["kind"] for spans in train["spans"] for s in spans}
    assert kinds == {"anomaly", "event"}
    assert sum(map(len, train["segments"])) and sum(map(len, train["change_points"]))
    assert sum(map(len, train["groundings"])) and all(c["brief"] for c in train["captions"][:40])
    assert {s.split(":")[0] for s in train["source"]} >= {"synthetic", "semi", "fake==0"}
    real_spans = [s for r in train if r["source"].startswith("fake") for s in r["spans"]]
    assert real_spans and all(s["source"] != "synthetic" and s["round"] == 0 for s in real_spans)
    card = (tmp_path / "corpus" / "README.md").read_text()
    assert card.startswith("---\nconfigs:") and "eval-v1" in card
    assert json.loads((tmp_path / "corpus" / "stats.json").read_text())["steps"]["merge"]["in"] > 0


def test_no_training_series_shares_its_values_with_the_evaluation_split(tmp_path):
    build_corpus(small_config(), tmp_path / "c", progress=False)
    corpus = _load(tmp_path / "c")
    eval_hashes = {values_hash(r) for r in corpus["eval"]}
    assert len(eval_hashes) == len(corpus["eval"])
    assert not eval_hashes & {values_hash(r) for r in corpus["train"]}
    heldout = {r["id"].split(":")[1] for r in corpus["eval"] if r["source"].startswith("semi:")}
    trained = {r["id"].split(":")[1] for r in corpus["train"] if r["source"].startswith("fake")}
    assert heldout and not heldout & trained  # a held-out real series gives no training window


def test_two_ranks_together_cover_every_series_once(tmp_path):
    config = small_config()
    build_corpus(config, tmp_path / "c", rank=0, world_size=2, progress=False, finalize=False)
    done = sorted(p.name for p in (tmp_path / "c" / "work" / "shards").glob("*.stats.json"))
    assert done == ["shard-00000.stats.json", "shard-00002.stats.json", "shard-00004.stats.json"]  # 4 + 2 defect
    build_corpus(config, tmp_path / "c", rank=1, world_size=2, progress=False)  # rank 1 never finishes the corpus
    assert not (tmp_path / "c" / "data").exists()
    build_corpus(config, tmp_path / "c", rank=0, world_size=2, progress=False)  # finds its shards done, finishes
    shards = datasets.load_dataset(
        "parquet",
        data_files=sorted(str(p) for p in (tmp_path / "c" / "work" / "shards").glob("*.parquet")),
        split="train",
    )
    ids = shards["id"]
    real = datasets.load_from_disk(str(tmp_path / "c" / "work" / "real"))
    expected = len(real) + config.sources.synthetic + config.sources.semi_synthetic + config.sources.defects
    assert len(ids) == len(set(ids)) == expected
    metas = [json.loads(r["meta"]) for r in shards if "+inj" in r["id"]]
    defects = [m for m in metas if m["seed"] >= 5_000_000]  # defect_records' seeds
    assert len(defects) == config.sources.defects and all(m["kinds"] == list(B.DEFECT_MIX) for m in defects)


def test_a_build_killed_half_way_resumes_and_gives_the_same_corpus(tmp_path, monkeypatch):
    config = small_config()
    build_corpus(config, tmp_path / "whole", progress=False)

    real_process = B.process_shard
    calls = []

    def crash_on_third(config, work, k):
        calls.append(k)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real_process(config, work, k)

    monkeypatch.setattr(B, "process_shard", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(config, tmp_path / "resumed", progress=False)
    finished = {p: p.stat().st_mtime_ns for p in (tmp_path / "resumed" / "work" / "shards").glob("*.parquet")}
    assert len(finished) == 2 and not (tmp_path / "resumed" / "data").exists()
    monkeypatch.setattr(B, "process_shard", real_process)
    build_corpus(config, tmp_path / "resumed", progress=False)
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # finished shards were not redone
    whole, resumed = _load(tmp_path / "whole"), _load(tmp_path / "resumed")
    for split in ("train", "eval"):
        a, b = whole[split].to_list(), resumed[split].to_list()
        assert [r["id"] for r in a] == [r["id"] for r in b]
        for x, y in zip(a, b, strict=True):
            assert all(
                np.array_equal(u, v, equal_nan=True) for u, v in zip(x.pop("values"), y.pop("values"), strict=True)
            )
            assert x == y


def test_config_with_an_unknown_step_or_key_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("specialists:\n  - {name: crystal_ball}\n")
    with pytest.raises(ValueError, match="unknown specialist 'crystal_ball'; known: \\["):
        load_config(bad)
    bad.write_text("filters:\n  - {name: confidence, min_scor: 0.5}\n")
    with pytest.raises(ValueError, match="filter 'confidence'.*min_scor"):
        load_config(bad)
    bad.write_text("sources:\n  synthetics: 10\n")
    with pytest.raises(ValueError, match="unknown key\\(s\\) \\['synthetics'\\]"):
        load_config(bad)


def test_the_shipped_default_config_loads():
    config = load_config(None)
    assert config.sources.synthetic + config.sources.semi_synthetic + (config.sources.max_real or 0) >= 50_000


def test_the_dataclass_defaults_are_the_shipped_recipe():
    assert BuildConfig() == load_config(None)  # one recipe: what a config leaves out is the shipped one's
    partial = B.config_from_dict({"sources": {"synthetic": 5}}, "partial")
    assert partial.sources.synthetic == 5 and partial.specialists == load_config(None).specialists
    with pytest.raises(ValueError, match=r"partial.sources.synthetic: expected int, got 'many'"):
        B.config_from_dict({"sources": {"synthetic": "many"}}, "partial")


def test_bad_series_are_dropped_with_a_reason_and_a_failing_specialist_skips_one_series(tmp_path, monkeypatch):
    class Flaky:
        name = "flaky"
        produces = ("spans",)

        def __call__(self, values, timestamps=None):
            if values.shape[1] == 333:
                raise RuntimeError("cannot handle 333 samples")
            return {"spans": []}

    records = [
        new_record("ok", "x", np.arange(100.0)),
        new_record("nan", "x", np.full(50, np.nan)),
        new_record("inf", "x", np.r_[1.0, np.inf, 2.0]),
        new_record("bad", "x", np.arange(333.0)),
    ]
    valid, annotate = S.ValidSeriesFilter(), S.Annotate(Flaky())
    out = list(annotate.run(valid.run(records)))
    assert [r["id"] for r in out] == ["ok"]
    assert valid.summary()["dropped"] == {"a channel with no observed value": 1, "infinite values": 1}
    assert annotate.summary()["dropped"] == {"RuntimeError in flaky": 1}


def test_audit_scores_every_specialist_and_the_merged_output_against_truth(tmp_path):
    from ts_florence.engine.audit import MERGED, audit_corpus, format_table
    from ts_florence.engine.specialists import SPECIALISTS

    build_corpus(small_config(), tmp_path / "c", progress=False)
    report = audit_corpus(tmp_path / "c", limit=12)
    assert report["series"] == 12
    assert set(report["scores"]) == set(SPECIALISTS) | {MERGED}
    merged = report["scores"][MERGED]
    assert {"anomaly F1@0.5", "anomaly label agreement", "covering", "change-point F1 (1%)"} <= set(merged)
    values = [v for scores in report["scores"].values() for v in scores.values() if v is not None]
    assert values and all(0.0 <= v <= 1.0 for v in values)
    table = format_table(report)
    assert all(f"| {source} |" in table for source in report["scores"])


def test_merge_keeps_spans_that_enough_sources_agree_on_and_counts_the_rest():
    from ts_florence.records import span

    record = new_record("r", "pkg", np.arange(200.0))
    record[S.CANDIDATES] = {
        "spans": [
            span(50, 60, "spike", "anomaly", score=0.9, source="stl_zscore"),
            span(51, 61, "spike", "anomaly", score=0.7, source="isolation_forest"),
            span(150, 160, "dip", "anomaly", score=0.99, source="isolation_forest"),
        ]
    }
    merge = S.Merge(weights={"stl_zscore": 2.0, "isolation_forest": 1.0}, min_sources=2, iou=0.5)
    (out,) = merge.run([record])
    assert [(s["start"], s["end"], s["source"]) for s in out["spans"]] == [(50, 60, "isolation_forest+stl_zscore")]
    assert out["spans"][0]["score"] == pytest.approx((0.9 * 2 + 0.7) / 3, abs=1e-4)  # weighted mean; all weight voted
    assert merge.summary()["removed"] == {"agreement: 1 < 2 sources": 1}


def test_two_worker_processes_give_the_single_process_corpus_even_after_openmp_ran(tmp_path):
    import torch

    torch.ones(64, 64) @ torch.ones(64, 64)  # OpenMP is now live in this process: forked workers would die
    config = small_config()
    build_corpus(config, tmp_path / "one", progress=False)
    build_corpus(config, tmp_path / "two", num_proc=2, progress=False)
    one, two = _load(tmp_path / "one"), _load(tmp_path / "two")
    for split in ("train", "eval"):
        assert one[split]["id"] == two[split]["id"]
        assert one[split]["spans"] == two[split]["spans"]


def _change_point_record(*sources_and_indices):
    from ts_florence.records import change_point

    record = new_record("r", "pkg", np.arange(1000.0))
    record[S.CANDIDATES] = {
        "change_points": [change_point(i, score=0.9, source=source) for source, i in sources_and_indices]
    }
    return record


def test_a_support_only_source_confirms_but_its_silence_does_not_discount_the_others():
    # The specialist's lone point at 500; the model finds only a point at 800 that nobody else saw.
    def merged(support_only):
        merge = S.Merge(weights={"change_points": 1.0, "model": 1.0}, support_only=support_only)
        (out,) = merge.run([_change_point_record(("change_points", 500), ("model@0", 800), ("model@0", 503))])
        return {p["index"]: (p["score"], p["source"]) for p in out["change_points"]}

    # Both as full voters: the agreed point keeps its score, the lone ones are discounted by sqrt(1/2).
    assert merged(())[800][0] == pytest.approx(0.9 * 0.5**0.5, abs=1e-4)
    # The model as support only: the specialist's total weight is the yardstick, and the model cannot lower it.
    support = merged(["model@0"])
    assert support[500] == (pytest.approx(0.9), "change_points+model@0")
    assert support[800][0] == pytest.approx(0.9)  # weight 1 of a yardstick of 1
    lone = S.Merge(weights={"change_points": 1.0, "model": 1.0}, support_only=["model@0"])
    (out,) = lone.run([_change_point_record(("change_points", 500), ("model@0", 800))])
    assert {p["index"]: p["score"] for p in out["change_points"]} == {500: pytest.approx(0.9), 800: pytest.approx(0.9)}


def test_a_source_of_weight_zero_has_no_say_and_its_candidates_are_counted_as_dropped():
    merge = S.Merge(weights={"change_points": 1.0, "model": 0.0})
    (out,) = merge.run([_change_point_record(("change_points", 500), ("model@0", 800))])
    assert [(p["index"], p["source"], p["score"]) for p in out["change_points"]] == [(500, "change_points", 0.9)]
    (alone,) = merge.run([_change_point_record(("model@0", 800))])  # once a ZeroDivisionError
    assert alone["change_points"] == []
    assert merge.summary()["removed"] == {"source weight 0": 2}


def test_nms_never_suppresses_ground_truth():
    from ts_florence.records import span

    record = new_record("r", "pkg", np.arange(200.0))
    record["spans"] = [
        span(50, 60, "spike", "anomaly", score=1.0, source="injected"),
        span(52, 60, "spike", "anomaly", score=1.0, source="injected"),  # truth may overlap truth
        span(50, 61, "spike", "anomaly", score=0.99, source="stl_zscore"),
        span(51, 60, "spike", "anomaly", score=0.5, source="events"),
    ]
    nms = S.NMSFilter(iou=0.5)
    (out,) = nms.run([record])
    assert [(s["start"], s["source"]) for s in out["spans"]] == [(50, "injected"), (50, "stl_zscore"), (52, "injected")]
    assert nms.summary()["removed"] == {"overlap IoU > 0.5": 1}


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _children(pid: int) -> dict[int, str]:
    """The running children of process `pid`, with their command lines."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if ppid == pid and _alive(int(entry)):
            found[int(entry)] = cmdline
    return found


_POOL_PARENT = """
import time

from ts_florence.engine.executor import worker_pool

pool = worker_pool(2)
for _ in range(4):
    pool.submit(time.sleep, 120)  # work that would keep orphans busy for minutes
time.sleep(120)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states from /proc")
def test_engine_workers_end_when_their_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", _POOL_PARENT])
    children: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60.0
        while sum("spawn_main" in c for c in children.values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            children = _children(parent.pid)
        assert sum("spawn_main" in c for c in children.values()) == 2, children
        time.sleep(1.0)  # the workers have imported the engine and run their initializer
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5.0
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not {pid: c for pid, c in children.items() if _alive(pid)}, "processes outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_shape_regime_shards_join_ucr_instances_after_the_defect_shards(tmp_path, monkeypatch):
    import ts_florence.engine.sources as sources
    from ts_florence.engine.sources import RawSeries

    def read_raw(name):  # the fake source and a toy UCR dataset of two classes, 100 samples an instance
        yield from _fake_real(name)
        for i in range(12):
            values = np.sin(np.arange(100) / (2 + 3 * (i % 2))) + 0.01 * i
            yield RawSeries(name=f"ucr:Toy:TRAIN:{i}", values=values[None, :], provenance="toy", label=f"Toy:{i % 2}")

    monkeypatch.setattr(sources, "read_raw", read_raw)
    config = small_config()
    config.sources = dataclasses.replace(config.sources, shape_regimes=6, shape_regime_shards=2)
    assert B.shard_indices(config) == [0, 1, 2, 3, 4, 5, 6, 7]
    off = dataclasses.replace(config, sources=dataclasses.replace(config.sources, defects=0))
    assert B.shard_indices(off) == [0, 1, 2, 3, 6, 7]  # shape shards keep their numbers without defects
    build_corpus(config, tmp_path / "c", progress=False)
    train = _load(tmp_path / "c")["train"]
    shapes = [r for r in train if r["id"].startswith("shapes:Toy:")]
    assert len(shapes) == 6 and all(r["spans"] is None and r["change_points"] for r in shapes)
    stats = json.loads((tmp_path / "c" / "stats.json").read_text())
    assert stats["train"] == len(train)


def test_the_defects_recipe_is_the_default_plus_defect_shards():
    default, defects = load_config(), load_config(B.DEFAULT_CONFIG_PATH.parent / "defects.yaml")
    assert default.sources.defects == 0 and B.total_shards(default) == default.shards
    assert (defects.sources.defects, B.total_shards(defects)) == (8000, default.shards + 8)
    assert dataclasses.replace(defects, sources=default.sources) == default
