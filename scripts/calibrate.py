"""Fits the calibration of a model's item scores per task, measures it on the frozen split, and saves it in the model.

    python scripts/calibrate.py --model DIR --corpus corpus [--fit-split train] [--examples 300] [--threads 1] \\
        [--write] [--plot docs/images/calibration_reliability.png] [--json calibration.json]

For `<ANOMALY_DETECTION>`, `<EVENT_DETECTION>` and `<CHANGE_POINT_DETECTION>`, the pipeline (`time-series-prompting`
with the model's own decoding: `generation_config.windows` and `cell_thresholds`; `calibrate=False`) answers
`--examples` series of each split that carry exact truth (synthetic and semi-synthetic records; the truth is the
record's own spans or change points, in samples, as `TaskSpec.extract` gives them). By default the fitting records
are those of the sources the frozen split holds (`--fit-sources matched`: the generator and the packages whose
windows it injects into; the training split also holds sources the frozen split has none of, such as the
shape-regime series, whose change points the model finds far less often); `--fit-sources all` takes every record
with exact truth. Only the records' sources are read from the frozen split for this, never its answers. Every scored
item is right or not as `ts_florence.evaluation.calibration.item_outcomes` says (a span matched at IoU >= 0.5, a
change point within 1% of the length). On the `--fit-split` items, per task, an isotonic map and a temperature are
fitted on 70% and the one with the lower ECE on the other 30% is refitted on all of them (`choose_calibration`). The
frozen split (`--eval-split`) is only measured: expected calibration error (10 equal-width bins) of the raw and of
the calibrated scores, printed per task, with the reliability diagram of both (`--plot`, a PNG) and every figure
(`--json`, the input of `scripts/make_cards.py --calibration`).

`--write` keeps in `DIR/generation_config.json` (written in place), under `calibration`, the map of each task whose
frozen-split ECE it lowers; a task it does not lower keeps no map (its raw scores are returned).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from ts_florence.calibration import CALIBRATION_KEY, calibrate_scores, calibrations  # noqa: E402
from ts_florence.evaluation.calibration import CALIBRATION_IOU, choose_calibration, item_outcomes  # noqa: E402
from ts_florence.evaluation.examples import truth_pairs  # noqa: E402
from ts_florence.evaluation.metrics import CALIBRATION_BINS, expected_calibration_error, reliability_bins  # noqa: E402
from ts_florence.evaluation.scorers import CHANGE_POINT_MARGIN  # noqa: E402
from ts_florence.io import update_generation_config, write_text_in_place  # noqa: E402
from ts_florence.records import load_split, truth_order  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("<ANOMALY_DETECTION>", "<EVENT_DETECTION>", "<CHANGE_POINT_DETECTION>")
SEED = 0
"""Seed of the order in which each split's records are taken."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="a ts-florence model folder")
    parser.add_argument("--corpus", required=True, type=Path, help="a corpus folder (data/<split>-*.parquet)")
    parser.add_argument("--fit-split", default="train", help="the split the maps are fitted on (not the frozen one)")
    parser.add_argument("--eval-split", default="eval", help="the frozen split, only measured")
    parser.add_argument(
        "--fit-sources",
        choices=("matched", "all"),
        default="matched",
        help="fit on records of the sources the frozen split holds (matched) or on every record with exact truth",
    )
    parser.add_argument("--examples", type=int, default=300, help="series per task and split")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="save the maps that help into the model's config")
    parser.add_argument("--plot", type=Path, help="the reliability diagram, before and after (PNG)")
    parser.add_argument("--json", type=Path, help="every figure, for scripts/make_cards.py --calibration")
    args = parser.parse_args(argv)
    if args.fit_split == args.eval_split:
        parser.error(f"--fit-split {args.fit_split} is the frozen split: fit on other data")
    if args.examples < 1 or args.batch_size < 1 or args.threads < 1:
        parser.error("--examples, --batch-size and --threads must be at least 1")
    return args


def split_sources(corpus: Path, split: str) -> set[str]:
    """The `source` of every record of `split`."""
    return set(load_split(corpus, split)["source"])


def truth_examples(
    corpus: Path, split: str, task: str, count: int, sources: set[str] | None = None
) -> tuple[list[tuple], int]:
    """Up to `count` `(values [time x channels], exact truth, length)` of `task` from records of `split` with exact
    truth (and a source in `sources`, when given), taken in a fixed random order (seed `SEED`); and how many such
    records the split has."""
    data = load_split(corpus, split)
    chosen = []
    for values, truth in truth_pairs(data, task, sources, SEED):
        chosen.append((values, truth, values.shape[0]))
        if len(chosen) == count:
            break
    return chosen, len(truth_order(data, sources))


def outcomes(pipe, task: str, examples: list[tuple], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores and rightness of every item the pipeline gives on `examples`."""
    from tqdm.auto import tqdm

    found = []
    for begin in tqdm(range(0, len(examples), batch_size), desc=task, unit="batch", leave=False):
        batch = examples[begin : begin + batch_size]
        results = pipe([values for values, _, _ in batch], task=task, batch_size=batch_size, calibrate=False)
        for (_, truth, n), result in zip(batch, results, strict=True):
            found += item_outcomes(task, result[task], truth, n)
    return np.asarray([s for s, _ in found], dtype=np.float64), np.asarray([h for _, h in found], dtype=bool)


def measure_task(pipe, args: argparse.Namespace, task: str) -> dict:
    """Fits the map of `task` on the fitting split and measures it on the frozen split."""
    sources = split_sources(args.corpus, args.eval_split) if args.fit_sources == "matched" else None
    fit_examples, fit_pool = truth_examples(args.corpus, args.fit_split, task, args.examples, sources)
    eval_examples, eval_pool = truth_examples(args.corpus, args.eval_split, task, args.examples)
    fit_scores, fit_hits = outcomes(pipe, task, fit_examples, args.batch_size)
    entry, held_out = choose_calibration(task, fit_scores, fit_hits)
    scores, hits = outcomes(pipe, task, eval_examples, args.batch_size)
    calibrated = calibrate_scores(scores.tolist(), entry)
    return {
        "entry": entry,
        "fit": {
            "split": args.fit_split,
            "sources": args.fit_sources,
            "series": len(fit_examples),
            "records_with_truth": fit_pool,
            "items": len(fit_scores),
            "right": int(fit_hits.sum()),
            "held_out_ece": held_out,
        },
        "frozen": {
            "split": args.eval_split,
            "series": len(eval_examples),
            "records_with_truth": eval_pool,
            "items": len(scores),
            "right": int(hits.sum()),
            "ece_before": expected_calibration_error(scores, hits),
            "ece_after": expected_calibration_error(calibrated, hits),
            "bins_before": reliability_bins(scores, hits),
            "bins_after": reliability_bins(calibrated, hits),
        },
    }


def table(found: dict[str, dict]) -> list[str]:
    lines = [
        "| task | fit series / items | held-out ECE raw / isotonic / temperature | chosen | frozen series / items "
        "| frozen ECE before | after |",
        "|---|---:|---|---|---:|---:|---:|",
    ]
    for task, f in found.items():
        held = f["fit"]["held_out_ece"]
        lines.append(
            f"| `{task}` | {f['fit']['series']} / {f['fit']['items']} | {held['raw']:.4f} / {held['isotonic']:.4f} / "
            f"{held['temperature']:.4f} | {f['entry']['method']} | {f['frozen']['series']} / {f['frozen']['items']} "
            f"| {f['frozen']['ece_before']:.4f} | {f['frozen']['ece_after']:.4f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from transformers import pipeline

    import ts_florence  # noqa: F401  (registers the pipeline)

    torch.set_num_threads(args.threads)
    pipe = pipeline("time-series-prompting", model=str(args.model))
    with torch.inference_mode():
        found = {task: measure_task(pipe, args, task) for task in args.tasks}
    print("\n".join(table(found)))
    lowered = {task: f["entry"] for task, f in found.items() if f["frozen"]["ece_after"] < f["frozen"]["ece_before"]}
    for task in sorted(set(found) - set(lowered)):
        print(f"{task}: the map does not lower the frozen split's ECE; not kept")
    settings = {
        "model_reads": "the pipeline's defaults (generation_config windows and cell thresholds)",
        "bins": CALIBRATION_BINS,
        "iou": CALIBRATION_IOU,
        "change_point_margin": CHANGE_POINT_MARGIN,
        "truth": "exact (synthetic and semi-synthetic records)",
    }
    report = {"settings": settings, "tasks": {t: {**f, "kept": t in lowered} for t, f in found.items()}}
    if args.json:
        write_text_in_place(args.json, json.dumps(report, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if args.plot:
        from ts_florence.plotting import plot_reliability

        diagrams = {
            task.strip("<>"): {
                f"raw (ECE {f['frozen']['ece_before']:.3f})": f["frozen"]["bins_before"],
                f"calibrated (ECE {f['frozen']['ece_after']:.3f})": f["frozen"]["bins_after"],
            }
            for task, f in found.items()
        }
        plot_reliability(diagrams, args.plot, title=f"item scores on the frozen split ({args.model.name})")
        print(f"reliability diagram written to {args.plot}")
    if args.write:
        kept = {t: e for t, e in calibrations(pipe.model.generation_config).items() if t not in found}
        path = update_generation_config(args.model, **{CALIBRATION_KEY: {**kept, **lowered} or None})
        print(f"calibration of {sorted(lowered) or 'no task'} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
