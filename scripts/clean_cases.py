"""The clean-case suite: the defects a user expects any anomaly detector to find (spike, dip, permanent level
shift, trend change, flat line, missing stretch, variance burst, seasonal pattern break), one per series, on clean
sine and AR(1) backgrounds, 300 to 100,000 samples, univariate and 3 channels, each with its exact span, label and
channel (`ts_florence/engine/clean_cases.py` generates them from the seed and says what each is).

    python scripts/clean_cases.py                                  # the bundled model and the baselines, every case
    python scripts/clean_cases.py --model DIR --json clean.json
    python scripts/clean_cases.py --lengths 300 1000 --methods model robust_z --limit 20

Methods: the model through `pipeline("time-series-prompting")` with its defaults (its own window for the task,
else the whole series), and the classical baselines of `scripts/benchmark.py` (`ts_florence.benchmark`'s robust_z,
iforest_windows, stumpy_discords) on the same series, scored by the same rule (`clean_cases.found_mask`): a span
finds the truth at IoU >= 0.5 (`evaluation.metrics.span_iou`), or, for a point-like truth (a spike, a dip, the
onset region of a permanent change: no longer than max(8, ceil(n / 100)) samples), when it overlaps it and is no
longer than that itself.

Printed per kind and per length (and background, channels), for each method, the share of cases:
- "label": found with the right label (the model only: the baselines give none);
- "any": found, whatever the label;
- "chan": of the 3-channel cases, found by a span on the defect's channel ("-" for a method that never names a
  channel: iforest_windows' windows span every channel);
and, for the model, what it did on each kind: found, wrong label (with the labels it gave), wrong place (spans
elsewhere), nothing. `--json OUT` writes the figures and every case's answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
TASK = "<ANOMALY_DETECTION>"
BASELINES = ("robust_z", "iforest_windows", "stumpy_discords")
METHODS = ("model", *BASELINES)
MAX_SPANS_KEPT = 20
"""Spans of one answer kept in the JSON (an answer with hundreds says so by its count)."""


def model_answers(path: str, cases: list) -> tuple[list[dict], list[float]]:
    """The pipeline's `<ANOMALY_DETECTION>` result (its defaults) for every case, and the seconds of each."""
    import torch
    from transformers import pipeline

    import ts_florence  # noqa: F401 - registers the pipeline

    pipe = pipeline("time-series-prompting", model=path)
    answers, seconds = [], []
    with torch.inference_mode():
        pipe(cases[0].values, task=TASK)  # first-call overheads, out of the timing
        for case in cases:
            began = time.perf_counter()
            answers.append(pipe(case.values, task=TASK)[TASK])
            seconds.append(time.perf_counter() - began)
    return answers, seconds


def baseline_answers(name: str, cases: list) -> tuple[list[dict], list[float]]:
    """The benchmark's baseline `name` on every case (numba compiled before the timing), and the seconds of each."""
    from ts_florence.benchmark import baseline_methods, warm_up
    from ts_florence.evaluation.datasets import Case

    (method,) = [m for m in baseline_methods() if m.name == name]
    warm_up(method)
    answers, seconds = [], []
    for case in cases:
        began = time.perf_counter()
        answers.append(method.run(Case(case.name, case.channel_major(), {}, {}))["anomaly"])
        seconds.append(time.perf_counter() - began)
    return answers, seconds


def _share(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return sum(values) / len(values) if values else None


def _names_channels(answers: list[dict]) -> bool:
    """Whether a method ever names a channel (IsolationForest's windows span every channel: it never does)."""
    return any(c is not None for answer in answers for c in answer.get("channels") or [])


def summary(cases: list, scores: list[dict], labelled: bool, channelled: bool) -> dict:
    """Shares of one method's cases: per kind, length, background and channels, and in total. The right-label
    share only when the method gives labels, the right-channel share only when it names channels."""

    def shares(rows: list[dict]) -> dict:
        return {
            "cases": len(rows),
            "label": _share(rows, "labelled") if labelled else None,
            "any": _share(rows, "found"),
            "chan": _share(rows, "channel") if channelled else None,
        }

    groups = {}
    for axis in ("kind", "length", "background", "channels"):
        keys = list(dict.fromkeys(getattr(case, axis) for case in cases))
        groups[axis] = {
            str(key): shares([s for case, s in zip(cases, scores, strict=True) if getattr(case, axis) == key])
            for key in keys
        }
    return {**groups, "total": shares(scores)}


def outcomes(cases: list, scores: list[dict]) -> dict[str, dict]:
    """Per kind, how many cases ended in each outcome, and the labels given where the place was right."""
    table: dict[str, dict] = {}
    for case, s in zip(cases, scores, strict=True):
        entry = table.setdefault(case.kind, {"found": 0, "wrong label": 0, "wrong place": 0, "nothing": 0})
        entry[s["outcome"]] += 1
        if s["outcome"] == "wrong label":
            entry.setdefault("labels given", Counter()).update(s["labels_found"])
    for entry in table.values():
        if "labels given" in entry:
            entry["labels given"] = dict(entry["labels given"].most_common())
    return table


def _cell(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.2f}"


def table(axis: str, summaries: dict[str, dict]) -> list[str]:
    """One line per group of `axis`; per method its label / any / chan shares."""
    methods = list(summaries)
    head = f"{axis:<16} {'cases':>5}  " + "  ".join(f"{m[:17]:<17}" for m in methods)
    sub = f"{'':<16} {'':>5}  " + "  ".join(f"{'label  any chan':<17}" for _ in methods)
    lines = [head, sub]
    first = summaries[methods[0]]
    for key in [*first[axis], "total"]:
        rows = [summaries[m]["total"] if key == "total" else summaries[m][axis][key] for m in methods]
        cells = "  ".join(f"{_cell(r['label'])} {_cell(r['any'])} {_cell(r['chan'])}  " for r in rows)
        lines.append(f"{key:<16} {rows[0]['cases']:>5}  {cells}")
    return lines


def report(figures: dict) -> str:
    summaries = figures["summary"]
    lines = [f"clean cases: {figures['cases']} series, seed {figures['seed']}, model {figures['model']}"]
    lines.append("shares of cases found with the right label / with any label / on the defect's channel (3-ch cases)")
    for axis in ("kind", "length", "background", "channels"):
        lines += ["", *table(axis, summaries)]
    if "model" in figures["outcomes"]:
        lines += ["", "the model per kind: found / wrong label / wrong place / nothing (labels it gave instead)"]
        for kind, entry in figures["outcomes"]["model"].items():
            given = ", ".join(f"{label} {count}" for label, count in entry.get("labels given", {}).items())
            lines.append(
                f"  {kind:<16} {entry['found']:>3} / {entry['wrong label']:>3} / {entry['wrong place']:>3} / "
                f"{entry['nothing']:>3}" + (f"   ({given})" if given else "")
            )
    lines += ["", "seconds per method, by length:"]
    for method, by_length in figures["seconds"].items():
        lines.append(f"  {method:<16} " + "  ".join(f"n={n}: {s:.1f}" for n, s in by_length.items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    from ts_florence.engine.clean_cases import clean_cases, score_case

    cases = clean_cases(args.seed, args.lengths, args.backgrounds, args.channels, args.kinds)
    if args.limit:
        cases = cases[: args.limit]
    if not cases:
        raise SystemExit("no case is left with these options")
    answers, seconds = {}, {}
    for method in args.methods:
        began = time.perf_counter()
        if method == "model":
            answers[method], seconds[method] = model_answers(args.model, cases)
        else:
            answers[method], seconds[method] = baseline_answers(method, cases)
        print(f"{method}: {len(cases)} cases in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    scores = {m: [score_case(c, a) for c, a in zip(cases, answers[m], strict=True)] for m in args.methods}
    lengths = list(dict.fromkeys(case.length for case in cases))
    return {
        "seed": args.seed,
        "cases": len(cases),
        "model": args.shown_model,
        "methods": list(args.methods),
        "summary": {
            m: summary(cases, scores[m], labelled=m == "model", channelled=_names_channels(answers[m]))
            for m in args.methods
        },
        "outcomes": {m: outcomes(cases, scores[m]) for m in args.methods},
        "seconds": {
            m: {n: sum(s for c, s in zip(cases, seconds[m], strict=True) if c.length == n) for n in lengths}
            for m in args.methods
        },
        "rows": [
            {
                "name": case.name,
                "kind": case.kind,
                "label": case.label,
                "background": case.background,
                "length": case.length,
                "channels": case.channels,
                "truth": {"span": case.span, "channel": case.channel},
                **{
                    m: {
                        **scores[m][i],
                        "spans": len(answers[m][i]["spans"]),
                        "answer": {k: v[:MAX_SPANS_KEPT] for k, v in answers[m][i].items() if isinstance(v, list)},
                    }
                    for m in args.methods
                },
            }
            for i, case in enumerate(cases)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    from ts_florence.engine.clean_cases import BACKGROUNDS, CHANNELS, KINDS, LENGTHS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved model folder (default: the bundled model)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--lengths", nargs="+", type=int, default=list(LENGTHS), help="series lengths (>= 100)")
    parser.add_argument("--backgrounds", nargs="+", choices=BACKGROUNDS, default=list(BACKGROUNDS))
    parser.add_argument("--channels", nargs="+", type=int, default=list(CHANNELS), help="channel counts (1..3)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), metavar="KIND", help=str(KINDS))
    parser.add_argument("--limit", type=int, default=0, help="only the first N cases (shortest first); 0: all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (numba runs on one)")
    parser.add_argument("--json", help="also write the figures and every case's answer here")
    args = parser.parse_args(argv)
    if min(args.lengths) < 100:
        parser.error("--lengths: clean cases have at least 100 samples")
    if not set(args.channels) <= {1, 2, 3}:
        parser.error("--channels: 1, 2 or 3")
    import torch

    torch.set_num_threads(args.threads)
    if "model" in args.methods:
        from ts_florence.bundled import default_model_path

        args.model = args.model or default_model_path()
        if args.model is None:
            parser.error("no model bundled with this installation: give --model")
        shown = Path(args.model).resolve()
        args.shown_model = str(shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown)
        args.model = str(args.model)
    else:
        args.shown_model = None
    figures = run(args)
    print(report(figures))
    if args.json:
        from ts_florence.io import write_text_in_place

        write_text_in_place(args.json, json.dumps(figures, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
