"""What a round may let in and what it must keep: the skill gate (a task's model outputs join the merge only if the
model reads the series for it), the class counts, the rare-class guard (against round 0) and the agreement
between rounds."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ...tasks import TASKS
from .. import steps as S
from .annotate import from_specialist, is_model_source

CHANGE_POINT_CLASS = "change point"


def skill_gate(report: dict | None, tasks: Sequence[str], min_gain: float | None) -> dict[str, dict]:
    """Whether each of `tasks` lets the model's outputs into the merge: `{task: {"used", "reason", "metric",
    "model", "reference"}}` from a frozen-split report of `evaluate_model` (its `scores` and `reference_scores`,
    see `RefineConfig.min_gain`)."""
    gate = {}
    for task in tasks:
        metric = TASKS[task].gate_metric if task in TASKS else None
        model = ((report or {}).get("scores") or {}).get(task, {}).get(metric)
        reference = ((report or {}).get("reference_scores") or {}).get(task, {}).get(metric)
        row = {"metric": metric, "model": model, "reference": reference}
        if min_gain is None:
            gate[task] = {**row, "used": True, "reason": "no gate (min_gain None)"}
        elif model is None or reference is None:
            gate[task] = {**row, "used": True, "reason": "no frozen-split score: let in unchecked"}
        elif model - reference >= min_gain:
            gate[task] = {**row, "used": True, "reason": f"beats reading nothing by {model - reference:+.3f}"}
        else:
            gate[task] = {**row, "used": False, "reason": f"{model - reference:+.3f} over reading nothing"}
    return gate


def annotation_class(key: str, annotation: dict) -> str:
    """The class an annotation counts under: "anomaly:spike", "event:peak", "segment:rising", "change point"."""
    if key == "spans":
        return f"{annotation['kind']}:{annotation['label']}"
    if key == "segments":
        return f"segment:{annotation['label']}"
    return CHANGE_POINT_CLASS


def class_counts(records: Iterable[dict]) -> Counter:
    counts: Counter = Counter()
    for record in records:
        for key in ("spans", "segments", "change_points"):
            counts.update(annotation_class(key, a) for a in record.get(key) or [])
    return counts


def source_counts(records: Iterable[dict]) -> Counter:
    """Annotations per voting source: a merged annotation counts once for each source that voted for it."""
    counts: Counter = Counter()
    for record in records:
        for key in ("spans", "segments", "change_points"):
            counts.update(name for a in record.get(key) or [] for name in (a.get("source") or "").split("+"))
    return counts


def provenance_counts(records: Iterable[dict]) -> Counter:
    """Annotations that the model alone, specialists alone, or both voted for."""
    counts: Counter = Counter()
    for record in records:
        for key in ("spans", "segments", "change_points"):
            for a in record.get(key) or []:
                model = [is_model_source(n) for n in (a.get("source") or "").split("+")]
                counts[
                    "model only" if all(model) else "model and specialists" if any(model) else "specialists only"
                ] += 1
    return counts


def guard_flags(before: Counter, after: Counter, share: float) -> list[dict]:
    """The classes whose count fell by more than `share` (vanished ones included), with their counts."""
    flagged = []
    for name in sorted(before):
        n, m = before[name], after.get(name, 0)
        if n > 0 and (n - m) / n > share:
            flagged.append({"class": name, "before": n, "after": m, "change": (m - n) / n})
    return flagged


class RareClassGuard(S.Step):
    """Restores the specialist annotations of an earlier round (`previous`; round 0 in `refine_corpus`) of the
    flagged classes that round k+1 lost. A span comes back unless round k+1 has one of the same kind, label and
    channel overlapping it (IoU >= `iou`); round-k+1 spans of other, unflagged classes that overlap a restored one
    that much are removed (the protected class wins). A change point comes back unless one lies within `margin`
    (share of the length). A flagged segment class brings back the record's whole earlier segmentation when round
    k+1 has no segment of that class there."""

    name = "rare_class_guard"

    def __init__(self, previous: dict[str, dict], flagged: Iterable[str], iou: float = 0.5, margin: float = 0.01):
        super().__init__()
        self.previous, self.flagged, self.iou, self.margin = previous, set(flagged), iou, margin

    def process(self, record: dict) -> dict | None:
        old = self.previous.get(record["id"])
        if old is None or not self.flagged:
            return record
        from ...windowing import span_iou

        for s in old["spans"]:
            name = annotation_class("spans", s)
            if name not in self.flagged or not from_specialist(s):
                continue
            same_place = [
                t
                for t in record["spans"]
                if t["kind"] == s["kind"]
                and t["channel"] == s["channel"]
                and span_iou((t["start"], t["end"]), (s["start"], s["end"])) >= self.iou
            ]
            if any(t["label"] == s["label"] for t in same_place):
                continue
            losers = [t for t in same_place if annotation_class("spans", t) not in self.flagged]
            if len(losers) < len(same_place):
                continue  # another protected class holds the place
            record["spans"] = [t for t in record["spans"] if not any(t is x for x in losers)] + [dict(s)]
            self.removed(f"restored {name}")
            if losers:
                self.removed("overlapped a restored span", len(losers))
        record["spans"].sort(key=lambda s: (s["start"], s["end"]))
        if CHANGE_POINT_CLASS in self.flagged:
            tolerance = max(1, int(self.margin * len(record["values"][0])))
            for p in old["change_points"]:
                far = all(abs(p["index"] - q["index"]) > tolerance for q in record["change_points"])
                if from_specialist(p) and far:
                    record["change_points"].append(dict(p))
                    self.removed(f"restored {CHANGE_POINT_CLASS}")
            record["change_points"].sort(key=lambda p: p["index"])
        lost = {annotation_class("segments", s) for s in old["segments"]} & self.flagged
        lost -= {annotation_class("segments", s) for s in record["segments"]}
        if lost and all(from_specialist(s) for s in old["segments"]):
            record["segments"] = [dict(s) for s in old["segments"]]
            self.removed(f"restored the segmentation of {', '.join(sorted(lost))}")
        return record


def agreement(before: dict[str, dict], after: dict[str, dict]) -> dict[str, float | None]:
    """How far round k+1 agrees with round k on the same records (round k read as the truth): span F1 at IoU 0.5
    per kind with and without labels, change-point F1 (margin 1% of the length) and segmentation covering, means
    over records, and the share of records whose annotations did not change at all."""
    from ...evaluation.metrics import change_point_f1, covering, span_prf_corpus

    ids = [i for i in before if i in after]
    if not ids:
        return {"records": 0}
    out: dict[str, float | None] = {"records": len(ids)}
    for kind in ("anomaly", "event"):
        new = [[s for s in after[i]["spans"] if s["kind"] == kind] for i in ids]
        old = [[s for s in before[i]["spans"] if s["kind"] == kind] for i in ids]
        if not any(new) and not any(old):
            continue
        spans_new = [[[s["start"], s["end"]] for s in x] for x in new]
        spans_old = [[[s["start"], s["end"]] for s in x] for x in old]
        out[f"{kind} span F1@0.5"] = span_prf_corpus(spans_new, spans_old, iou=0.5)["f1"]
        out[f"{kind} span F1@0.5, labels"] = span_prf_corpus(
            spans_new,
            spans_old,
            iou=0.5,
            pred_labels=[[s["label"] for s in x] for x in new],
            true_labels=[[s["label"] for s in x] for x in old],
        )["f1"]
    f1, cover = [], []
    for i in ids:
        n = before[i]["length"]
        points_new = [p["index"] for p in after[i]["change_points"]]
        points_old = [p["index"] for p in before[i]["change_points"]]
        f1.append(change_point_f1(points_new, points_old, n)["f1"])
        if before[i]["segments"] or after[i]["segments"]:
            starts_new = sorted({s["start"] for s in after[i]["segments"] if 0 < s["start"] < n})
            starts_old = sorted({s["start"] for s in before[i]["segments"] if 0 < s["start"] < n})
            cover.append(covering(starts_new, starts_old, n))
    out["change-point F1 (1%)"] = float(np.mean(f1))
    out["covering"] = float(np.mean(cover)) if cover else None
    out["unchanged records"] = float(np.mean([_key(before[i]) == _key(after[i]) for i in ids]))
    return out


def _key(annotations: dict) -> tuple:
    spans = annotations["spans"]
    return (
        sorted((s["start"], s["end"], s["kind"], s["label"], _channel(s)) for s in spans),
        sorted((s["start"], s["end"], s["label"]) for s in annotations["segments"]),
        sorted(p["index"] for p in annotations["change_points"]),
    )


def _channel(span: dict) -> int:
    return -1 if span["channel"] is None else span["channel"]


def round_zero(corpus: str | os.PathLike) -> Path | None:
    """The first round of the rounds that led to `corpus`: each refined round names its input in `audit.json`
    ("corpus"), followed back to a folder that is not a refined round; None when a folder on the way is gone."""
    folder, seen = Path(corpus), set()
    while (folder / "audit.json").is_file():
        if folder.resolve() in seen:
            return None
        seen.add(folder.resolve())
        folder = Path(json.loads((folder / "audit.json").read_text())["corpus"])
        if not (folder / "stats.json").is_file():
            return None
    return folder
