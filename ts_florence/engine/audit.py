"""The teachers' scores: every specialist, and the merged and filtered engine output, against the exact ground
truth of the frozen evaluation split (synthetic and semi-synthetic series). These are the numbers a model
trained on the corpus has to beat.

Semi-synthetic series are real windows with injected events: only the injected events are known, so a
detector that finds a real event of the underlying series is counted wrong there.

The series are audited in `num_proc` parts, the tasks of a job of the engine's executor (`engine/executor.py`) in a
temporary folder, run by as many worker processes.
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..io import file_in_place
from ..records import blank, load_split, values_array
from .descriptions import SeriesDescription
from .executor import Job

logger = logging.getLogger(__name__)

MERGED = "merged+filtered"


def _labelled(annotations: list[dict], kind: str) -> dict[str, list]:
    """`{"spans", "labels"}` of the annotations of one kind ("anomaly", "event")."""
    chosen = [a for a in annotations if a.get("kind") == kind]
    return {"spans": [[a["start"], a["end"]] for a in chosen], "labels": [a["label"] for a in chosen]}


def _spans(annotations: list[dict], kind: str) -> list[list[int]]:
    return _labelled(annotations, kind)["spans"]


def annotated_change_points(segments: list[dict], points: list[dict]) -> list[int]:
    """The change points that annotations say: the change points and the starts of the segments after the first."""
    found = {p["index"] for p in points} | {s["start"] for s in segments if s["start"] > 0}
    return sorted(found)


def _predictions(record: dict, specialists, pipeline) -> dict[str, dict]:
    """What each specialist, and the whole recipe, says about one evaluation series."""
    values = values_array(record)
    out = {}
    for specialist in specialists:
        try:
            found = specialist(values, record.get("timestamps"))
        except Exception as err:  # noqa: BLE001 - the audit reports failures instead of stopping
            logger.warning("%s failed on %s: %s", specialist.name, record["id"], err)
            found = {}
        out[specialist.name] = found
    merged = blank(record, hide_truth=True)
    for step in pipeline:
        merged = step.process(merged) if merged is not None else None
    out[MERGED] = merged or {}
    return out


def _truth_summary(record: dict) -> dict:
    meta = json.loads(record.get("meta") or "{}")
    description = SeriesDescription.from_dict(meta["description"]) if "description" in meta else None
    truth = {
        "length": len(record["values"][0]),
        "events": [(s["start"], s["end"], s["label"]) for s in record["spans"] or []],
        "event_count": len(record["spans"] or []),
    }
    if description is not None and description.channels:
        truth["trend"] = description.channels[0].trend
        truth["periods"] = description.channels[0].periods
    return truth


def _audit_rows(records: list[dict], config) -> list[dict]:
    """Each record with what every specialist and the whole recipe say about it."""
    from .build import build_steps
    from .specialists import default_specialists

    specialists = default_specialists()  # every registered specialist, also those the build leaves out
    pipeline = build_steps(config)
    rows = []
    for record in records:
        preds = _predictions(record, specialists, pipeline)
        rows.append(
            {
                "record": record,
                "preds": {name: {k: v for k, v in p.items() if k != "description"} for name, p in preds.items()},
            }
        )
    return rows


def _dump(path: Path, value) -> None:
    with file_in_place(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(value, handle)


def _load(path: Path):
    with open(path, "rb") as handle:
        return pickle.load(handle)


def _audit_part(config, folder: Path, k: int) -> None:
    """Task `k` of the audit's job: the rows of the records of part `k` (`folder/part-K.in.pkl`), into
    `folder/part-K.pkl`."""
    _dump(folder / f"part-{k:05d}.pkl", _audit_rows(_load(folder / f"part-{k:05d}.in.pkl"), config))


def _audit_parts(records: list[dict], config, num_proc: int) -> list[dict]:
    """The rows of every record, in `num_proc` parts (records `i::num_proc`) run as a job of the engine's executor
    in a temporary folder, with `num_proc` worker processes."""
    parts = max(1, num_proc)
    with tempfile.TemporaryDirectory(prefix="ts_florence_audit.") as tmp:
        folder = Path(tmp)
        for k in range(parts):
            _dump(folder / f"part-{k:05d}.in.pkl", records[k::parts])
        job = Job(functools.partial(_audit_part, config, folder), tasks=parts, folder=folder / "tasks")
        job.run(num_proc, progress=False)
        return [row for k in range(parts) for row in _load(folder / f"part-{k:05d}.pkl")]


def audit_records(records: list[dict], config, num_proc: int = 1) -> dict:
    """Scores per source (specialist names and `merged+filtered`) on records with exact truth."""
    from ..evaluation.metrics import (
        caption_attribute_accuracy,
        change_point_f1,
        covering,
        label_agreement,
        span_prf_corpus,
    )

    rows = _audit_parts(records, config, num_proc)

    report: dict[str, dict] = {}
    sources = list(rows[0]["preds"]) if rows else []
    for source in sources:
        scores: dict[str, float | None] = {}
        span_rows = [r for r in rows if r["record"]["spans"] is not None]  # shape regimes have no span truth
        for kind in ("anomaly", "event"):
            truths = [_spans(r["record"]["spans"], kind) for r in span_rows]
            if not any(truths):
                continue
            preds = [_spans(r["preds"][source].get("spans", []), kind) for r in span_rows]
            if (
                not any(preds)
                and source != MERGED
                and not any(a.get("kind") == kind for r in span_rows for a in r["preds"][source].get("spans", []))
            ):
                scores[f"{kind} F1@0.5"] = None  # this source does not detect that kind
                continue
            scores[f"{kind} F1@0.5"] = span_prf_corpus(preds, truths, iou=0.5)["f1"]
            # Of the spans placed right (IoU 0.5), the share with the true label: the span-to-category accuracy
            # of this source's labels, the bar of the model's <SPAN_TO_CATEGORY>.
            scores[f"{kind} label agreement"] = label_agreement(
                [_labelled(r["preds"][source].get("spans", []), kind) for r in span_rows],
                [_labelled(r["record"]["spans"], kind) for r in span_rows],
            )["accuracy"]
        seg_rows = [r for r in rows if r["record"]["segments"]]
        produces_segments = any(
            r["preds"][source].get("segments") or r["preds"][source].get("change_points") for r in seg_rows
        )
        if seg_rows and produces_segments:
            cov, f1 = [], []
            for r in seg_rows:
                n = len(r["record"]["values"][0])
                true_cps = sorted({s["start"] for s in r["record"]["segments"] if s["start"] > 0})
                pred_cps = annotated_change_points(
                    r["preds"][source].get("segments", []), r["preds"][source].get("change_points", [])
                )
                cov.append(covering(pred_cps, true_cps, n))
                f1.append(change_point_f1(pred_cps, true_cps, n, margin=0.01)["f1"])
            scores["covering"] = float(np.mean(cov))
            scores["change-point F1 (1%)"] = float(np.mean(f1))
        captions = [(r["preds"][source].get("captions") or {}).get("detailed") for r in rows]
        if any(captions):
            accuracies = [
                caption_attribute_accuracy(c, _truth_summary(r["record"]))["accuracy"]
                for c, r in zip(captions, rows, strict=True)
                if c
            ]
            accuracies = [a for a in accuracies if a is not None]
            scores["caption attribute accuracy"] = float(np.mean(accuracies)) if accuracies else None
        report[source] = scores
    return {"series": len(rows), "by_kind": _count_kinds(rows), "scores": report}


def _count_kinds(rows) -> dict:
    counts = defaultdict(int)
    for r in rows:
        counts["synthetic" if r["record"]["id"].startswith("eval-syn") else "semi-synthetic"] += 1
    return dict(counts)


def audit_corpus(corpus: str | Path, limit: int | None = None, num_proc: int = 1) -> dict:
    """Audits the specialists of the corpus's own build config on its frozen evaluation split."""

    from .build import config_from_dict

    corpus = Path(corpus)
    stats = json.loads((corpus / "stats.json").read_text())
    config = config_from_dict(stats["config"], "stats.json config")
    evaluation = load_split(corpus, "eval")
    if limit is not None and limit < len(evaluation):
        rng = np.random.default_rng(0)
        evaluation = evaluation.select(sorted(rng.choice(len(evaluation), limit, replace=False)))
    report = audit_records(list(evaluation), config, num_proc=num_proc)
    report["corpus"] = stats["name"]
    report["eval_version"] = stats["eval_version"]
    return report


def format_table(report: dict) -> str:
    columns = sorted(
        {c for scores in report["scores"].values() for c in scores},
        key=lambda c: ["anomaly", "event", "covering", "change", "caption"].index(
            next(p for p in ["anomaly", "event", "covering", "change", "caption"] if c.startswith(p))
        ),
    )
    lines = [
        f"audit on {report['series']} evaluation series {report.get('by_kind', '')}",
        "| source | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for source, scores in report["scores"].items():
        cells = [f"{scores[c]:.3f}" if scores.get(c) is not None else "–" for c in columns]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["audit_corpus", "audit_records", "format_table", "MERGED"]
