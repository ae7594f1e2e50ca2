"""Chooses the window each located task reads long series in, on the dev sets, and saves it in the model.

    python scripts/choose_windows.py --model DIR                        # print the table of every candidate
    python scripts/choose_windows.py --model DIR --write                # and save the choice

The pipeline reads a task without `window=` in the model's own window for it (`generation_config.windows`, task ->
samples). This script scores each candidate window (and the whole series) through the pipeline, scored as
`scripts/benchmark.py` scores the model, on the one dev set of each task: NAB's real series for `<ANOMALY_DETECTION>`
(event-wise F1 + affiliation F1, both of `ts_florence.evaluation.metrics`) and TSSB for `<CHANGE_POINT_DETECTION>`
(covering). These two sets are then tuning sets, not unseen: report other real sets as unseen. `--write` keeps the
best window of each task in `DIR/generation_config.json` (written in place). Tasks without a dev set read whole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ts_florence.benchmark import load_model, run_model, score
from ts_florence.evaluation.datasets import ANOMALY, POINTS, load_nab, load_tssb
from ts_florence.io import update_generation_config

ROOT = Path(__file__).resolve().parents[1]

OBJECTIVES = {ANOMALY: ("nab", ("event_f1", "affiliation_f1")), POINTS: ("tssb", ("covering",))}
"""Task -> (dev set, the metrics whose sum is maximised)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="a ts-florence checkpoint folder")
    parser.add_argument("--dev-data", type=Path, default=ROOT.parent / "shared" / "data", help="tssb/ and nab/")
    parser.add_argument("--windows", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--tasks", nargs="+", choices=sorted(OBJECTIVES), default=sorted(OBJECTIVES))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="save the choice into the model's generation config")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pipe = load_model(args.model, None)
    loaders = {"nab": load_nab, "tssb": load_tssb}
    chosen: dict[str, int] = {}
    for task in args.tasks:
        key, metrics = OBJECTIVES[task]
        cases = [c for c in loaders[key](args.dev_data, None).cases if task in c.examples]
        examples = [c.examples[task] for c in cases]
        print(f"\n{task} on {key} ({len(cases)} series), maximising {' + '.join(metrics)}")
        print(f"| window | {' | '.join(metrics)} | sum |\n|---|{'---:|' * (len(metrics) + 1)}")
        results = {}
        for window in [*args.windows, "whole"]:
            generate = {"max_new_tokens": args.max_new_tokens, "num_beams": 1}
            preds, _ = run_model(pipe, cases, task, window, 0.25, args.batch_size, generate, args.threads, False)
            found = score(task, examples, preds, typed=False)
            results[window] = sum(found[m] for m in metrics)
            print(f"| {window} | {' | '.join(f'{found[m]:.3f}' for m in metrics)} | {results[window]:.3f} |")
        best = max(results, key=results.get)
        print(f"chosen: {best}")
        if best != "whole":
            chosen[task] = int(best)
    print(f"\ngeneration_config.windows = {chosen}")
    if args.write:
        print(f"written to {update_generation_config(args.model, windows=chosen or None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
