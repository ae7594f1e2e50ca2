"""Where the model disagrees with the specialists: the part of a round's audit a person reads to judge it.

Two views, per annotation class ("anomaly:spike", "event:peak", "change point", ...):

- **against exact truth** (semi-synthetic training series: real windows with injected, exactly known events).
  Each series is annotated twice as if it were real (`blank(record, hide_truth=True)`): by pass 1 of the build
  (the specialists and their merge: what round 0 would hold) and by pass 1 of the round (the same, with the model
  before the merge: what round k+1 would hold). An annotation the model added is *right* when a true annotation
  of the same kind is there (IoU >= 0.5 for spans, within the merge margin for change points); one it removed was
  *right to remove* when none is. Only the injected events are known, so an addition that finds a real event of
  the underlying window counts as wrong here, as in `ts_florence.engine.audit`.
- **on the refined real series** (no truth): round k against round k+1 of the same records, read from the two
  corpus folders.

`disagreement_gallery` writes `gallery.json` (the counts), `gallery.md` (a table per view and the plots) and one
`gallery-<class>.png` per class with a disagreement: a few series of each view with the specialists' annotations
of the class (grey, below), the round's (blue, above) and the truth (green, behind).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ...io import file_in_place, write_text_in_place
from ...records import blank, load_split, source_kind, values_array
from ...windowing import span_iou
from ..audit import annotated_change_points
from .annotate import refine_steps
from .config import RefineConfig
from .guard import annotation_class

KEYS = ("spans", "segments", "change_points")


def differences(before: dict, after: dict, margin: float = 0.01) -> dict[str, dict[str, list[dict]]]:
    """`{class: {"added": [...], "removed": [...]}}` between two annotation sets of one series (`{"spans",
    "segments", "change_points"}`): a span or segment is the same when one of its class (and channel) overlaps it
    with IoU >= 0.5, a change point when one lies within `margin` of the length (`length` of `after`)."""
    tolerance = max(1, int(margin * (after.get("length") or 0)))
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: {"added": [], "removed": []})

    def same(key: str, a: dict, b: dict) -> bool:
        if annotation_class(key, a) != annotation_class(key, b):
            return False
        if key == "change_points":
            return abs(a["index"] - b["index"]) <= tolerance
        return a.get("channel") == b.get("channel") and span_iou((a["start"], a["end"]), (b["start"], b["end"])) >= 0.5

    for key in KEYS:
        old, new = before.get(key) or [], after.get(key) or []
        for a in new:
            if not any(same(key, a, b) for b in old):
                out[annotation_class(key, a)]["added"].append({**a, "key": key})
        for b in old:
            if not any(same(key, b, a) for a in new):
                out[annotation_class(key, b)]["removed"].append({**b, "key": key})
    return dict(out)


def true_here(annotation: dict, truth: dict, tolerance: int) -> bool:
    """Whether the exact truth of a series holds an annotation of the same kind at this place (labels aside, as
    F1@0.5 counts): a span of the kind with IoU >= 0.5, or a true change point (or segment start) within
    `tolerance` samples."""
    if annotation["key"] == "change_points":
        points = annotated_change_points(truth.get("segments") or [], truth.get("change_points") or [])
        return any(abs(annotation["index"] - p) <= tolerance for p in points)
    if annotation["key"] == "segments":
        starts = {s["start"] for s in truth.get("segments") or []}
        return annotation["start"] in starts or any(abs(annotation["start"] - s) <= tolerance for s in starts)
    return any(
        t["kind"] == annotation["kind"]
        and span_iou((t["start"], t["end"]), (annotation["start"], annotation["end"])) >= 0.5
        for t in truth.get("spans") or []
    )


def _annotations(record: dict) -> dict:
    return {key: list(record.get(key) or []) for key in KEYS} | {"length": len(record["values"][0])}


def _pass_one(steps, records: list[dict]) -> dict[str, dict]:
    out = iter(records)
    for step in steps:
        out = step.run(out)
    return {r["id"]: _annotations(r) for r in out}


def semi_view(
    corpus: Path,
    build_config,
    annotator: Callable[[list[np.ndarray]], list[dict]],
    config: RefineConfig,
    round: int,
    limit: int,
    seed: int = 0,
) -> list[dict]:
    """Semi-synthetic training series of `corpus`, each with its truth and the specialists' and the round's
    annotations (see the module docstring)."""
    from ..build import WriteCaptions, build_steps

    train = load_split(corpus, "train")
    semi = [i for i, source in enumerate(train["source"]) if source_kind(source) == "semi"]
    if len(semi) > limit:
        semi = sorted(np.random.default_rng(seed).choice(semi, limit, replace=False).tolist())
    records = [train[i] for i in semi]
    steps = build_steps(build_config)
    specialists = steps[: next(i for i, s in enumerate(steps) if isinstance(s, WriteCaptions))]
    with_model, _ = refine_steps(build_config, annotator, config, round)
    blanks = [blank(r, hide_truth=True) for r in records]
    before = _pass_one(specialists, copy.deepcopy(blanks))
    after = _pass_one(with_model, blanks)
    return [
        {
            "id": r["id"],
            "values": values_array(r),
            "truth": _annotations(r),
            "before": before[r["id"]],
            "after": after[r["id"]],
        }
        for r in records
        if r["id"] in before and r["id"] in after
    ]


def real_view(before: Path, after: Path, limit: int) -> list[dict]:
    """The first `limit` refined (real) training series of round `after` with their annotations in round `before`
    (the same records, read from both corpus folders)."""
    new = load_split(after, "train")
    rows = [i for i, source in enumerate(new["source"]) if source_kind(source) == "real"][:limit]
    new = new.select(rows)
    wanted = set(new["id"])
    old = load_split(before, "train")
    old = old.select([i for i, record_id in enumerate(old["id"]) if record_id in wanted])
    by_id = {r["id"]: r for r in old}
    return [
        {
            "id": r["id"],
            "values": values_array(r),
            "truth": None,
            "before": _annotations(by_id[r["id"]]),
            "after": _annotations(r),
        }
        for r in new
        if r["id"] in by_id
    ]


def truth_family(key: str, annotation: dict) -> str:
    """What truth can judge an annotation: true spans of its kind, or true change points (segments, points)."""
    return f"spans:{annotation['kind']}" if key == "spans" else "change points"


def tally(view: list[dict], margin: float) -> dict[str, dict]:
    """Per class: annotations added and removed, and, where the series have exact truth of the class's family
    (`truth_family`: the semi-synthetic series carry injected anomalies only, no events or change points), how many
    of each the truth bears out (added and true; removed and not true); with the ids of the series where each
    happened."""
    counts: dict[str, Counter] = defaultdict(Counter)
    where: dict[str, list[str]] = defaultdict(list)
    judged = {
        truth_family(key, a) for row in view if row["truth"] is not None for key in KEYS for a in row["truth"][key]
    }
    for row in view:
        tolerance = max(1, int(margin * row["after"]["length"]))
        for name, change in differences(row["before"], row["after"], margin).items():
            counts[name]["added"] += len(change["added"])
            counts[name]["removed"] += len(change["removed"])
            some = (change["added"] + change["removed"])[:1]
            if row["truth"] is not None and some and truth_family(some[0]["key"], some[0]) in judged:
                counts[name]["added and true"] += sum(true_here(a, row["truth"], tolerance) for a in change["added"])
                counts[name]["removed and not true"] += sum(
                    not true_here(a, row["truth"], tolerance) for a in change["removed"]
                )
            if change["added"] or change["removed"]:
                where[name].append(row["id"])
    return {name: {**dict(counts[name]), "series": where[name]} for name in sorted(counts)}


def disagreement_gallery(
    corpus: str | os.PathLike,
    model: str | os.PathLike,
    out: str | os.PathLike,
    config: RefineConfig | None = None,
    *,
    refined: str | os.PathLike | None = None,
    annotator: Callable[[list[np.ndarray]], list[dict]] | None = None,
    semi_limit: int = 300,
    real_limit: int = 2000,
    per_class: int = 3,
) -> dict:
    """The gallery of round k -> k+1 (see the module docstring): `corpus` is round k, `model` the model trained on
    it, `refined` round k+1 (its `audit.json` says which tasks passed the skill gate; without it, `config.tasks`).
    Writes `gallery.json`, `gallery.md` and the plots into `out`; returns the JSON's content."""
    from ..build import config_from_dict
    from . import ModelAnnotator, _read_stats

    config = config or RefineConfig()
    corpus, out = Path(corpus), Path(out)
    stats = _read_stats(corpus)
    build_config = config_from_dict(stats["config"], f"{corpus}/stats.json config")
    k = config.round if config.round is not None else int(stats.get("round", 0))
    tasks = config.tasks
    if refined is not None and (Path(refined) / "audit.json").is_file():
        gate = json.loads((Path(refined) / "audit.json").read_text()).get("gate") or {}
        tasks = tuple(task for task in config.tasks if (gate.get(task) or {"used": True})["used"])
    config = dataclasses.replace(config, tasks=tasks)
    if annotator is None:
        annotator = ModelAnnotator(model, tasks, max_new_tokens=config.max_new_tokens, window=config.window)
    margin = build_config.merge.get("margin", 0.01)
    views = {
        "semi-synthetic series, against exact truth": semi_view(corpus, build_config, annotator, config, k, semi_limit)
    }
    if refined is not None:
        views["refined real series, no truth"] = real_view(corpus, Path(refined), real_limit)
    report = {
        "round": k + 1,
        "model": str(model),
        "tasks": list(tasks),
        "views": {name: {"series": len(view), "classes": tally(view, margin)} for name, view in views.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    images = {}
    for name in sorted({c for v in report["views"].values() for c in v["classes"]}):
        examples = [
            (title, row)
            for title, view in views.items()
            for row in [
                r for r in view if r["id"] in set(report["views"][title]["classes"].get(name, {}).get("series", []))
            ][:per_class]
        ]
        if examples:
            images[name] = f"gallery-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.png"
            plot_class(name, examples, out / images[name], margin)
    report["images"] = images
    write_text_in_place(out / "gallery.json", json.dumps(report, indent=2))
    write_text_in_place(out / "gallery.md", gallery_markdown(report))
    return report


def gallery_markdown(report: dict) -> str:
    k1 = report["round"]
    lines = [
        f"# Where model@{k1 - 1} disagrees with the specialists (round {k1})",
        "",
        f"Model `{report['model']}`, tasks in the merge: {', '.join(report['tasks']) or 'none'}. An annotation is "
        f"*added* when round {k1} has it and the specialists alone do not, *removed* the other way round.",
    ]
    for title, view in report["views"].items():
        truth = "truth" in title and "no truth" not in title
        lines += ["", f"## {view['series']} {title}", ""]
        if truth:
            lines += [
                "| class | added | of which true | removed | of which not true |",
                "|---|---:|---:|---:|---:|",
            ]
        else:
            lines += ["| class | added | removed |", "|---|---:|---:|"]
        for name, c in view["classes"].items():
            if truth:
                judged = "added and true" in c or "removed and not true" in c
                true, untrue = (c.get("added and true", 0), c.get("removed and not true", 0)) if judged else ("–", "–")
                lines.append(f"| {name} | {c.get('added', 0)} | {true} | {c.get('removed', 0)} | {untrue} |")
            else:
                lines.append(f"| {name} | {c.get('added', 0)} | {c.get('removed', 0)} |")
        if not view["classes"]:
            lines.append("| (no disagreement) | | |")
        if truth:
            lines.append(
                "\n–: no series of the view has truth of that kind (semi-synthetic series carry their injected "
                "anomalies only). Only the injected events are known: an addition that finds a real event of the "
                "underlying window counts as not true."
            )
    if report["images"]:
        lines += ["", "## Gallery", ""]
        lines += [f"### {name}\n\n![{name}]({image})\n" for name, image in report["images"].items()]
    return "\n".join(lines) + "\n"


def plot_class(name: str, examples: Sequence[tuple[str, dict]], path: Path, margin: float) -> None:
    """One panel per example series: the channel of the class's annotations, the specialists' annotations of the
    class below (grey), the round's above (blue), the truth behind (green); added ones drawn solid, removed ones
    hatched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 1.9 * len(examples) + 0.4))
    FigureCanvasAgg(figure)
    for i, (title, row) in enumerate(examples):
        axes = figure.add_subplot(len(examples), 1, i + 1)
        change = differences(row["before"], row["after"], margin).get(name, {"added": [], "removed": []})
        marked = change["added"] + change["removed"]
        channel = next((a.get("channel") for a in marked if a.get("channel") is not None), 0)
        values = row["values"][channel]
        axes.plot(np.arange(len(values)), values, color="black", linewidth=0.7)
        if row["truth"] is not None:
            for key in ("spans", "segments"):
                for t in row["truth"][key]:
                    if key == "spans" and f"{t['kind']}:" not in name:
                        continue
                    if key == "segments" and not name.startswith("segment"):
                        continue
                    axes.axvspan(t["start"], t["end"], color="tab:green", alpha=0.18, linewidth=0)
            if name == "change point":
                for p in annotated_change_points(row["truth"]["segments"], row["truth"]["change_points"]):
                    axes.axvline(p, color="tab:green", linewidth=2, alpha=0.5)
        for layer, (low, high, color) in {"before": (0.0, 0.12, "grey"), "after": (0.88, 1.0, "tab:blue")}.items():
            for key in KEYS:
                for a in row[layer][key]:
                    if annotation_class(key, a) != name:
                        continue
                    is_change = any(
                        _same_place(a, b) for b in (change["added"] if layer == "after" else change["removed"])
                    )
                    alpha = 0.9 if is_change else 0.35
                    if key == "change_points":
                        axes.axvline(a["index"], ymin=low, ymax=high, color=color, linewidth=3, alpha=alpha)
                    else:
                        hatch = "//" if layer == "before" and is_change else None
                        axes.axvspan(a["start"], a["end"], ymin=low, ymax=high, color=color, alpha=alpha, hatch=hatch)
        axes.set_title(f"{row['id']} ({title.split(',')[0]})", fontsize=8, loc="left")
        axes.tick_params(labelsize=7)
    figure.suptitle(
        f"{name}: specialists (grey, below; removed hatched), round (blue, above; added solid), truth (green)",
        fontsize=9,
    )
    figure.tight_layout()
    with file_in_place(path) as tmp:
        figure.savefig(tmp, format="png", dpi=90)


def _same_place(a: dict, b: dict) -> bool:
    if "index" in a:
        return a.get("index") == b.get("index")
    return (a.get("start"), a.get("end"), a.get("label")) == (b.get("start"), b.get("end"), b.get("label"))


__all__ = ["differences", "true_here", "tally", "disagreement_gallery", "gallery_markdown", "plot_class"]
