"""Shape regimes: UCR instances of different classes joined into segments, with exact change points."""

from pathlib import Path

import numpy as np
import pytest

from ts_florence.engine.shape_regimes import TSSB_DATASETS, shape_groups, shape_regime_record, usable_dataset
from ts_florence.tasks import get_task

# A toy UCR dataset: class "a" a sine, "b" a saw tooth, "c" a square wave, 8 instances of 40 samples each.
SHAPES = {
    "a": lambda t: np.sin(t / 40 * 2 * np.pi),
    "b": lambda t: (t % 20) / 10 - 1,
    "c": lambda t: np.sign(np.sin(t / 40 * 4 * np.pi)),
}
IDS = [f"ucr:Toy:TRAIN:{i}" for i in range(24)] + ["ucr:GunPoint:TRAIN:0", "ucr:Adiac:TRAIN:0", "fake:0"]
LABELS = [f"Toy:{'abc'[i % 3]}" for i in range(24)] + ["GunPoint:1", "Adiac:2", None]


def instance(row: int) -> np.ndarray:
    return SHAPES["abc"[row % 3]](np.arange(40.0)) + 0.01 * row


def test_tssb_datasets_and_the_variants_that_share_their_series_are_never_used():
    assert len(TSSB_DATASETS) == 75 and not usable_dataset("GunPoint") and not usable_dataset("GunPointAgeSpan")
    assert not usable_dataset("FreezerSmallTrain") and usable_dataset("ECG5000")
    groups = shape_groups(IDS, LABELS)
    assert list(groups) == ["Toy"] and {k: len(v) for k, v in groups["Toy"].items()} == {"a": 8, "b": 8, "c": 8}


@pytest.mark.parametrize("seed", range(12))
def test_a_shape_regime_record_is_its_instances_joined_with_a_change_point_at_each_class_change(seed):
    record = shape_regime_record(shape_groups(IDS, LABELS), instance, seed)
    import json

    meta = json.loads(record["meta"])
    values = np.asarray(record["values"][0])
    np.testing.assert_allclose(values, np.concatenate([instance(r) for r in meta["rows"]]), atol=1e-5)
    bounds, classes = meta["bounds"], meta["classes"]
    assert bounds[-1] == len(values) and 2 <= len(classes) <= 4
    assert all(a != b for a, b in zip(classes, classes[1:], strict=False))  # neighbours differ
    edges = [0, *bounds]
    for k, name in enumerate(classes):  # each segment: at least two whole instances of its class
        rows = [
            r
            for r, start in zip(meta["rows"], 40 * np.arange(len(meta["rows"])), strict=True)
            if edges[k] <= start < edges[k + 1]
        ]
        assert len(rows) >= 2 and all("abc"[r % 3] == name for r in rows)
    assert [p["index"] for p in record["change_points"]] == bounds[:-1]
    # Trained as change points only: no anomaly answer (spans not annotated), no segments.
    assert record["spans"] is None and record["segments"] == []
    assert get_task("<ANOMALY_DETECTION>").examples(record) == []
    assert len(get_task("<CHANGE_POINT_DETECTION>").examples(record)) == 1


def test_the_excluded_datasets_are_those_of_tssbs_series():
    desc = Path(__file__).resolve().parents[2] / "shared" / "data" / "tssb" / "datasets" / "desc.txt"
    if not desc.is_file():
        pytest.skip(f"TSSB is not at {desc} (the dev data of ../shared/data)")
    assert {line.split(",")[0] for line in desc.read_text().splitlines() if line.strip()} == TSSB_DATASETS


def test_no_usable_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="no UCR dataset with two classes"):
        shape_regime_record({}, instance, 0)
