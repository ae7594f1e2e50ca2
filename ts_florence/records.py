"""The corpus record: one row per series, a plain dict so it moves through `datasets.map` and multiprocessing
unchanged. This module is its one home: the schema below, its Arrow `features()`, the constructors, and the
questions every layer asks of a record (its values, whether its source has exact truth, the record with its
annotations emptied). See docs/architecture.md.

    id: str                        source: str (provenance: "package:file:column", "synthetic" or "semi:<source>")
    split: str                     values: list[list[float]]   [channels][time], NaN = missing
    timestamps: list[str] | None   (ISO 8601, one per sample)  channel_names: list[str]
    captions: {"brief", "detailed", "more_detailed", "source"}: str   (`CAPTION_KEYS` and the captions' source)
    label: str | None              (series-level class, from labelled sources)
    spans: list[{start, end, channel, label, kind, description, score, source, round}]   kind: anomaly | event
    segments: list[{start, end, label, score, source, round}]
    change_points: list[{index, label, score, source, round}]
    groundings: list[{phrase, spans: [[start, end], ...], source}]
    meta: str                      JSON with anything else (generator parameters, window offset, ...)

Spans are half-open `[start, end)` in samples; `channel` is None when a span concerns every channel. Labels are
the vocabulary's (`vocabulary.py`): `ANOMALY_LABELS` and `EVENT_LABELS` for spans (both re-exported here),
`REGIME_LABELS` for segments, `CHANGE_LABELS` for change points.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

# The labels a span may carry are part of the record's contract; their home is vocabulary.py.
from .vocabulary import ANOMALY_LABELS as ANOMALY_LABELS
from .vocabulary import EVENT_LABELS as EVENT_LABELS

CAPTION_KEYS = ("brief", "detailed", "more_detailed")
"""The three caption granularities of a record's `captions` (which also holds the captions' `source`)."""
ANNOTATION_KEYS = ("spans", "segments", "change_points", "groundings")
"""The record's annotation lists: what the engine writes and `blank` empties."""

SourceKind = Literal["synthetic", "semi", "real"]


def new_record(
    id: str,
    source: str,
    values: np.ndarray | Sequence[Sequence[float]],
    *,
    split: str = "train",
    timestamps: Sequence[str] | None = None,
    channel_names: Sequence[str] | None = None,
    label: str | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record with no annotations yet. `values` is `[channels][time]` (a 1-D array is one channel)."""
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"record {id}: values must be [channels][time] with time > 0, got shape {array.shape}")
    return {
        "id": id,
        "source": source,
        "split": split,
        "values": array.tolist(),
        "timestamps": list(timestamps) if timestamps is not None else None,
        "channel_names": list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(len(array))],
        "captions": empty_captions(),
        "label": label,
        "spans": [],
        "segments": [],
        "change_points": [],
        "groundings": [],
        "meta": json.dumps(meta or {}),
    }


def values_array(record: dict[str, Any]) -> np.ndarray:
    """The record's values as a float64 array `[channels x time]`."""
    return np.asarray(record["values"], dtype=np.float64)


def values_hash(record_or_values: dict[str, Any] | np.ndarray) -> str:
    """Hash of the values (float32 bytes, NaN-normalised): the contamination check between splits."""
    values = record_or_values["values"] if isinstance(record_or_values, dict) else record_or_values
    array = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
    array = np.where(np.isnan(array), np.float32(np.nan), array)
    return hashlib.sha1(array.tobytes() + str(array.shape).encode()).hexdigest()


def span(
    start: int,
    end: int,
    label: str,
    kind: str,
    *,
    channel: int | None = None,
    description: str | None = None,
    score: float = 1.0,
    source: str,
    round: int = 0,
) -> dict[str, Any]:
    return {
        "start": int(start),
        "end": int(end),
        "channel": channel,
        "label": label,
        "kind": kind,
        "description": description,
        "score": float(score),
        "source": source,
        "round": int(round),
    }


def segment(start: int, end: int, label: str, *, score: float = 1.0, source: str, round: int = 0) -> dict[str, Any]:
    return {
        "start": int(start),
        "end": int(end),
        "label": label,
        "score": float(score),
        "source": source,
        "round": int(round),
    }


def change_point(
    index: int, *, label: str = "change", score: float = 1.0, source: str, round: int = 0
) -> dict[str, Any]:
    return {"index": int(index), "label": label, "score": float(score), "source": source, "round": int(round)}


def empty_captions() -> dict[str, str]:
    """A record's `captions` before any caption is written."""
    return {key: "" for key in (*CAPTION_KEYS, "source")}


def blank(record: dict[str, Any], *, hide_truth: bool = False) -> dict[str, Any]:
    """A copy of `record` with no annotations and empty captions: the series as the engine receives it (keys keep
    their order; missing annotation keys are added). `hide_truth` also replaces the source by "audit" and empties
    `meta`, where a generator's exact truth lives: the view in which the audit and the benchmark let the engine
    annotate an evaluation series like any real one."""
    empty = {key: [] for key in ANNOTATION_KEYS} | {"captions": empty_captions()}
    if hide_truth:
        empty |= {"source": "audit", "meta": "{}"}
    out = {key: empty.get(key, value) for key, value in record.items()}
    return out | {key: value for key, value in empty.items() if key not in out}


def source_kind(record_or_source: dict[str, Any] | str) -> SourceKind:
    """Where a record's series comes from: "synthetic" (generated), "semi" (a real window with injected,
    exactly known events, source "semi:...") or "real"; a record or its `source` string."""
    source = record_or_source if isinstance(record_or_source, str) else record_or_source["source"]
    if source == "synthetic":
        return "synthetic"
    return "semi" if source.startswith("semi:") else "real"


def has_truth(record: dict[str, Any]) -> bool:
    """Whether the record comes from a generator with exact ground truth (synthetic or semi-synthetic)."""
    return source_kind(record) != "real"


def truth_order(records, sources: set[str] | None = None, seed: int = 0) -> list[int]:
    """Indices of the records (a records `datasets.Dataset`) with exact truth (`has_truth`), and a `source` in
    `sources` when given, in a fixed random order (`seed`): how scripts take "the first N series with truth"."""
    candidates = [
        i
        for i, source in enumerate(records["source"])
        if has_truth({"source": source}) and (sources is None or source in sources)
    ]
    return np.random.default_rng(seed).permutation(candidates).tolist()


def load_split(corpus: str | os.PathLike, split: str):
    """One split of a corpus folder (`data/<split>-*.parquet`), read from its Parquet files directly
    (`datasets.load_dataset(folder)` reads the same, but its shared cache can serve an older corpus that lived in
    a folder of the same name)."""
    import datasets

    files = sorted(str(p) for p in (Path(corpus) / "data").glob(f"{split}-*.parquet"))
    if not files:
        available = sorted({p.name.split("-")[0] for p in (Path(corpus) / "data").glob("*.parquet")})
        raise ValueError(f"{corpus} has no split {split!r}; available splits: {', '.join(available)}")
    return datasets.load_dataset("parquet", data_files={split: files}, split=split)


def features():
    """The `datasets.Features` of a record: the Arrow schema of every Parquet file of a corpus."""
    from datasets import Features, List, Value

    span = {
        "start": Value("int64"),
        "end": Value("int64"),
        "channel": Value("int64"),
        "label": Value("string"),
        "kind": Value("string"),
        "description": Value("string"),
        "score": Value("float32"),
        "source": Value("string"),
        "round": Value("int32"),
    }
    return Features(
        {
            "id": Value("string"),
            "source": Value("string"),
            "split": Value("string"),
            "values": List(List(Value("float32"))),
            "timestamps": List(Value("string")),
            "channel_names": List(Value("string")),
            "captions": {key: Value("string") for key in (*CAPTION_KEYS, "source")},
            "label": Value("string"),
            "spans": List(span),
            "segments": List(
                {
                    "start": Value("int64"),
                    "end": Value("int64"),
                    "label": Value("string"),
                    "score": Value("float32"),
                    "source": Value("string"),
                    "round": Value("int32"),
                }
            ),
            "change_points": List(
                {
                    "index": Value("int64"),
                    "label": Value("string"),
                    "score": Value("float32"),
                    "source": Value("string"),
                    "round": Value("int32"),
                }
            ),
            "groundings": List(
                {"phrase": Value("string"), "spans": List(List(Value("int64"))), "source": Value("string")}
            ),
            "meta": Value("string"),
        }
    )
