"""Chooses how each located task reads long series (window, and for anomalies the decoding), on the dev sets,
and saves it in the model.

    python scripts/choose_windows.py --model DIR                        # print the table of every candidate
    python scripts/choose_windows.py --model DIR --write                # and save the choice

The pipeline reads a task without `window=` in the model's own window for it (`generation_config.windows`, task ->
samples), and cell-decodes the tasks of `generation_config.cell_thresholds` (`ts_florence.cell_decoding`: spans
where the cell head's probability reaches the threshold, labelled by the decoder). This script scores each
candidate window (and the whole series), for a task the cell head predicts each with the decoder's own answer
("generate") and with cell decoding at each of `--cell-thresholds`, through the pipeline, scored as
`scripts/benchmark.py` scores the model, on the one dev set of each task: NAB's real series for `<ANOMALY_DETECTION>`
(event-wise F1 + affiliation F1, both of `ts_florence.evaluation.metrics`) and TSSB for `<CHANGE_POINT_DETECTION>`
(covering). These two sets are then tuning sets, not unseen: report other real sets as unseen. `--write` keeps the
best window (and threshold) of each task in `DIR/generation_config.json` (written in place). Tasks without a dev set
read whole and generate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ts_florence.benchmark import load_model, run_model, score
from ts_florence.cell_decoding import CELL_LABEL_CHOICES
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
    parser.add_argument(
        "--cell-thresholds",
        type=float,
        nargs="*",
        default=[0.1, 0.15, 0.2, 0.25, 0.3, 0.4],
        help="cell-decoding thresholds tried for the tasks the cell head predicts (none: generate only)",
    )
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
    windows: dict[str, int] = {}
    thresholds: dict[str, float] = {}
    for task in args.tasks:
        key, metrics = OBJECTIVES[task]
        cases = [c for c in loaders[key](args.dev_data, None).cases if task in c.examples]
        examples = [c.examples[task] for c in cases]
        decodings: list[float | bool] = [False]
        if task in CELL_LABEL_CHOICES and pipe.model.cell_head is not None:
            decodings += args.cell_thresholds
        print(f"\n{task} on {key} ({len(cases)} series), maximising {' + '.join(metrics)}")
        print(f"| window | decoding | {' | '.join(metrics)} | sum |\n|---|---|{'---:|' * (len(metrics) + 1)}")
        results = {}
        for window in [*args.windows, "whole"]:
            for decoding in decodings:
                generate = {"max_new_tokens": args.max_new_tokens, "num_beams": 1}
                preds, _ = run_model(
                    pipe, cases, task, window, 0.25, args.batch_size, generate, args.threads, False,
                    cell_threshold=decoding,
                )  # fmt: skip
                found = score(task, examples, preds, typed=False)
                results[window, decoding] = sum(found[m] for m in metrics)
                name = "generate" if decoding is False else f"cells >= {decoding}"
                cells = " | ".join(f"{found[m]:.3f}" for m in metrics)
                print(f"| {window} | {name} | {cells} | {results[window, decoding]:.3f} |", flush=True)
        window, decoding = max(results, key=results.get)
        print(f"chosen: window {window}, {'generate' if decoding is False else f'cells >= {decoding}'}")
        if window != "whole":
            windows[task] = int(window)
        if decoding is not False:
            thresholds[task] = float(decoding)
    print(f"\ngeneration_config.windows = {windows}\ngeneration_config.cell_thresholds = {thresholds}")
    if args.write:
        path = update_generation_config(args.model, windows=windows or None, cell_thresholds=thresholds or None)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
