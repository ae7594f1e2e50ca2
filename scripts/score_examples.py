"""What a model finds on the README's example series (`examples/`, written by `examples/make_examples.py`),
beside their known anomalies, and how well: F1@0.5 (one-to-one matching at IoU >= 0.5, labels ignored, as
`scripts/benchmark.py`'s span metrics), the same with labels, and event-wise F1, over the whole example set.

    python scripts/score_examples.py                      # the bundled model
    python scripts/score_examples.py --model DIR --json examples.json

Series longer than `--window` samples are read in windows of that length; by default the longest series of the
engine's default build recipe (`sources.max_length`, as `scripts/benchmark.py --model-window auto`), the length a
model trained on its corpus reads best.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
TASK = "<ANOMALY_DETECTION>"


def run_examples(pipe, folder: Path, window: int) -> list[dict]:
    """One row per example of `folder/truth.json`: its truth and what the pipeline found."""
    from ts_florence.io import read_series

    rows = []
    for name, truth in json.loads((folder / "truth.json").read_text()).items():
        series = read_series(folder / name)
        kwargs = {"window": window} if len(series.values) > window else {}
        found = pipe(series.values, timestamps=series.timestamps, task=truth["task"], **kwargs)[truth["task"]]
        rows.append({"name": name, "channels": series.channel_names, "truth": truth["anomalies"], "found": found})
    return rows


def scores(rows: list[dict]) -> dict[str, float]:
    from ts_florence.evaluation.metrics import event_f1_corpus, span_prf_corpus

    preds = [row["found"]["spans"] for row in rows]
    trues = [[[a["start"], a["end"]] for a in row["truth"]] for row in rows]
    typed = span_prf_corpus(
        preds,
        trues,
        pred_labels=[row["found"]["labels"] for row in rows],
        true_labels=[[a["label"] for a in row["truth"]] for row in rows],
    )
    return {
        "f1@0.5": span_prf_corpus(preds, trues)["f1"],
        "typed f1@0.5": typed["f1"],
        "event_f1": event_f1_corpus(preds, trues)["f1"],
        "found": sum(len(p) for p in preds),
        "true": sum(len(t) for t in trues),
    }


def report(rows: list[dict], totals: dict[str, float]) -> str:
    lines = []
    for row in rows:
        lines.append(f"{row['name']}")
        for a in row["truth"]:
            channel = "" if a["channel"] is None else f" ({row['channels'][a['channel']]})"
            lines.append(f"  truth  [{a['start']}, {a['end']}) {a['label']}{channel}")
        found = row["found"]
        for i, (start, end) in enumerate(found["spans"]):
            channel = found.get("channels", [None] * len(found["spans"]))[i]
            where = "" if channel is None else f" ({row['channels'][channel]})"
            lines.append(f"  found  [{start}, {end}) {found['labels'][i]}{where}  score {found['scores'][i]:.2f}")
        if not found["spans"]:
            lines.append("  found  nothing")
    lines.append(
        f"example set: F1@0.5 {totals['f1@0.5']:.3f} (labels ignored), {totals['typed f1@0.5']:.3f} (labels "
        f"equal), event-wise F1 {totals['event_f1']:.3f}; {totals['found']} spans found, {totals['true']} true"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved model folder (default: the bundled model)")
    parser.add_argument("--examples", default=str(ROOT / "examples"), help="folder with truth.json and the series")
    parser.add_argument("--window", type=int, help="samples per window (default: the build recipe's max_length)")
    parser.add_argument("--json", help="also write the rows and scores here")
    args = parser.parse_args(argv)
    from ts_florence.bundled import default_model_path
    from ts_florence.cli import load_pipeline

    model = args.model or default_model_path()
    if model is None:
        parser.error("no model bundled with this installation: give --model")
    if args.window is None:
        from ts_florence.engine.build import load_config

        args.window = int(load_config(None).sources.max_length)
    rows = run_examples(load_pipeline(model), Path(args.examples), args.window)
    totals = scores(rows)
    shown = Path(model).resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown  # no path of this machine in reports
    print(f"model {shown}")
    print(report(rows, totals))
    if args.json:
        from ts_florence.io import write_text_in_place

        report_json = {"model": str(shown), "rows": rows, "scores": totals}
        write_text_in_place(args.json, json.dumps(report_json, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
