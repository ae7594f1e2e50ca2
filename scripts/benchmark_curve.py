"""The real-data benchmark over a training run's steps: every checkpoint of a run on NAB's real series
(`<ANOMALY_DETECTION>`, event-wise and affiliation F1) and TSSB (`<CHANGE_POINT_DETECTION>`, covering and F1),
through the pipeline, scored as `scripts/benchmark.py` scores the model.

    python scripts/benchmark_curve.py --run runs/real-1 --start ts_florence/pretrained/ts-florence-tiny \\
        --step-offset 14000 --out runs/real-1/curve.json

Every checkpoint is read with the same decoding: the windows and cell thresholds of `--settings-from` (default:
the bundled model's `generation_config`), so that the curve shows what training changed, not what a checkpoint's
own settings would. `--start` adds the model the run started from as its step 0. Steps are the run's plus
`--step-offset` (the steps of the model it started from); a finished run's final model (`train_results.json`)
is its last step. The curve is resumable: steps already in `--out` are
skipped, so running it again as checkpoints appear adds only the new ones. `scripts/make_cards.py --curve` puts it in
the model card. NAB and TSSB are the tuning sets of `scripts/choose_windows.py`, not unseen data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ts_florence.benchmark import CURVE_TASKS, curve_markdown, load_model, run_model, score
from ts_florence.bundled import default_model_path
from ts_florence.evaluation.datasets import load_nab, load_tssb
from ts_florence.io import write_text_in_place
from ts_florence.training.checkpoints import checkpoints

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("windows", "cell_thresholds")
"""The decoding choices of `generation_config` that every checkpoint is read with."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a training output folder (checkpoints/step-N)")
    parser.add_argument("--start", type=Path, default=None, help="the model the run started from (step 0)")
    parser.add_argument("--step-offset", type=int, default=0, help="steps of the model the run started from")
    parser.add_argument("--settings-from", type=Path, default=None, help="model whose decoding settings are used")
    parser.add_argument("--dev-data", type=Path, default=ROOT / ".." / "shared" / "data", help="tssb/ and nab/")
    parser.add_argument("--datasets", nargs="+", choices=sorted(CURVE_TASKS), default=sorted(CURVE_TASKS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="the curve (JSON), read first if it exists")
    parser.add_argument("--note", default=None, help="what the run was (kept in the curve, shown in the model card)")
    return parser.parse_args(argv)


def decoding_settings(model: Path) -> dict:
    """The `SETTINGS` of the `generation_config.json` of `model` (absent ones as None)."""
    config = json.loads((model / "generation_config.json").read_text())
    return {name: config.get(name) for name in SETTINGS}


def evaluate(model: Path, settings: dict, args: argparse.Namespace) -> dict:
    """`{data set: {metric: value}}` of `model` read with `settings`, on `args.datasets`."""
    pipe = load_model(model, None)
    for name, value in settings.items():
        setattr(pipe.model.generation_config, name, value)
    loaders = {"nab": load_nab, "tssb": load_tssb}
    out = {}
    for key in args.datasets:
        task, metrics = CURVE_TASKS[key]
        cases = [c for c in loaders[key](args.dev_data, None).cases if task in c.examples]
        generate = {"max_new_tokens": args.max_new_tokens, "num_beams": 1}
        preds, _ = run_model(pipe, cases, task, None, 0.25, args.batch_size, generate, args.threads, False)
        found = score(task, [c.examples[task] for c in cases], preds, typed=False)
        out[key] = {m: round(float(found[m]), 4) for m in metrics}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    found = checkpoints(args.run)
    if not found and args.start is None:
        raise SystemExit(f"error: {args.run} has no checkpoints (checkpoints/step-N) and no --start was given")
    settings = decoding_settings(args.settings_from or default_model_path())
    curve = json.loads(args.out.read_text()) if args.out.exists() else {"settings": settings, "points": []}
    if curve["settings"] != settings:
        raise SystemExit(
            f"error: {args.out} was measured with the settings {curve['settings']}, not {settings}: "
            "give another --out or the same --settings-from"
        )
    models = ([(args.step_offset, args.start)] if args.start else []) + [
        (args.step_offset + int(p.name.split("-")[1]), p) for p in found
    ]
    results = args.run / "train_results.json"  # the finished run's own model, at its last step
    if results.is_file() and (args.run / "config.json").is_file():
        models.append((args.step_offset + int(json.loads(results.read_text())["steps"]), args.run))
    if args.note:
        curve["note"] = args.note
        write_text_in_place(args.out, json.dumps(curve, indent=1) + "\n")
    done = {point["step"] for point in curve["points"]}
    for step, model in models:
        if step in done:
            continue
        start = time.perf_counter()
        scores = evaluate(model, settings, args)
        curve["points"].append({"step": step, "model": str(model), **scores})
        curve["points"].sort(key=lambda point: point["step"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_in_place(args.out, json.dumps(curve, indent=1) + "\n")
        print(f"step {step:,} ({model}): {scores} in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\nread with {settings}\n\n{curve_markdown(curve)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
