"""Choose each located task's end threshold on the frozen split and save them in the model's generation config.

Greedy decoding ends an answer whenever `</s>` is the single most likely token, even when "something is there" is
likelier but split between labels; `EndThresholdLogitsProcessor` ends it only when P(`</s>`) reaches a threshold.
This script scores greedy decoding and every threshold of `--thresholds` on frozen-split series that
`scripts/benchmark.py` does not score (outside its seed-0 subsample), picks per task the one with the best main
metric, and with `--write` saves `end_thresholds` (`{task: threshold}`, only where a threshold beats greedy) into
`DIR/generation_config.json`, which generation then applies to the rows of those tasks.

    python scripts/choose_end_thresholds.py --model runs/tiny-reads --data corpus             # print the table
    python scripts/choose_end_thresholds.py --model runs/tiny-reads --data corpus --write     # and save the choice
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from ts_florence.evaluation.datasets import MAIN_METRIC

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved model folder")
    parser.add_argument("--data", default="corpus", help="an engine corpus folder (its frozen `eval` split)")
    parser.add_argument("--tasks", nargs="+", default=list(MAIN_METRIC), choices=list(MAIN_METRIC))
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.8, 0.9, 0.95])
    parser.add_argument("--limit", type=int, default=200, help="examples per task")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write", action="store_true", help="save the choice into the model's generation config")
    args = parser.parse_args(argv)
    if not all(0 < t < 1 for t in args.thresholds):
        parser.error("--thresholds are probabilities in (0, 1)")
    return args


def held_out_of_benchmark(records) -> list[int]:
    """Rows of the frozen split that `scripts/benchmark.py` leaves out of its default subsample."""
    from ts_florence.evaluation.datasets import DEFAULT_LIMITS, subsample

    scored = set(subsample(len(records), DEFAULT_LIMITS["frozen"]))
    return [i for i in range(len(records)) if i not in scored]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor

    import ts_florence  # noqa: F401 - registers the Auto classes
    from ts_florence.evaluation.runner import evaluate_model
    from ts_florence.records import load_split

    model = AutoModelForSeq2SeqLM.from_pretrained(args.model).eval()
    processor = AutoProcessor.from_pretrained(args.model)
    records = load_split(Path(args.data), "eval")
    records = records.select(held_out_of_benchmark(records))
    print(f"model {args.model}; {len(records)} frozen-split series outside the benchmark's subsample; "
          f"{args.limit} examples per task")  # fmt: skip
    chosen: dict[str, float] = {}
    print(f"{'task':28s} {'metric':9s} {'greedy':>7s} " + " ".join(f"{t:>6g}" for t in args.thresholds))
    for task in args.tasks:
        metric, row = MAIN_METRIC[task], []
        for threshold in [None, *args.thresholds]:
            model.generation_config.end_threshold = threshold
            report = evaluate_model(model, processor, records, [task], limit=args.limit, progress=False)
            row.append(report["scores"][task].get(metric))
        model.generation_config.end_threshold = None
        if row[0] is None:
            print(f"{task:28s} {metric:9s}  no example")
            continue
        best = max(range(len(row)), key=lambda i: (row[i], i == 0))  # ties keep greedy
        if best > 0:
            chosen[task] = args.thresholds[best - 1]
        print(f"{task:28s} {metric:9s} {row[0]:7.3f} " + " ".join(f"{v:6.3f}" for v in row[1:]))
    print(f"chosen end thresholds: {chosen or 'none (greedy is best everywhere)'}")
    if args.write:
        from ts_florence.io import update_generation_config

        print(f"written to {update_generation_config(args.model, end_thresholds=chosen or None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
