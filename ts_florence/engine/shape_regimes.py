"""Shape regimes: real series whose segments differ by the shape of their pattern, with exact change points.

Real segmentation benchmarks (TSSB, and the activity and sensor recordings users bring) change regime when the
waveform changes, not the level or the noise: a gait turns into a run, a machine into another cycle. The
generator's regimes (`synthetic.py`) differ by level, trend, noise or seasonality only, so the model never saw a
change of shape. This module builds such series the way TSSB is built (Ermshaus et al., 2023), from the UCR
classification series that the engine's real sources already read: a segment is a run of instances of one class,
the next segment a run of another class of the same dataset, and the change points are the joins between runs,
exactly known.

The UCR datasets that TSSB's series come from are never used (`TSSB_DATASETS`, and the variants that share their
series), so TSSB stays a measurement of generalisation to unseen datasets, not of their classes.

Records carry change points only (label "regime change"): no segment labels (the regime vocabulary names level,
trend, noise and seasonality, not shapes) and no anomaly annotation (`spans` is None, so `<ANOMALY_DETECTION>` is
not trained on them: the joins of instances within a run are steps that TSSB does not count, and whether a
detector should is not this record's to say).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import records

logger = logging.getLogger(__name__)

TSSB_DATASETS = frozenset(
    "Adiac ArrowHead Beef BeetleFly BirdChicken Car CBF Chinatown ChlorineConcentration CinCECGTorso Coffee "
    "Computers CricketX CricketY CricketZ Crop DiatomSizeReduction DistalPhalanxOutlineAgeGroup DistalPhalanxTW "
    "DodgerLoopDay ECG200 ECGFiveDays EOGHorizontalSignal EOGVerticalSignal FaceAll FaceFour FacesUCR FiftyWords "
    "Fish FreezerRegularTrain Ham Herring GunPoint Haptics InlineSkate InsectWingbeatSound ItalyPowerDemand "
    "LargeKitchenAppliances Lightning2 Lightning7 Mallat Meat MedicalImages MelbournePedestrian "
    "MiddlePhalanxOutlineAgeGroup MiddlePhalanxOutlineCorrect MiddlePhalanxTW MoteStrain NonInvasiveFetalECGThorax1 "
    "NonInvasiveFetalECGThorax2 OliveOil OSULeaf Plane ProximalPhalanxOutlineAgeGroup ProximalPhalanxOutlineCorrect "
    "ProximalPhalanxTW ShapesAll ShapeletSim SonyAIBORobotSurface1 SonyAIBORobotSurface2 Strawberry SwedishLeaf "
    "Symbols SyntheticControl ToeSegmentation1 ToeSegmentation2 Trace TwoLeadECG UMD UWaveGestureLibraryAll "
    "UWaveGestureLibraryX UWaveGestureLibraryY UWaveGestureLibraryZ WordSynonyms Yoga".split()
)
"""The UCR datasets of TSSB's 75 series (its `desc.txt`)."""

EXCLUDED_PREFIXES = ("GunPoint", "Freezer", "DistalPhalanx", "MiddlePhalanx", "ProximalPhalanx", "DodgerLoop")
"""Variants that share series with a TSSB dataset (e.g. GunPointAgeSpan holds GunPoint's recordings)."""

MIN_LENGTH, MAX_LENGTH = 512, 4096
"""Length range of a shape-regime series (the corpus's `max_length` is 4096)."""


def usable_dataset(name: str) -> bool:
    """Whether a UCR dataset may give shape regimes: neither one of TSSB's nor a variant sharing their series."""
    return name not in TSSB_DATASETS and not name.startswith(EXCLUDED_PREFIXES)


def shape_groups(ids: Sequence[str], labels: Sequence[str | None]) -> dict[str, dict[str, list[int]]]:
    """Row indices of the UCR records (ids `ucr:<dataset>:...`, labels `<dataset>:<class>`) by dataset and class,
    for the usable datasets (`usable_dataset`) with at least two classes."""
    groups: dict[str, dict[str, list[int]]] = {}
    for row, (record_id, label) in enumerate(zip(ids, labels, strict=True)):
        if not record_id.startswith("ucr:") or not label:
            continue
        dataset = record_id.split(":")[1]
        if usable_dataset(dataset):
            groups.setdefault(dataset, {}).setdefault(label.split(":", 1)[1], []).append(row)
    return {name: classes for name, classes in sorted(groups.items()) if len(classes) >= 2}


def _class_sequence(rng: np.random.Generator, classes: list[str], segments: int) -> list[str]:
    """`segments` class names, neighbours different (a class may come back after another)."""
    chosen = [classes[int(rng.integers(len(classes)))]]
    while len(chosen) < segments:
        others = [c for c in classes if c != chosen[-1]]
        chosen.append(others[int(rng.integers(len(others)))])
    return chosen


def shape_regime_record(
    groups: Mapping[str, Mapping[str, Sequence[int]]],
    instance: Any,
    seed: int,
    *,
    max_segments: int = 4,
) -> dict[str, Any] | None:
    """A record of 2..`max_segments` shape regimes, a function of `seed`: a dataset of `groups` (from
    `shape_groups`), a length in [`MIN_LENGTH`, `MAX_LENGTH`] (log-uniform) split into segments of at least a tenth
    of it, each filled with whole instances of its class (`instance(row)` gives a row's values, 1-D). None when the
    dataset's instances are too long: every segment holds at least two instances (one shows no pattern of its own),
    and the series at most twice `MAX_LENGTH` samples."""
    if not groups:
        raise ValueError("no UCR dataset with two classes to build shape regimes from")
    rng = np.random.default_rng(seed)
    dataset = sorted(groups)[int(rng.integers(len(groups)))]
    classes = groups[dataset]
    length = int(np.exp(rng.uniform(np.log(MIN_LENGTH), np.log(MAX_LENGTH))))
    segments = int(rng.integers(2, max_segments + 1))
    shares = rng.dirichlet(np.full(segments, 2.0)) * 0.6 + 0.4 / segments  # each at least a tenth of the series
    names = _class_sequence(rng, sorted(classes), segments)
    parts: list[np.ndarray] = []
    bounds: list[int] = []
    used: list[int] = []
    for name, share in zip(names, shares, strict=True):
        rows = classes[name]
        picked = []
        while not picked or (len(picked) < 2 or sum(p.size for p in picked) < share * length):
            row = int(rows[int(rng.integers(len(rows)))])
            values = np.asarray(instance(row), dtype=np.float64)
            picked.append(values[np.isfinite(values)])
            used.append(row)
        parts += picked
        bounds.append((bounds[-1] if bounds else 0) + sum(p.size for p in picked))
    if bounds[-1] > 2 * MAX_LENGTH:
        return None  # instances too long for several of them per segment within the length range
    values = np.concatenate(parts)
    record = records.new_record(
        f"shapes:{dataset}:{seed}",
        f"semi:shape-regimes:{dataset}",
        values,
        meta={
            "generator": "ts_florence.engine.shape_regimes.shape_regime_record",
            "seed": int(seed),
            "dataset": dataset,
            "classes": names,
            "bounds": bounds,
            "rows": used,
        },
    )
    record["spans"] = None
    record["change_points"] = [
        {"index": int(b), "label": "regime change", "score": 1.0, "source": "injected", "round": 0} for b in bounds[:-1]
    ]
    return record


def shape_regime_records(
    ids: Sequence[str], labels: Sequence[str | None], instance, seeds: Iterable[int]
) -> Iterator[dict[str, Any]]:
    """`shape_regime_record` for each seed (those that give None are skipped) from the UCR records among `ids` and
    `labels` (`shape_groups`); none, with a warning, when they hold no dataset of two classes."""
    groups = shape_groups(ids, labels)
    if not groups:
        logger.warning("shape regimes: no UCR dataset with two classes among the real windows; none built")
        return
    for seed in seeds:
        record = shape_regime_record(groups, instance, seed)
        if record is not None:
            yield record


__all__ = ["TSSB_DATASETS", "shape_groups", "shape_regime_record", "shape_regime_records", "usable_dataset"]
