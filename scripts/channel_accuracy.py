"""How often the spans a model places right on multivariate series also name the right channel.

    python scripts/channel_accuracy.py --split eval                       # the bundled model, the frozen split
    python scripts/channel_accuracy.py --split train --examples 300 --json channels.json

The pipeline (`time-series-prompting` with its defaults: `generation_config.windows` and `cell_thresholds`, so
anomalies are cell-decoded) answers up to `--examples` multivariate series of `--split` per task that carry exact
truth (synthetic and semi-synthetic records; the truth is the record's own spans of the task's kind, in samples, as
`TaskSpec.extract` gives them) and hold at least one true span of the task (a series without one has no span to
match). The records are taken in a fixed random order (seed `SEED`); on the training split only those of the
sources the frozen split holds, read from the frozen split's `source` column alone. The scores are the task's own
scorer's (`ts_florence.evaluation.scorers`, the channel scores: `channel_accuracy` at IoU 0.5 and 0.1), beside span
F1 at IoU 0.5 (types must match), the count of each channel outcome of the spans matched at IoU 0.5
(`metrics.CHANNEL_OUTCOMES`: right, None for a defect on one channel, another channel, a channel for a defect on
every channel) and, per origin of a matched span (`written`: the decoder's answer, `cell`: a span the cell head
added, `ts_florence.cell_decoding`), how many name the true channel.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


from ts_florence.evaluation.metrics import CHANNEL_OUTCOMES  # noqa: E402
from ts_florence.records import load_split, truth_order  # noqa: E402
from ts_florence.tasks import get_task  # noqa: E402

TASKS = ("<ANOMALY_DETECTION>", "<EVENT_DETECTION>")
SEED = 0
"""Seed of the order in which a split's records are taken."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a ts-florence model folder (default: the bundled model)")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="a corpus folder (data/<split>-*.parquet)")
    parser.add_argument("--split", default="eval", help="the split to measure (eval: the frozen split)")
    parser.add_argument("--examples", type=int, default=1000, help="at most this many series per task")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="every figure, and each series' truth and answer")
    args = parser.parse_args(argv)
    if args.examples < 1 or args.batch_size < 1 or args.threads < 1:
        parser.error("--examples, --batch-size and --threads must be at least 1")
    return args


def multivariate_examples(corpus: Path, split: str, task: str, count: int, sources: set[str] | None = None):
    """Up to `count` `Example`s of `task` from multivariate records of `split` with exact truth holding a true span
    (and a source in `sources`, when given), in a fixed random order (seed `SEED`); and how many records with
    exact truth the split has."""
    from ts_florence.evaluation.examples import Example, truth_pairs

    data = load_split(corpus, split)
    chosen = []
    for values, truth in truth_pairs(data, task, sources, SEED):
        if values.shape[1] > 1 and truth["spans"]:
            chosen.append(Example(task, None, "", truth, values))
        if len(chosen) == count:
            break
    return chosen, len(truth_order(data, sources))


def answers(pipe, task: str, examples: list, batch_size: int) -> list[dict]:
    """The pipeline's result of `task` on each example, with `origin`: per span, `written` (the decoder's) or
    `cell` (added by cell decoding)."""
    from tqdm.auto import tqdm

    cell_decoded = task in (getattr(pipe.model.generation_config, "cell_thresholds", None) or {})
    found = []
    for begin in tqdm(range(0, len(examples), batch_size), desc=task, unit="batch", leave=False):
        batch = examples[begin : begin + batch_size]
        cell = pipe([ex.values for ex in batch], task=task, batch_size=batch_size)
        written = cell
        if cell_decoded:
            written = pipe([ex.values for ex in batch], task=task, batch_size=batch_size, cell_threshold=False)
        for both, alone in zip(cell, written, strict=True):
            # A cell-decoded answer is the decoder's items (on their cell-head channel), then the added spans.
            result, own = both[task], len(alone[task]["spans"])
            result["origin"] = ["written" if i < own else "cell" for i in range(len(result["spans"]))]
            found.append(result)
    return found


def origin_accuracy(examples: list, preds: list[dict]) -> dict[str, dict[str, int]]:
    """Per origin of a span, the spans matched at IoU 0.5 and those of them with the true channel."""
    from ts_florence.evaluation.metrics import channel_agreement

    out = {}
    for origin in ("written", "cell"):
        kept = [
            {key: [v for v, o in zip(p[key], p["origin"], strict=True) if o == origin] for key in ("spans", "channels")}
            for p in preds
        ]
        found = channel_agreement(kept, [ex.truth for ex in examples], 0.5)
        out[origin] = {"matched": found["matched"], "right": found["right"]}
    return out


def measure(pipe, args: argparse.Namespace, task: str) -> dict:
    sources = set(load_split(args.corpus, "eval")["source"]) if args.split != "eval" else None
    examples, pool = multivariate_examples(args.corpus, args.split, task, args.examples, sources)
    from ts_florence.evaluation.metrics import channel_agreement

    preds = answers(pipe, task, examples, args.batch_size)
    scores = get_task(task).score(examples, preds)
    return {
        "split": args.split,
        "series": len(examples),
        "records_with_truth": pool,
        "true_spans": sum(len(ex.truth["spans"]) for ex in examples),
        "predicted_spans": sum(len(p["spans"]) for p in preds),
        "scores": {name: value for name, value in scores.items() if value is not None},
        "outcomes": channel_agreement(preds, [ex.truth for ex in examples], 0.5),
        "by_origin": origin_accuracy(examples, preds),
        "series_results": [
            {"truth": ex.truth, "found": {k: v for k, v in p.items() if k != "timestamps"}}
            for ex, p in zip(examples, preds, strict=True)
        ],
    }


def table(found: dict[str, dict]) -> list[str]:
    names = ["f1@0.5", "channel_accuracy", "channel_accuracy@0.1"]
    lines = [
        "| task | split | series | true / predicted spans | "
        + " | ".join(names)
        + " | matched at 0.5: "
        + " / ".join(CHANNEL_OUTCOMES)
        + " | written right / matched | cell right / matched |",
        "|---|---|---:|---:|" + "---:|" * (len(names) + 3),
    ]
    for task, f in found.items():
        cells = [f"`{task}`", f["split"], str(f["series"]), f"{f['true_spans']} / {f['predicted_spans']}"]
        cells += [f"{f['scores'][n]:.3f}" if n in f["scores"] else "" for n in names]
        cells.append(" / ".join(str(f["outcomes"][o]) for o in CHANNEL_OUTCOMES))
        cells += [f"{o['right']} / {o['matched']}" for o in f["by_origin"].values()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from transformers import pipeline

    import ts_florence

    torch.set_num_threads(args.threads)
    pipe = pipeline("time-series-prompting", model=str(args.model or ts_florence.pretrained_path()))
    with torch.inference_mode():
        found = {task: measure(pipe, args, task) for task in args.tasks}
    print("\n".join(table(found)))
    if args.json:
        from ts_florence.io import write_text_in_place

        write_text_in_place(args.json, json.dumps(found, indent=1, default=float) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
