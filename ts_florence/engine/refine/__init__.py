"""Refinement rounds: a model trained on round k re-annotates the corpus, its annotations join the merge as one
more specialist, and round k+1 is written with an audit (docs/architecture.md, Flow 2).

The package by job: `annotate` (the model as an annotator, its merge candidates, the recipe of pass 1), `guard`
(the skill gate, class counts, the rare-class guard, agreement), `report` (the audit in Markdown and as a plot,
the card's section on rounds), `gallery` (where the model disagrees with the specialists, against exact truth),
`config` (`RefineConfig`, `MODEL_TASKS`); this module runs a round (`refine_corpus`).

The recipe of one round (`refine_corpus`):

    round k (a corpus folder) + a model trained on it
    pass 1, per chunk of training records without exact truth (records with truth are copied unchanged):
        ValidSeriesFilter -> Annotate(specialist) for each specialist of the corpus's build config
        -> ModelAnnotate (batched generation of the MODEL_TASKS that pass the skill gate; source "model@k",
           round k+1)
        -> ModelMerge (Merge with the model's weight) -> the build's filters
    pass 2, over the whole split:
        RareClassGuard (a class of round 0 that shrank by more than `guard_share` against round 0 gets its round-0
        specialist annotations back; `round_zero` finds round 0 from the rounds' audits) -> WriteCaptions
        -> CaptionCheckFilter
    write round k+1: data/train-*.parquet (refined), data/eval-*.parquet (the frozen split, copied byte for byte,
    never refined), stats.json, README.md (the card), audit.json, audit.md, audit.png

The skill gate (`skill_gate`, `RefineConfig.min_gain`): before pass 1 the model is scored on the frozen
evaluation split, and a task's outputs join the merge only if the model beats the answer that reads nothing of
the series (`ts_florence.evaluation.runner.reference_prediction`: no span, one segment) by `min_gain` on the
task's `TaskSpec.gate_metric`. A model that has not learnt to read its series for a task would otherwise vote there with
the weight of a specialist: where a single specialist covers a kind (events), its votes alone pass the merge.

The specialists run again rather than being read from round k: a corpus keeps only merged annotations, and
running them again gives the merge of round k+1 the same specialist candidates as round 0 had, so that only the
model's votes differ between rounds and scores are not discounted again at every round.

Pass 1 runs its chunks as tasks of the engine's executor (`engine/executor.py`), in this process since the model is
here: each finished chunk is written to a work folder next to the output (`.NAME.work`) and marked there, so an
interrupted round resumes at the first unfinished chunk; the output folder appears only when complete (written
under a temporary name, then renamed, `io.directory_in_place`) and the work folder is then removed. A corpus whose
training part shares a series (hash of values) with its frozen evaluation split is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...io import check_model_folder, directory_in_place, file_in_place, write_text_in_place
from ...records import (
    blank,
    has_truth,
    source_kind,
    values_hash,
)
from .. import steps as S
from ..descriptions import SeriesDescription
from ..executor import Job
from .annotate import (
    SPAN_KIND,
    SPAN_LABELS,
    ModelAnnotate,
    ModelAnnotator,
    ModelMerge,
    from_specialist,
    is_model_source,
    model_candidates,
    model_source,
    refine_steps,
)
from .config import MODEL_TASKS, RefineConfig
from .guard import (
    CHANGE_POINT_CLASS,
    RareClassGuard,
    agreement,
    annotation_class,
    class_counts,
    guard_flags,
    provenance_counts,
    round_zero,
    skill_gate,
    source_counts,
)
from .report import audit_markdown, card_rounds, count_history, dev_summary, plot_counts

logger = logging.getLogger(__name__)


STASH = "_refine"
"""Key of `meta` under which pass 1 keeps what pass 2 needs (the measured description); removed in pass 2."""
FILE_RECORDS = 5000
"""Records per output Parquet file, as `build.finish` writes them."""


def _files(corpus: Path, split: str) -> list[Path]:
    return sorted((corpus / "data").glob(f"{split}-*.parquet"))


def _iter_rows(files: Sequence[Path], columns: Sequence[str] | None = None, batch: int = 512) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for path in files:
        for part in pq.ParquetFile(path).iter_batches(batch_size=batch, columns=columns):
            yield from part.to_pylist()


def _value_hashes(files: Sequence[Path]) -> Iterator[tuple[str, str]]:
    """(id, `records.values_hash`) of every record, read column-wise without building Python lists of values."""
    import pyarrow.parquet as pq

    for path in files:
        for part in pq.ParquetFile(path).iter_batches(batch_size=1024, columns=["id", "values"]):
            ids = part.column("id").to_pylist()
            outer = part.column("values")
            outer_offsets = outer.offsets.to_numpy()
            inner = outer.values
            inner_offsets = inner.offsets.to_numpy()
            flat = inner.values.to_numpy(zero_copy_only=False).astype(np.float32)
            for i, record_id in enumerate(ids):
                a, b = outer_offsets[i], outer_offsets[i + 1]
                cells = flat[inner_offsets[a] : inner_offsets[b]]
                yield record_id, values_hash(cells.reshape(b - a, -1) if b > a else cells.reshape(0, 0))


def check_contamination(corpus: str | os.PathLike) -> dict:
    """Refuses (ValueError) a corpus whose training part shares a series (hash of values) with its frozen
    evaluation split, or that lacks either; returns the counts checked."""
    corpus = Path(corpus)
    train, evaluation = _files(corpus, "train"), _files(corpus, "eval")
    if not train:
        raise ValueError(f"{corpus} has no training split (no data/train-*.parquet)")
    if not evaluation:
        raise ValueError(f"{corpus} has no frozen evaluation split (no data/eval-*.parquet) to check it against")
    frozen = {h for _, h in _value_hashes(evaluation)}
    shared, n = [], 0
    for record_id, h in _value_hashes(train):
        n += 1
        if h in frozen:
            shared.append(record_id)
    if shared:
        raise ValueError(
            f"{corpus}: {len(shared)} training series share their values with the frozen evaluation split "
            f"(e.g. {', '.join(map(str, shared[:3]))}); refusing a contaminated corpus"
        )
    return {"train": n, "eval": len(frozen)}


def _read_stats(corpus: Path) -> dict:
    path = corpus / "stats.json"
    if not path.is_file():
        raise ValueError(f"{corpus} has no stats.json (a corpus folder written by `ts-florence engine build`)")
    return json.loads(path.read_text())


def _annotations(record: dict) -> dict:
    return {
        "spans": record.get("spans") or [],
        "segments": record.get("segments") or [],
        "change_points": record.get("change_points") or [],
        "length": len(record["values"][0]) if "values" in record else None,
    }


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _stash(record: dict) -> dict:
    description = record.get(S.DESCRIPTION)
    meta = json.loads(record.get("meta") or "{}")
    meta[STASH] = {
        "description": description.to_dict() if isinstance(description, SeriesDescription) else None,
        "length": len(record["values"][0]),
    }
    record["meta"] = json.dumps(meta, default=_json_default)
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _unstash(record: dict) -> dict | None:
    """Pops what pass 1 kept; None for a record pass 1 did not refine."""
    meta = json.loads(record.get("meta") or "{}")
    if STASH not in meta:
        return None
    stash = meta.pop(STASH)
    record["meta"] = json.dumps(meta)
    return stash


def _run(steps: Sequence[S.Step], record: dict) -> dict | None:
    for step in steps:
        kept = list(step.run([record]))
        if not kept:
            return None
        record = kept[0]
    return record


def _aggregate(summaries: Iterable[list[dict]]) -> dict[str, dict]:
    total: dict[str, dict] = {}
    for steps in summaries:
        for step in steps:
            empty = {"in": 0, "out": 0, "seconds": 0.0, "dropped": Counter(), "removed": Counter()}
            agg = total.setdefault(step["step"], empty)
            for key in ("in", "out", "seconds"):
                agg[key] += step[key]
            agg["dropped"].update(step["dropped"])
            agg["removed"].update(step["removed"])
    return {name: {k: dict(v) if isinstance(v, Counter) else v for k, v in agg.items()} for name, agg in total.items()}


def _fingerprint(corpus: Path, model: str, config: RefineConfig, round: int) -> str:
    """What pass-1 chunks depend on: a work folder left by another input, model or setting is discarded."""
    unused = ("eval_limit", "batch_size", "guard_share")  # settings that do not change what pass 1 writes
    relevant = {k: v for k, v in dataclasses.asdict(config).items() if k not in unused}
    parts = [str(corpus.resolve()), str(round), json.dumps(relevant, default=str, sort_keys=True)]
    for path in sorted(_files(corpus, "train")):
        parts.append(f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}")
    model_path = Path(model)
    if model_path.is_dir():
        parts.append(str(model_path.resolve()))
        for path in sorted(model_path.glob("*.safetensors")) + sorted(model_path.glob("config.json")):
            parts.append(f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}")
    else:
        parts.append(model)
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def refine_corpus(
    corpus: str | os.PathLike,
    model: str | os.PathLike,
    out: str | os.PathLike,
    config: RefineConfig | None = None,
    *,
    annotator: Callable[[list[np.ndarray]], list[dict]] | None = None,
    dev_scores: str | os.PathLike | dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Writes round k+1 of `corpus` (round k) to `out`, annotated with the help of the model at `model` (see the
    module docstring), and returns the round's audit (also written as `out/audit.json`, `.md` and `.png`).

    `annotator` replaces the model's pipeline (a callable from series `[channels x time]` to pipeline results;
    tests use it); `model` then only names the source. `dev_scores` is a report of `scripts/benchmark.py` (a path
    or its dict) whose model rows go into the audit. A rerun after an interruption resumes pass 1 where it stopped.
    Raises ValueError on a missing model, a corpus without a training or evaluation split or a stats.json, a
    contaminated corpus, or an existing non-empty `out` (without `overwrite`).
    """
    from ..build import config_from_dict

    config = config or RefineConfig()
    corpus, out = Path(corpus), Path(out)
    if corpus.resolve() == out.resolve() or corpus.resolve() in out.resolve().parents:
        raise ValueError(f"the output {out} must not be the corpus {corpus} or inside it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ValueError(f"{out} exists and is not empty; pass overwrite (--overwrite) to replace it")
    if annotator is None:
        check_model_folder(model)
    stats = _read_stats(corpus)
    build_config = config_from_dict(stats["config"], f"{corpus}/stats.json config")
    checked = check_contamination(corpus)
    k = config.round if config.round is not None else int(stats.get("round", 0))
    if annotator is None:
        annotator = ModelAnnotator(model, config.tasks, max_new_tokens=config.max_new_tokens, window=config.window)
    started = time.perf_counter()
    eval_report = _evaluate(annotator, corpus, config)
    gate = skill_gate(eval_report, config.tasks, config.min_gain)
    gated = dataclasses.replace(config, tasks=tuple(task for task in config.tasks if gate[task]["used"]))
    logger.info("skill gate: model outputs of %s join the merge", ", ".join(gated.tasks) or "no task")
    if isinstance(annotator, ModelAnnotator):
        annotator.tasks = list(gated.tasks)  # ModelAnnotate uses only these; the model need not write the others

    first = _run_pass_one(corpus, out, str(model), build_config, annotator, gated, k, progress)
    guarded = _guard_round(corpus, k, config, build_config, first)
    _, caption_steps = refine_steps(build_config, annotator, config, k)
    with directory_in_place(out) as tmp:
        written = _write_pass_two(tmp, corpus, first, guarded, caption_steps)
        check_contamination(tmp)
        round_ = _Round(corpus, out, str(model), k, config, first, guarded, written, checked)
        audit = _round_audit(round_, eval_report, gate, dev_scores, time.perf_counter() - started)
        step_stats = _aggregate(json.loads(s.read_text())["steps"] for _, s in first.chunks)
        step_stats.update(_aggregate([[guarded.guard.summary()] + [s.summary() for s in caption_steps]]))
        _write_reports(tmp, stats, build_config, audit, step_stats)
    shutil.rmtree(first.work, ignore_errors=True)
    return audit


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _write_part(path: Path, records: list[dict]) -> None:
    import datasets

    from ..build import _table

    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # one bar per chunk would bury the round's own
    try:
        with file_in_place(path) as tmp:
            _table(records).to_parquet(str(tmp))
    finally:
        if not quiet:
            datasets.enable_progress_bars()


# --------------------------------------------------------------------------------------------------------------
# Pass 1: chunks of the training split, as tasks of the engine's executor (resumable)


@dataclass
class _PassOne:
    """What pass 1 wrote: the work folder, each chunk's data and stats files, and the records it saw."""

    work: Path
    chunks: list[tuple[Path, Path]]
    total: int
    with_truth: int


def _chunk_files(work: Path, index: int) -> tuple[Path, Path]:
    path = work / "chunks" / f"chunk-{index:05d}.parquet"
    return path, path.with_suffix(".stats.json")


def _run_pass_one(
    corpus: Path, out: Path, model: str, build_config, annotator, config: RefineConfig, k: int, progress: bool
) -> _PassOne:
    """Pass 1 over the training split in chunks of `config.chunk_size` records, one task of the engine's executor
    each, in this process (the model is here); the work folder `.NAME.work` beside `out` keeps the finished chunks
    and their completion markers, and is discarded when another corpus, model or setting left it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.work"
    fingerprint = _fingerprint(corpus, model, config, k)
    settings = work / "settings.json"
    if work.exists() and (not settings.is_file() or json.loads(settings.read_text()).get("fingerprint") != fingerprint):
        logger.info("discarding %s: it was left by another corpus, model or setting", work)
        shutil.rmtree(work)
    (work / "chunks").mkdir(parents=True, exist_ok=True)
    write_text_in_place(settings, json.dumps({"fingerprint": fingerprint, "corpus": str(corpus), "model": model}))
    train_files = _files(corpus, "train")
    flags, with_truth = _refine_flags(train_files, config.limit)
    size = config.chunk_size
    sizes = [len(flags[i : i + size]) for i in range(0, len(flags), size)]
    step = _PassOneTask(work, _RowReader(train_files, size), flags, size, (build_config, annotator, config, k))
    job = Job(step, tasks=len(sizes), folder=work / "tasks")
    job.run(1, progress=progress, desc=f"refine round {k} -> {k + 1}", unit="series", sizes=sizes)
    return _PassOne(work, [_chunk_files(work, i) for i in range(len(sizes))], len(flags), with_truth)


def _refine_flags(files: Sequence[Path], limit: int | None) -> tuple[list[bool], int]:
    """Whether pass 1 refines each record (a record without exact truth, within the first `limit` of them), and how
    many records have exact truth."""
    flags, with_truth, refined = [], 0, 0
    for row in _iter_rows(files, columns=["source"]):
        truth = has_truth(row)
        refine = not truth and (limit is None or refined < limit)
        refined += refine
        with_truth += truth
        flags.append(refine)
    return flags, with_truth


class _RowReader:
    """Rows `start .. stop` of Parquet files, as dicts, read in batches of `batch`; a read that starts where the last
    one stopped goes on reading (pass 1 reads its chunks in order), any other opens the files again."""

    def __init__(self, files: Sequence[Path], batch: int):
        self.files, self.batch = list(files), batch
        self._rows: Iterator[dict] | None = None
        self._at = 0

    def read(self, start: int, stop: int) -> list[dict]:
        if self._rows is None or self._at != start:
            self._rows = self._rows_from(start)
        rows = list(itertools.islice(self._rows, stop - start))
        self._at = stop
        return rows

    def _rows_from(self, start: int) -> Iterator[dict]:
        import pyarrow.parquet as pq

        for path in self.files:
            if start >= _parquet_rows(path):
                start -= _parquet_rows(path)
                continue
            for part in pq.ParquetFile(path).iter_batches(batch_size=self.batch):
                if start < part.num_rows:
                    yield from part.slice(start).to_pylist()
                start = max(0, start - part.num_rows)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_rows": None, "_at": 0}  # a reader in another process starts afresh


class _PassOneTask:
    """Task `index` of pass 1: chunk `index` of the training split through `_pass_one`, unless its files are there
    (also when a round older than the executor's markers finished it)."""

    def __init__(self, work: Path, rows: _RowReader, flags: list[bool], size: int, recipe: tuple):
        self.work, self.rows, self.flags, self.size, self.recipe = work, rows, flags, size, recipe

    def __call__(self, index: int) -> None:
        path, stats_path = _chunk_files(self.work, index)
        if stats_path.exists() and path.exists():
            return
        start, stop = index * self.size, min((index + 1) * self.size, len(self.flags))
        chunk = list(zip(self.flags[start:stop], self.rows.read(start, stop), strict=True))
        _pass_one(path, stats_path, chunk, *self.recipe)


def _pass_one(path: Path, stats_path: Path, chunk: list[tuple[bool, dict]], build_config, annotator, config, k):
    """Pass 1 on one chunk (records flagged True are refined, the others copied): its records into `path`, the
    steps' stats into `stats_path`."""
    steps, _ = refine_steps(build_config, annotator, config, k)
    todo = []
    for i, (refine, record) in enumerate(chunk):
        if refine:
            record["_position"] = i
            todo.append(blank(record))
    records: Iterator[dict] = iter(todo)
    for step in steps:
        records = step.run(records)
    done = {r["_position"]: _stash(r) for r in records}
    kept = [done[i] if refine else record for i, (refine, record) in enumerate(chunk) if not refine or i in done]
    _write_part(path, kept)
    write_text_in_place(stats_path, json.dumps({"records": len(kept), "steps": [s.summary() for s in steps]}))


# --------------------------------------------------------------------------------------------------------------
# Pass 2: the guard over the whole split, captions, writing


@dataclass
class _Guarded:
    """The rare-class guard of a round and the class counts it was set from."""

    guard: RareClassGuard
    before: dict[str, dict]  # round k's annotations of the refined records
    after: dict[str, dict]  # theirs after pass 1
    counts_first: Counter
    counts_before: Counter
    counts_merged: Counter
    flagged: list[dict]
    fell: list[dict]
    zero: Path | None


def _guard_round(corpus: Path, k: int, config: RefineConfig, build_config, first: _PassOne) -> _Guarded:
    """The guard of round k+1, from the annotations of round k, of pass 1 and of round 0."""
    after: dict[str, dict] = {}
    for row in _iter_rows([p for p, _ in first.chunks], columns=["id", "meta", *_ANNOTATION_COLUMNS]):
        stash = json.loads(row["meta"] or "{}").get(STASH)
        if stash is not None:
            after[row["id"]] = dict(_annotations(row), length=stash["length"])
    before = _annotations_of(_files(corpus, "train"), after)
    counts_before, counts_merged = class_counts(before.values()), class_counts(after.values())
    # The guard protects round 0's classes: measured against round 0, a class that one round inflated and the next
    # brought back is not lost, and a slow drift over rounds is; the drop against round k alone is reported.
    zero, first_round = round_zero(corpus), before
    if zero is not None and zero.resolve() != corpus.resolve():
        first_round = _annotations_of(_files(zero, "train"), after)
    elif zero is None:
        logger.warning("round 0 of %s not found (moved?): the guard compares with round %d only", corpus, k)
    counts_first = class_counts(first_round.values())
    flagged = guard_flags(counts_first, counts_merged, config.guard_share)
    names = {f["class"] for f in flagged}
    fell = [f for f in guard_flags(counts_before, counts_merged, config.guard_share) if f["class"] not in names]
    guard = RareClassGuard(first_round, [f["class"] for f in flagged], margin=build_config.merge.get("margin", 0.01))
    return _Guarded(guard, before, after, counts_first, counts_before, counts_merged, flagged, fell, zero)


_ANNOTATION_COLUMNS = ("spans", "segments", "change_points")


def _annotations_of(files: Sequence[Path], after: dict[str, dict]) -> dict[str, dict]:
    """The annotations in `files` of the records of `after`, with their length."""
    found = {}
    for row in _iter_rows(files, columns=["id", *_ANNOTATION_COLUMNS]):
        if row["id"] in after:
            found[row["id"]] = dict(_annotations(row), length=after[row["id"]]["length"])
    return found


@dataclass
class _Written:
    """What pass 2 wrote: the training records, the final annotations of the refined ones, the frozen files'
    digests."""

    records: int
    final: dict[str, dict]
    digests: dict[str, str]


def _write_pass_two(folder: Path, corpus: Path, first: _PassOne, guarded: _Guarded, caption_steps) -> _Written:
    """The guard and the captions on the refined records, the training split into `folder/data` in files of
    `FILE_RECORDS`, and the frozen split copied byte for byte (checked)."""
    (folder / "data").mkdir()
    n_out = sum(_parquet_rows(p) for p, _ in first.chunks)
    n_files = max(1, n_out // FILE_RECORDS)
    bounds = [n_out * i // n_files for i in range(n_files + 1)]
    written, final, part = 0, {}, []
    file_index = 0
    for record in _iter_rows([p for p, _ in first.chunks]):
        stash = _unstash(record)
        if stash is not None:
            if stash["description"] is not None:
                record[S.DESCRIPTION] = SeriesDescription.from_dict(stash["description"])
            record = _run([guarded.guard, *caption_steps], record)
            if record is None:
                raise RuntimeError("a step of pass 2 dropped a record; they only edit annotations")
            final[record["id"]] = _annotations(record)
        part.append({k2: v for k2, v in record.items() if not k2.startswith("_")})
        written += 1
        if written == bounds[file_index + 1]:
            _write_part(folder / "data" / f"train-{file_index:05d}-of-{n_files:05d}.parquet", part)
            part, file_index = [], file_index + 1
    if part or file_index < n_files:
        _write_part(folder / "data" / f"train-{file_index:05d}-of-{n_files:05d}.parquet", part)
    digests = {}
    for path in _files(corpus, "eval"):
        shutil.copyfile(path, folder / "data" / path.name)
        digests[path.name] = _sha256(path)
        if _sha256(folder / "data" / path.name) != digests[path.name]:
            raise RuntimeError(f"the copy of {path} differs from it")
    return _Written(n_out, final, digests)


# --------------------------------------------------------------------------------------------------------------
# The round's audit, stats and card


@dataclass
class _Round:
    corpus: Path
    out: Path
    model: str
    k: int
    config: RefineConfig
    first: _PassOne
    guarded: _Guarded
    written: _Written
    checked: dict


def _round_audit(round_: _Round, eval_report, gate: dict, dev_scores, seconds: float) -> dict:
    """The audit of round k+1 (`audit.json`): records, class counts before and after, sources, provenance, the
    guard, agreement, the frozen-split scores and the skill gate."""
    k, config, guarded, final = round_.k, round_.config, round_.guarded, round_.written.final
    before, counts_before = guarded.before, guarded.counts_before
    counts_after = class_counts(final.values())
    audit = {
        "round": k + 1,
        "from_round": k,
        "corpus": str(round_.corpus),
        "out": str(round_.out),
        "model": round_.model,
        "model_source": model_source(k),
        "settings": dataclasses.asdict(config),
        "records": {
            "train": round_.written.records,
            "refined": len(final),
            "with_truth": round_.first.with_truth,
            "dropped": round_.first.total - round_.written.records,
            "checked_against_eval": round_.checked,
        },
        "counts": {
            **({"round 0": dict(guarded.counts_first.most_common())} if k > 0 else {}),
            f"round {k}": dict(counts_before.most_common()),
            f"round {k + 1} before the guard": dict(guarded.counts_merged.most_common()),
            f"round {k + 1}": dict(counts_after.most_common()),
        },
        "sources": {
            f"round {k}": dict(source_counts(before.values()).most_common()),
            f"round {k + 1}": dict(source_counts(final.values()).most_common()),
        },
        "provenance": {
            f"round {k}": dict(provenance_counts(before.values())),
            f"round {k + 1}": dict(provenance_counts(final.values())),
        },
        "shrank": guard_flags(counts_before, counts_after, 0.0),
        "vanished": sorted(c for c in counts_before if counts_after.get(c, 0) == 0),
        "new": sorted(c for c in counts_after if counts_before.get(c, 0) == 0),
        "guard": {
            "share": config.guard_share,
            "against": "round 0" if guarded.zero is not None else f"round {k}",
            "flagged": guarded.flagged,
            f"fell against round {k} only": [f["class"] for f in guarded.fell],
            "restored": dict(guarded.guard.stats["removed"]),
        },
        "agreement": agreement(before, final),
        "eval": eval_report,
        "gate": gate,
        "dev": dev_summary(dev_scores),
        "eval_sha256": round_.written.digests,
        "seconds": seconds,
    }
    history = count_history(round_.corpus, k, counts_before)
    audit["history"] = [*history, {"round": k + 1, "counts": dict(counts_after)}]
    return audit


def _write_reports(folder: Path, stats: dict, build_config, audit: dict, step_stats: dict) -> None:
    """stats.json, the card, the audit (JSON, Markdown, plot) of round k+1 into `folder`."""
    from ..build import dataset_card

    new_stats = _round_stats(stats, folder, audit, step_stats)
    write_text_in_place(folder / "stats.json", json.dumps(new_stats, indent=2, default=_json_default))
    write_text_in_place(folder / "README.md", dataset_card(build_config, new_stats) + card_rounds(new_stats))
    write_text_in_place(folder / "audit.json", json.dumps(audit, indent=2, default=_json_default))
    write_text_in_place(folder / "audit.md", audit_markdown(audit))
    plot_counts(audit["history"], folder / "audit.png", title=f"{build_config.name}: annotations per class by round")


def _evaluate(annotator, corpus: Path, config: RefineConfig) -> dict | None:
    """The round model's scores on the frozen evaluation split (`evaluate_model`, `eval_limit` examples per task),
    or None without a model or limit; a failure is reported, not raised."""
    pipe = getattr(annotator, "pipe", None)
    if pipe is None or config.eval_limit == 0:
        return None
    from ...evaluation.runner import evaluate_model
    from ...records import load_split

    try:
        report = evaluate_model(
            pipe.model,
            pipe.processor,
            load_split(corpus, "eval"),
            list(config.tasks),
            limit=config.eval_limit,
            batch_size=config.batch_size,
            max_new_tokens=config.max_new_tokens or 256,
            progress=False,
        )
    except ValueError as err:
        logger.warning("no frozen-split scores: %s", err)
        return {"error": str(err)}
    return {key: report[key] for key in ("examples", "scores", "reference_scores", "limit")}


def _round_stats(stats: dict, folder: Path, audit: dict, steps: dict) -> dict:
    """The stats.json of round k+1: the build's, with the counts of the new training split and this round's steps
    and summary (earlier rounds' summaries under `rounds`)."""
    kinds, annotations, labels, n = Counter(), Counter(), Counter(), 0
    columns = ["source", "spans", "segments", "change_points", "groundings", "captions", "label"]
    for row in _iter_rows(_files(folder, "train"), columns=columns):
        n += 1
        source = row["source"]
        kinds[source_kind(source)] += 1
        for key in ("spans", "segments", "change_points", "groundings"):
            annotations[key] += len(row[key] or [])
        annotations["captions"] += bool(row["captions"] and row["captions"]["brief"])
        annotations["labels"] += bool(row["label"])
        labels.update(s["label"] for s in row["spans"] or [])
    summary = {
        "round": audit["round"],
        "model": audit["model"],
        "model_weight": audit["settings"]["model_weight"],
        "refined": audit["records"]["refined"],
        "flagged": [f["class"] for f in audit["guard"]["flagged"]],
        "agreement": audit["agreement"],
    }
    return {
        **stats,
        "round": audit["round"],
        "train": n,
        "train_by_kind": dict(kinds),
        "real_share": kinds["real"] / max(1, n),
        "annotations": dict(annotations),
        "span_labels": dict(labels.most_common()),
        "steps": steps,
        "rounds": [*stats.get("rounds", []), summary],
    }


__all__ = [
    "MODEL_TASKS",
    "SPAN_KIND",
    "SPAN_LABELS",
    "CHANGE_POINT_CLASS",
    "RefineConfig",
    "ModelAnnotator",
    "ModelAnnotate",
    "ModelMerge",
    "RareClassGuard",
    "model_candidates",
    "model_source",
    "is_model_source",
    "from_specialist",
    "refine_steps",
    "refine_corpus",
    "check_contamination",
    "skill_gate",
    "annotation_class",
    "class_counts",
    "source_counts",
    "provenance_counts",
    "guard_flags",
    "round_zero",
    "agreement",
    "audit_markdown",
    "plot_counts",
]
