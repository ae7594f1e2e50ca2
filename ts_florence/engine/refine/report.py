"""The report of a round: its audit in Markdown and as a plot, the corpus card's section on rounds, the history of
counts and the stats.json of the new round."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ...io import file_in_place


def dev_summary(dev_scores: str | os.PathLike | dict | None) -> dict | None:
    """The model's rows of a `scripts/benchmark.py` report: `{data set: [{"task", "scores"}, ...]}`."""
    if dev_scores is None:
        return None
    report = dev_scores
    if not isinstance(report, dict):
        path = Path(dev_scores)
        if not path.is_file():
            return {"error": f"no dev-set report at {path}"}
        report = json.loads(path.read_text())
    if "error" in report:
        return {"error": report["error"]}
    summary: dict[str, Any] = {}
    for name, data in (report.get("datasets") or {}).items():
        if "skipped" in data:
            summary[name] = {"skipped": data["skipped"]}
            continue
        rows = [r for r in data.get("rows", []) if r.get("method") == "model"]
        summary[name] = [{"task": r.get("task"), "scores": r.get("scores")} for r in rows]
    return summary


def count_history(corpus: Path, k: int, counts: Counter) -> list[dict]:
    """Counts per class of the earlier rounds (from the corpus's own audit, if it is a refined round), then round k
    as counted now."""
    earlier = []
    path = corpus / "audit.json"
    if path.is_file():
        earlier = [h for h in json.loads(path.read_text()).get("history", []) if h["round"] < k]
    return earlier + [{"round": k, "counts": dict(counts.most_common())}]


def card_rounds(stats: dict) -> str:
    lines = [
        "",
        "## Refinement rounds",
        "",
        f"This is round {stats['round']}: the training split was re-annotated by the model trained on the round "
        "before (source `model@k`, with its own merge weight), merged with the specialists and filtered; the frozen "
        "evaluation split is the build's, unchanged. `audit.md` has this round's audit.",
        "",
        "| round | model | weight | refined series | flagged classes (restored) |",
        "|---|---|---|---|---|",
    ]
    for r in stats["rounds"]:
        lines.append(
            f"| {r['round']} | `{r['model']}` | {r['model_weight']} | {r['refined']} | "
            f"{', '.join(r['flagged']) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def audit_markdown(audit: dict) -> str:
    k, k1 = audit["from_round"], audit["round"]
    counts = audit["counts"]
    before, mid, after = counts[f"round {k}"], counts[f"round {k1} before the guard"], counts[f"round {k1}"]
    records = audit["records"]
    zero = counts.get("round 0") if k > 0 else None
    lines = [
        f"# Round {k1} audit",
        "",
        f"Round {k} `{audit['corpus']}` re-annotated by `{audit['model']}` (source `{audit['model_source']}`, weight "
        f"{audit['settings']['model_weight']}): {records['refined']} of {records['train']} training series refined; "
        f"{records['with_truth']} carry exact truth and are unchanged; {records['dropped']} dropped. Counts are over "
        "the refined series.",
        "",
        f"| class |{' round 0 |' if zero is not None else ''} round {k} | round {k1} before the guard | round {k1} "
        f"| change{' since round 0' if zero is not None else ''} |",
        "|---|---:|---:|---:|---:|" + ("---:|" if zero is not None else ""),
    ]
    base = zero if zero is not None else before
    for name in sorted(set(base) | set(before) | set(after) | set(mid)):
        n, m = base.get(name, 0), after.get(name, 0)
        change = f"{(m - n) / n:+.0%}" if n else "new"
        first = f" {n} |" if zero is not None else ""
        lines.append(f"| {name} |{first} {before.get(name, 0)} | {mid.get(name, 0)} | {m} | {change} |")
    guard = audit["guard"]
    against = guard.get("against", f"round {k}")
    lines += ["", f"## Rare-class guard (share {guard['share']:.0%}, against {against})", ""]
    if guard["flagged"]:
        for f in guard["flagged"]:
            lines.append(
                f"- {f['class']}: {f['before']} in {against} -> {f['after']} ({f['change']:+.0%}) before the guard"
            )
        lines += [f"- {reason}: {n}" for reason, n in guard["restored"].items()]
    else:
        lines.append(f"No class of {against} fell by more than the share.")
    fell = guard.get(f"fell against round {k} only") or []
    if fell:
        lines.append(
            f"\nFell by more than the share against round {k} but not against {against} (not flagged: an earlier "
            f"round had inflated them): {', '.join(fell)}."
        )
    if audit["vanished"]:
        lines.append(f"\nVanished after the guard: {', '.join(audit['vanished'])}.")
    if audit["new"]:
        lines.append(f"\nNew in round {k1}: {', '.join(audit['new'])}.")
    lines += ["", "## Sources", "", "Annotations each source voted for, and who voted.", ""]
    lines += [f"| source | round {k} | round {k1} |", "|---|---:|---:|"]
    for table in (audit["sources"], audit["provenance"]):
        old, new = table[f"round {k}"], table[f"round {k1}"]
        for name in sorted(set(old) | set(new)):
            lines.append(f"| {name} | {old.get(name, 0)} | {new.get(name, 0)} |")
    lines += ["", f"## Agreement of round {k1} with round {k}", ""]
    lines += [f"- {name}: {_fmt(value)}" for name, value in audit["agreement"].items()]
    lines += _gate_lines(audit.get("gate"), audit["settings"].get("min_gain"))
    lines += ["", f"## Model `{audit['model_source']}` on the frozen evaluation split", ""]
    lines += _score_lines(audit["eval"])
    lines += ["", "## Model on the dev sets", ""]
    dev = audit["dev"]
    if not dev:
        lines.append("Not run.")
    elif "error" in dev:
        lines.append(f"Failed: {dev['error']}")
    else:
        for name, rows in dev.items():
            if isinstance(rows, dict):
                lines.append(f"- {name}: skipped ({rows.get('skipped')})")
                continue
            for row in rows:
                scores = ", ".join(f"{m} {_fmt(v)}" for m, v in (row["scores"] or {}).items())
                lines.append(f"- {name} {row['task']}: {scores}")
    lines += ["", "![counts per class by round](audit.png)", ""]
    return "\n".join(lines)


def _gate_lines(gate: dict | None, min_gain: float | None) -> list[str]:
    if not gate:
        return []
    lines = ["", f"## Skill gate (min gain {_fmt(min_gain)} over reading nothing, frozen split)", ""]
    lines += ["| task | metric | model | reads nothing | model outputs used | why |", "|---|---|---:|---:|---|---|"]
    for task, row in gate.items():
        cells = [
            f"`{task}`",
            str(row["metric"]),
            *("–" if v is None else _fmt(v) for v in (row["model"], row["reference"])),
        ]
        lines.append("| " + " | ".join([*cells, "yes" if row["used"] else "no", row["reason"]]) + " |")
    return lines


def _score_lines(report: dict | None) -> list[str]:
    if report is None:
        return ["Not run."]
    if "error" in report:
        return [f"Failed: {report['error']}"]
    lines = [f"At most {report['limit']} examples per task.", ""]
    for task, scores in report["scores"].items():
        text = ", ".join(f"{m} {_fmt(v)}" for m, v in scores.items()) or "no score"
        lines.append(f"- `{task}` ({report['examples'].get(task, 0)} examples): {text}")
    return lines


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def plot_counts(history: list[dict], path: Path, title: str = "annotations per class by round") -> None:
    """Horizontal bars: the count of each class in each round of `history` (`[{"round", "counts"}]`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    classes = sorted({c for h in history for c in h["counts"]})
    height = max(3.0, 0.32 * len(classes) * max(1, len(history)) ** 0.5 + 1.5)
    figure = Figure(figsize=(8, height))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(history))
    positions = np.arange(len(classes))
    for i, h in enumerate(history):
        counts = [h["counts"].get(c, 0) for c in classes]
        axes.barh(positions + i * width, counts, height=width, label=f"round {h['round']}")
    axes.set_yticks(positions + width * (len(history) - 1) / 2, classes)
    axes.invert_yaxis()
    axes.set_xlabel("annotations (refined series)")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    with file_in_place(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
