"""Fine-tune a ts-florence model for classification on UCR datasets that aeon bundles, beside aeon's MiniRocket
trained on the same split in the same run.

    python scripts/finetune_ucr.py --model runs/tiny --datasets GunPoint ItalyPowerDemand ArrowHead --seeds 0 1 2

For each dataset and seed: the UCR train split becomes a (series, label) table, `training/train.py` fine-tunes the
model through `<CLASSIFICATION>` (`training/configs/finetune.yaml`, `--steps` steps at `--learning-rate`), and the
fine-tuned model labels the UCR test split with the most likely of the training labels (the pipeline's
`candidate_labels`; free generation is scored too, as a second column); MiniRocket (aeon) is fitted on the same train
split with the same seed and scored on the same test split. A linear probe of the model's frozen features and 1-NN
on the raw series give two more references. Prints markdown tables of test accuracy (with mean ± standard deviation
over seeds) and writes them, with the settings, to `--out`/results.json; `--summarise` prints the tables of several
results files together.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ts_florence.io import directory_in_place, write_text_in_place

ROOT = Path(__file__).resolve().parents[1]
# Held fixed in the probing phase of --probe-steps: everything before BART's decoder.
ENCODERS = '["model.series_tower", "model.multi_modal_projector", "model.language_model.encoder"]'
LOADERS = {
    "GunPoint": "load_gunpoint",
    "ItalyPowerDemand": "load_italy_power_demand",
    "ArrowHead": "load_arrow_head",
    "BasicMotions": "load_basic_motions",
    "OSULeaf": "load_osuleaf",
}


def load_ucr(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) of a dataset bundled with aeon (no download); X is `[n, channels, time]`."""
    import aeon.datasets

    if name not in LOADERS:
        raise SystemExit(f"error: unknown dataset {name!r}; bundled with aeon: {', '.join(LOADERS)}")
    loader = getattr(aeon.datasets, LOADERS[name])
    x_train, y_train = loader(split="train")
    x_test, y_test = loader(split="test")
    return (
        np.asarray(x_train, float),
        np.asarray(y_train).astype(str),
        np.asarray(x_test, float),
        np.asarray(y_test).astype(str),
    )


def minirocket_accuracy(x_train, y_train, x_test, y_test, seed: int) -> tuple[float, float]:
    from aeon.classification.convolution_based import MiniRocketClassifier

    threads = torch.get_num_threads()
    start = time.perf_counter()
    classifier = MiniRocketClassifier(random_state=seed)
    classifier.fit(x_train, y_train)
    accuracy = float(np.mean(classifier.predict(x_test) == y_test))
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)  # numba's OpenMP start-up raises torch's thread count past OMP_NUM_THREADS
    return accuracy, seconds


def nearest_neighbour_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of 1-NN with Euclidean distance on the raw series, the UCR archive's reference classifier."""
    from sklearn.neighbors import KNeighborsClassifier

    classifier = KNeighborsClassifier(n_neighbors=1).fit(x_train.reshape(len(x_train), -1), y_train)
    return float(np.mean(classifier.predict(x_test.reshape(len(x_test), -1)) == y_test))


@functools.cache
def _load(model_dir: str):
    from ts_florence import TSFlorenceForConditionalGeneration, TSFlorenceProcessor

    return TSFlorenceForConditionalGeneration.from_pretrained(model_dir).eval(), TSFlorenceProcessor.from_pretrained(
        model_dir
    )


def series_features(model_dir: str | Path, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """`[n x tokens*d_model]`: what the decoder of a model reads of each univariate series of `x` under the
    `<CLASSIFICATION>` prompt (the text encoder's output at the `<series>` placeholders), flattened."""
    model, processor = _load(str(model_dir))
    rows = []
    for begin in range(0, len(x), batch_size):
        inputs = processor(series=[row[0] for row in x[begin : begin + batch_size]], text="<CLASSIFICATION>")
        with torch.no_grad():
            hidden = model.encode(**inputs).last_hidden_state
        placeholders = inputs["input_ids"] == model.config.series_token_id
        rows.extend(hidden[i][placeholders[i]].flatten().numpy() for i in range(len(hidden)))
    return np.stack(rows)


def linear_probe_accuracy(model_dir: str | Path, x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of the classifier MiniRocket puts on its random convolutions (ridge regression, penalty by
    leave-one-out cross-validation) put instead on the frozen series features of `model_dir`: how much of the
    classes the pretrained representation already separates, without fine-tuning."""
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))
    probe.fit(series_features(model_dir, x_train), y_train)
    return float(np.mean(probe.predict(series_features(model_dir, x_test)) == y_test))


def held_out_in_pretraining(model: str, name: str) -> str:
    """Whether the pretraining run of `model` left the dataset out ("yes"/"NO", or "unknown" without a
    run_config.yaml): the engine corpus can hold UCR train *and test* series with their class labels."""
    import yaml

    from ts_florence.data import source_excluded

    config = Path(model) / "run_config.yaml"
    if not config.exists():
        return "unknown"
    run = yaml.safe_load(config.read_text()) or {}
    patterns = (run.get("data") or {}).get("exclude_sources") or []
    return "yes" if source_excluded(f"data/{name}/", patterns) else "NO"


def write_table(x: np.ndarray, y: np.ndarray, path: Path) -> None:
    """Univariate series as a (series, label) Parquet table, the fine-tuning input of training/train.py."""
    if x.shape[1] != 1:
        raise SystemExit(f"error: {path.stem} is multivariate; this script fine-tunes on univariate datasets")
    pd.DataFrame({"series": [row[0].tolist() for row in x], "label": list(y)}).to_parquet(path)


def predict_labels(model_dir: Path, x: np.ndarray, candidates: list[str] | None, batch_size: int = 64) -> list[str]:
    """Labels of the series `x` by the fine-tuned model: the most likely of `candidates` (the training labels;
    the pipeline's `candidate_labels`), or with `candidates=None` whatever greedy generation writes."""
    from transformers import pipeline

    import ts_florence  # noqa: F401  (registers the pipeline)

    pipe = pipeline("time-series-prompting", model=str(model_dir))
    kwargs = {"candidate_labels": candidates} if candidates else {"max_new_tokens": 16, "num_beams": 1}
    results = pipe([row[0] for row in x], task="<CLASSIFICATION>", batch_size=batch_size, **kwargs)
    return [result["<CLASSIFICATION>"]["text"] for result in results]


def finetune(args, train, name: str, seed: int, data: tuple, out: Path) -> dict:
    """Fine-tune `args.model` on the train split of dataset `name` with `seed`; the test accuracy of the fine-tuned
    model and of MiniRocket with the same seed, as a results row."""
    x_train, y_train, x_test, y_test = data
    rocket, rocket_seconds = minirocket_accuracy(x_train, y_train, x_test, y_test, seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / f"{name}.parquet"
        write_table(x_train, y_train, table)
        model_dir, probe_dir = out / f"{name}-seed{seed}", Path(tmp) / "probe"
        common = ["--config", str(ROOT / "training/configs/finetune.yaml"), "--data", str(table),
                  "--set", f"run.seed={seed}"]  # fmt: skip
        init = args.model
        if args.probe_steps > 0:
            argv_probe = [
                *common, "--init-from", args.model, "--output-dir", str(probe_dir),
                "--max-steps", str(args.probe_steps), "--set", f"optim.learning_rate={args.probe_lr}",
                "--set", f"optim.freeze={ENCODERS}",
            ]  # fmt: skip
            if train.main(argv_probe) != 0:
                raise SystemExit(f"error: the probing phase on {name} failed")
            init = str(probe_dir)
        # A fresh run each time, in a new empty folder: train.py resumes from checkpoints in its output folder,
        # which would reuse a model fine-tuned earlier with other settings.
        with directory_in_place(model_dir) as partial:
            argv_train = [
                *common, "--init-from", init, "--output-dir", str(partial), "--max-steps", str(args.steps),
                "--set", f"optim.learning_rate={args.learning_rate}",
                *[a for item in args.set for a in ("--set", item)],
            ]  # fmt: skip
            if train.main(argv_train) != 0:
                raise SystemExit(f"error: fine-tuning on {name} failed")
    ours = float(np.mean(np.asarray(predict_labels(model_dir, x_test, sorted(set(y_train)))) == y_test))
    generated = float(np.mean(np.asarray(predict_labels(model_dir, x_test, None)) == y_test))
    return {
        "dataset": name,
        "seed": seed,
        "train": len(y_train),
        "test": len(y_test),
        "classes": len(set(y_train)),
        "ts_florence": ours,
        "ts_florence_generated": generated,
        "minirocket": rocket,
        "ts_florence_seconds": time.perf_counter() - start,
        "minirocket_seconds": rocket_seconds,
    }


def print_tables(rows: list[dict]) -> None:
    """The results rows as a markdown table, and, where a dataset ran with several seeds, their mean and standard
    deviation per dataset."""
    print(
        "ts-florence: the fine-tuned model's most likely training label; generated: its free greedy generation; "
        "linear probe: MiniRocket's ridge classifier on the frozen features of the model before fine-tuning; "
        "1-NN: nearest training series by Euclidean distance (probe and 1-NN do not depend on the seed).\n"
    )
    print(
        "| dataset | seed | train | test | classes | held out in pretraining | ts-florence | generated "
        "| linear probe | MiniRocket | 1-NN | gap (points) | ts-florence s | MiniRocket s |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['seed']} | {r['train']} | {r['test']} | {r['classes']} | "
            f"{r['held_out_in_pretraining']} | {r['ts_florence']:.3f} | {r['ts_florence_generated']:.3f} | "
            f"{r['linear_probe']:.3f} | {r['minirocket']:.3f} | {r['nearest_neighbour']:.3f} | "
            f"{100 * (r['ts_florence'] - r['minirocket']):+.1f} | {r['ts_florence_seconds']:.0f} | "
            f"{r['minirocket_seconds']:.1f} |"
        )
    by_dataset: dict[str, list[dict]] = {}
    for r in rows:
        by_dataset.setdefault(r["dataset"], []).append(r)
    if all(len(group) < 2 for group in by_dataset.values()):
        return
    print("\nMean ± standard deviation over seeds:\n")
    print("| dataset | seeds | ts-florence | MiniRocket | linear probe | 1-NN | gap (points) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, group in by_dataset.items():
        ours, rocket = (np.array([r[key] for r in group]) for key in ("ts_florence", "minirocket"))
        print(
            f"| {name} | {', '.join(str(r['seed']) for r in group)} | {_mean_sd(ours)} | {_mean_sd(rocket)} | "
            f"{group[0]['linear_probe']:.3f} | {group[0]['nearest_neighbour']:.3f} | "
            f"{100 * (ours.mean() - rocket.mean()):+.1f} |"
        )


def _mean_sd(values: np.ndarray) -> str:
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 else f"{values.mean():.3f}"


ROW_KEYS = ("dataset", "seed", "ts_florence", "minirocket", "linear_probe", "nearest_neighbour")


def read_rows(path: Path) -> list[dict]:
    """The results rows of a results.json this script wrote, or a clear error naming the file."""
    try:
        rows = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"error: cannot read results from {path}: {error!r}") from None
    for row in rows:
        missing = [key for key in ROW_KEYS if key not in row]
        if missing:
            raise SystemExit(f"error: {path} has a row without {', '.join(missing)} (written by an older version?)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="the model to fine-tune (a saved ts-florence folder)")
    parser.add_argument("--datasets", nargs="+", default=["GunPoint", "ItalyPowerDemand", "ArrowHead"])
    parser.add_argument("--steps", type=int, default=1200, help="fine-tuning steps per dataset")
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=1e-4,
        help="peak learning rate of the fine-tuning (1e-3 at 400 steps gave 3 points less on ItalyPowerDemand, "
        "mean of seeds 0-2)",
    )
    parser.add_argument("--set", action="append", default=[], help="more training/train.py overrides")
    parser.add_argument(
        "--probe-steps",
        type=int,
        default=0,
        help="LP-FT: first train only BART's decoder (encoders frozen) this many steps at --probe-lr, then "
        "everything for --steps at --learning-rate",
    )
    parser.add_argument("--probe-lr", type=float, default=1e-3)
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[0], help="one fine-tuning (and MiniRocket) per dataset and seed"
    )
    parser.add_argument("--out", default="runs/finetune_ucr", help="folder for the fine-tuned models and results")
    parser.add_argument(
        "--summarise",
        nargs="+",
        metavar="RESULTS_JSON",
        help="print the tables of earlier runs' results.json files together (e.g. seeds run in parallel) and exit",
    )
    args = parser.parse_args(argv)
    if args.summarise:
        print_tables([row for path in args.summarise for row in read_rows(Path(path))])
        return 0
    if not args.model:
        parser.error("--model is required (or --summarise)")
    from ts_florence import training as train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.datasets:
        data = load_ucr(name)
        held_out = held_out_in_pretraining(args.model, name)
        if held_out != "yes":
            print(
                f"warning: {name} was not held out of {args.model}'s pretraining ({held_out}); its test series and "
                "labels may have been seen",
                flush=True,
            )
        shared = {
            "held_out_in_pretraining": held_out,
            "linear_probe": linear_probe_accuracy(args.model, *data),
            "nearest_neighbour": nearest_neighbour_accuracy(*data),
        }
        for seed in args.seeds:
            row = {**finetune(args, train, name, seed, data, out), **shared}
            rows.append(row)
            print(
                f"{name}, seed {seed}: ts-florence {row['ts_florence']:.3f} (generated "
                f"{row['ts_florence_generated']:.3f}, linear probe {row['linear_probe']:.3f}), MiniRocket "
                f"{row['minirocket']:.3f}, 1-NN {row['nearest_neighbour']:.3f}",
                flush=True,
            )

    probing = f"{args.probe_steps} decoder-only steps at lr {args.probe_lr}, then " if args.probe_steps else ""
    print(
        f"\nTest accuracy, fine-tuned from {args.model} ({probing}{args.steps} steps at lr {args.learning_rate}), "
        "same splits:\n"
    )
    print_tables(rows)
    write_text_in_place(
        out / "results.json",
        json.dumps(
            {
                "model": args.model,
                "steps": args.steps,
                "learning_rate": args.learning_rate,
                "probe_steps": args.probe_steps,
                "settings": args.set,
                "rows": rows,
            },
            indent=2,
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
