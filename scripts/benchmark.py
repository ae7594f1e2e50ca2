"""Side-by-side benchmark: the model, every engine specialist and classical baselines on the same series.

    python scripts/benchmark.py --model runs/tiny                     # frozen split (subsample), TSSB, NAB, TCPD, MITDB
    python scripts/benchmark.py --model runs/tiny --limit 0           # every series of every data set
    python scripts/benchmark.py --model runs/tiny --methods model clasp robust_z --json bench.json

Data sets (one Markdown table each: method | task | metrics | series/s | n series; loaders in
`ts_florence.evaluation.datasets`):

- frozen: the frozen evaluation split of `--corpus` (`data/eval-*.parquet`, exact truth). Tasks
  `<ANOMALY_DETECTION>`, `<EVENT_DETECTION>`, `<REGIME_SEGMENTATION>`, `<CHANGE_POINT_DETECTION>`; the truth of
  each is what `ts_florence.evaluation.runner.build_examples` gives (the target parsed back), as in the runner.
- tssb: TSSB (`<dev-data>/tssb/datasets`, 75 series, change points of `desc.txt`): covering and change-point F1
  with TSSB's margin (1% of the length). The model is asked both `<CHANGE_POINT_DETECTION>` and
  `<REGIME_SEGMENTATION>` (segment starts read as change points); both rows are scored on the same points.
- nab: the real series of NAB (`<dev-data>/nab/data/real*`, windows of `labels/combined_windows.json`):
  event-wise F1 and affiliation F1 of `<ANOMALY_DETECTION>`, and the threshold-free metrics of per-sample
  anomaly scores that TSB-AD reports: `auc_pr` (scikit-learn's average precision of the scores against the
  0/1 label of each sample) and `vus_pr` (the volume under the range PR surface over buffer lengths 0 to
  TSB-AD's window of the series, Paparrizos et al. 2022, TSB-AD's own code: `tsb-ad`, installed with
  `--no-deps`), each the mean over the series with anomalous and normal samples, as TSB-AD averages series.
  The window is TSB-AD's default, `find_length_rank(rank=1)` of the series (the autocorrelation's period in
  6..303 samples, else 125). VUS-PR is slow (TSB-AD's loops over buffers and thresholds): about 20 s per method
  on NAB, which is why the frozen split does not report it (`DataSet.point_metrics`).
- tcpd, mitdb: the unseen real sets, read from the files of packages on PyPI (`ts_florence.evaluation.datasets`,
  `UNSEEN`; no setting of the model or the baselines was chosen on them, nor are they trained on):
  - tcpd: the 7 series of the Turing Change Point Dataset that river 0.26.1 ships (`pip install --no-deps
    river==0.26.1`), with the change points of each of TCPD's human annotators; scored as TSSB (covering and
    change-point F1, margin 1% of the length; TCPD's own margin is 5 samples), once per (series, annotator).
  - mitdb: 7,500 samples of one MIT-BIH Arrhythmia Database record, TSB-UAD's labels of abnormal beats, that
    sktime 1.2.0 ships (`pip install --no-deps sktime==1.2.0`); scored as NAB, with F1@0.5 too (its labels are
    the beats themselves, not wide windows).
  A set whose package is not installed is skipped, with the reason printed.
The dev sets' truth is exact (sample indices); `--dev-data` defaults to `../shared/data` of the repository and
they are skipped, with the reason printed, when it is not there.

Every row also gives `items_per_series`, the mean number of spans or change points the method answered per series,
and every data set `truth_items_per_series`, the same of its truth (the model card's "why" of a gap).

Every method is scored by the same code, `runner.score_task`, on the same `Example`s. Span metrics: `f1@0.5`
and `map` ignore the anomaly or event type (the runner's class-agnostic `<SPAN_PROPOSAL>` scorer), `typed ...`
require it (the runner's scorer of the task), so they are given only for methods that name types in the
generator's vocabulary (the model and the engine). `flagged` is not a metric: the mean share of the samples
inside predicted spans, printed because event-wise F1 cannot see it (one span over the whole series scores an
event F1 of 1). `series/s` is the wall time of the method alone on the series it ran on (numba compiles in a
warm-up call before the timing); a non-model method runs once per series for all its tasks, so its rows share
one number; the model runs once per prompt.

Methods (`--methods` takes these names):

- `model`: the checkpoint, through the `time-series-prompting` pipeline, greedy (`--num-beams 1`). Its point
  scores are the pipeline's `return_point_scores` (the cell head's probability per sample, read in the model's
  own window), asked for only where a data set reports them.
- the engine's specialists (`ts_florence.engine.specialists.SPECIALISTS`), default thresholds, outputs turned
  into spans and change points as `ts_florence.engine.audit` does; `regime_describer` writes descriptions only
  and has no row. `engine`: the whole recipe of the corpus's build config (specialists, merge, filters), i.e.
  the teacher the model learns from.
- baselines, thin wrappers over the libraries (`ts_florence.evaluation.baselines`), outputs in sample indices:
  - `clasp`: claspy's BinaryClaSPSegmentation with its default settings; `window_size` from `desc.txt` on
    TSSB (the reference setting there), SuSS elsewhere.
  - `ruptures`: Binseg, l2 cost on the series standardized as TCPDBench prepares them, penalty (d + 1) log n
    (BIC for a change of the d channel means). The engine's change_points specialist runs KernelCPD/PELT on
    the deseasonalized series scaled to unit noise, then merges segments.
  - `stumpy_discords`: the top 3 discords of the matrix profile, each a span of the window.
  - `iforest_windows`: scikit-learn IsolationForest on sliding windows; the top 1% windows are anomalies.
  - `robust_z`: |0.6745 (x - median) / MAD| > 3.5 (Iglewicz and Hoaglin), runs joined across 1% of the
    length.
  The anomaly baselines' window is n / 100 samples, clipped to [8, 64]. Their point scores are what their
  spans are cut from: |z| per sample, and for the windows of IsolationForest and the matrix profile each
  sample's largest score of the windows that hold it (as the pipeline merges windows).
- references, what a metric gives for a trivial answer: `no_change` (no change point: covering and TSSB's
  change-point F1, which counts the start of the series as a found change, are high on series with few
  changes), `all_anomalous` (the whole series one anomaly: event-wise F1 about 0.9 on the frozen split
  and NAB; its point scores are constant, so its `auc_pr` is the share of anomalous samples) and
  `random_scores` (point scores drawn uniformly, seeded by the series id; no spans, so only `auc_pr` and
  `vus_pr`, where a data set reports them).

How the model reads long series (`--model-window`, printed): a series up to the window is read whole (the
feature extractor reduces it to `num_patches x patch_length` cells of mean, min and max, so a one-sample spike
survives); a longer one is cut into windows (overlap `--window-overlap`) whose results the pipeline merges
(`ts_florence.windowing`). The default window is the longest series of the training corpus (`max_length` of the
corpus's build config, 4096): the model has only seen series read whole, reduced at most 4-fold. Measured with
a checkpoint of the tiny preset at step 1000: windows of 1024 samples (the tiny preset's native resolution) lose
the context of long segments (TSSB covering 0.36 vs 0.57, frozen change-point covering 0.55 vs 0.59) and cost
3 to 8 times as much; reading TSSB and NAB series whole (up to 20-fold reduction) scores like windows of 4096
(TSSB 0.568 vs 0.570; NAB affiliation F1 0.44 vs 0.48).

Subsampling: `--limit N` keeps N series of every data set (a fixed random subsample, seed 0; 0 = all); by
default the frozen split is subsampled to `DEFAULT_LIMITS["frozen"]` = 500 of its 2,070 series and the dev sets
run whole. What was kept is printed under each table and written to the JSON.

Cost of the default run of the tiny preset on this 2-core machine, beside a training job: 7.1 and 7.6 minutes
with the checkpoints of steps 1000 and 1500 (frozen split 4.2-4.7 min, TSSB 2.3 min of which ClaSP 2.1, NAB
0.5; numba compilation 45-75 s of it), before NAB reported AUC-PR and VUS-PR: these add about 20 s per method
that gives point scores (six by default; 122 s measured, the NAB section of the bundled model with those six
methods 2.9 min). Their answers were short; if every answer ran to `--max-new-tokens` 256
(6 frozen series per second, measured at step 500), about 13 minutes.

TSSB is made of UCR classification series; when `--corpus` has a training split, the script prints which of
the UCR datasets TSSB uses appear in it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ts_florence.benchmark import (
    DTYPES,
    Method,
    all_method_names,
    baseline_methods,
    check_checkpoint,
    check_point_metrics,
    engine_config,
    engine_method,
    flagged_share,
    load_model,
    output_of,
    reference_methods,
    run_model,
    score,
    specialist_method,
    warm_up,
)
from ts_florence.evaluation.baselines import load_claspy
from ts_florence.evaluation.datasets import (
    ANOMALY,
    DEFAULT_LIMITS,
    EVENT,
    SEED,
    TASKS,
    BenchmarkError,
    Case,
    DataSet,
    DataUnavailable,
    load_frozen,
    load_mitdb,
    load_nab,
    load_tcpd,
    load_tssb,
    ucr_overlap,
)
from ts_florence.evaluation.metrics import point_labels, vus_window
from ts_florence.io import write_text_in_place

ROOT = Path(__file__).resolve().parents[1]

DATASETS = ("frozen", "tssb", "nab", "tcpd", "mitdb")
DEV_SETS = ("tssb", "nab")
"""The data sets read from `--dev-data`; the others come from the corpus (frozen) or from packages (the unseen)."""
POINT_METRIC_SETS = ("nab", "mitdb")
"""The data sets that report VUS-PR (tsb-ad)."""
DEFAULT_WINDOW = 4096
"""Default `--model-window` when the corpus's build config does not say its `max_length`."""

COLUMNS = {
    "frozen": ("event_f1", "affiliation_f1", "f1@0.5", "typed f1@0.5", "flagged", "covering", "cp_f1"),
    "tssb": ("covering", "cp_f1"),
    "nab": ("event_f1", "affiliation_f1", "flagged", "auc_pr", "vus_pr"),
    "tcpd": ("covering", "cp_f1", "items_per_series"),
    "mitdb": ("event_f1", "affiliation_f1", "f1@0.5", "flagged", "auc_pr", "vus_pr", "items_per_series"),
}
"""Metric columns of each table; the JSON has every metric. `flagged`: share of the samples inside predicted
spans (`flagged_share`); `auc_pr`, `vus_pr`: of per-sample scores (`point_score_metrics`); `items_per_series`: not
a metric, the mean number of spans or change points answered per series (`items_per_series`)."""


def items_per_series(task: str, results: list[dict]) -> float:
    """Mean number of spans (anomalies, events) or change points per result; of a segmentation, the starts of its
    segments after the first (the change points it is scored on)."""
    if not results:
        return 0.0
    if task in (ANOMALY, EVENT):
        return float(np.mean([len(r["spans"]) for r in results]))
    points = [r["points"] if "points" in r else [span[0] for span in r["spans"]] for r in results]
    return float(np.mean([sum(int(p) > 0 for p in found) for found in points]))


# ---------------------------------------------------------------------------------------------------------
# Methods


def _reported(data: DataSet, scores: dict[str, float]) -> dict[str, float]:
    return {
        name: value
        for name, value in scores.items()
        if (data.metrics is None or name in data.metrics) and (data.typed_truth or not name.startswith("typed"))
    }


def _valid_outputs(found: dict[str, dict], length: int) -> tuple[dict[str, dict], int]:
    """`found` without the spans the metrics refuse (end <= start, or outside `[0, length]`), and their number;
    point scores (one per sample) are kept whole."""
    out, dropped = {}, 0
    for key, result in found.items():
        if "spans" not in result:
            out[key] = result
            continue
        keep = [i for i, (s, e) in enumerate(result["spans"]) if 0 <= s < e <= length]
        dropped += len(result["spans"]) - len(keep)
        out[key] = {name: values if name == "point_scores" else [values[i] for i in keep]
                    for name, values in result.items()}  # fmt: skip
    return out, dropped


def _point_scored(data: DataSet, task: str) -> bool:
    """Whether `task` is scored on per-sample scores on `data` (AUC-PR and VUS-PR)."""
    return data.point_metrics and task == ANOMALY


def _row(data: DataSet, method: Method, task: str, prompt: str | None, cases: list[Case], preds: list[dict],
         typed: bool, series_per_second: float, failures: int, point_scores: bool) -> dict[str, Any]:  # fmt: skip
    start = time.perf_counter()
    scores = score(task, [c.examples[task] for c in cases], preds, typed, method.spans, point_scores)
    seconds = time.perf_counter() - start
    return {
        "method": method.name,
        "label": method.label,
        "kind": method.kind,
        "task": task,
        "prompt": prompt,
        "scores": _reported(data, scores),
        "series_per_second": series_per_second,
        "items_per_series": items_per_series(task, preds),
        "n_series": len(cases),
        "failures": failures,
        "scoring_seconds": seconds,
    }


def _model_rows(data: DataSet, method: Method, pipe, args: argparse.Namespace, window: int | str | None) -> list[dict]:
    rows = []
    generate = {"max_new_tokens": args.max_new_tokens, "num_beams": args.num_beams}
    has_cell_head = getattr(pipe.model, "cell_head", None) is not None
    for prompt, task in data.model_prompts.items():
        cases = [c for c in data.cases if task in c.examples]
        if not cases:
            continue
        # The cell head's per-sample scores, with the pipeline's defaults otherwise (its window, its decoding).
        point_scores = _point_scored(data, task) and prompt == task and has_cell_head
        if _point_scored(data, task) and not point_scores:
            data.notes.append(f"the model gives no point scores for `{prompt}` (no cell head): no AUC-PR, VUS-PR")
        preds, seconds = run_model(
            pipe, cases, prompt, window, args.window_overlap, args.batch_size, generate, args.torch_threads,
            progress=not args.no_progress, **({"return_point_scores": True} if point_scores else {}),
        )  # fmt: skip
        speed = len(cases) / max(seconds, 1e-9)
        rows.append(_row(data, method, task, prompt, cases, preds, True, speed, 0, point_scores))
    return rows


def _method_rows(data: DataSet, method: Method, args: argparse.Namespace, warmed: set[str]) -> list[dict]:
    """Runs a non-model method once per series (timed, failures counted as no prediction) and scores each task
    it answers."""
    tasks = [t for t in data.tasks if output_of(t) in method.outputs and (method.spans or _point_scored(data, t))]
    cases = [c for c in data.cases if any(t in c.examples for t in tasks)]
    if not cases:
        return []
    if method.name not in warmed:
        warmed.add(method.name)
        seconds = warm_up(method)
        if seconds > 5:
            data.notes.append(f"{method.name}: {seconds:.0f} s of warm-up (numba compilation), not timed")
    outputs: dict[str, dict[str, dict]] = {}
    failures: list[str] = []
    invalid = 0
    seconds = 0.0
    for case in tqdm(cases, desc=f"{method.name} on {data.key}", unit="series", leave=False, disable=args.no_progress):
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = method.run(case)
        except BenchmarkError:
            raise
        except Exception as err:  # noqa: BLE001 - counted and reported; the method then predicts nothing
            failures.append(f"{case.id}: {type(err).__name__}: {err}"[:200])
            found = {}
        seconds += time.perf_counter() - start
        outputs[case.id], dropped = _valid_outputs(found, case.length)
        invalid += dropped
    if invalid:
        data.notes.append(f"{method.name} gave {invalid} span(s) with end <= start or outside the series; dropped")
    if failures:
        data.notes.append(f"{method.name} failed on {len(failures)} series (no prediction there), e.g. {failures[0]}")
    rows = []
    for task in tasks:
        scored = [c for c in cases if task in c.examples]
        key = output_of(task)
        point_scores = method.point_scores and _point_scored(data, task)
        empty = {"spans": [], "labels": [], "channels": [], "scores": []} if key in ("anomaly", "event") else {
            "points": [], "scores": []}  # fmt: skip
        # No prediction: no span and, for point scores, one constant score (AUC-PR: the share of true samples).
        preds = [outputs[c.id].get(key, {**empty, "point_scores": np.zeros(c.length)}) for c in scored]
        speed = len(cases) / max(seconds, 1e-9)
        rows.append(_row(data, method, task, None, scored, preds, method.typed, speed, len(failures), point_scores))
    return rows


def run_dataset(
    data: DataSet, methods: list[Method], pipe, args: argparse.Namespace, window: int | str | None, warmed: set[str]
) -> list[dict[str, Any]]:
    """One row per (method, task) of `data`, or per prompt for the model: `{"method", "label", "kind", "task",
    "prompt", "scores", "series_per_second", "n_series", "failures"}`."""
    for task in data.tasks:
        if task in (ANOMALY, EVENT):
            truths = [c.examples[task] for c in data.cases if task in c.examples]
            share = flagged_share([ex.truth["spans"] for ex in truths], [ex.length for ex in truths])
            data.notes.append(f"the true spans of `{task}` cover {share:.1%} of the samples (`flagged` of the truth)")
    rows = []
    for method in methods:
        if method.kind == "model":
            rows += _model_rows(data, method, pipe, args, window)
        else:
            rows += _method_rows(data, method, args, warmed)
    if data.point_metrics and any(ANOMALY in c.examples for c in data.cases):
        data.notes.append(_point_metrics_note(data, rows))
    return rows


def truth_items(data: DataSet) -> dict[str, float]:
    """Task -> mean number of true spans or change points per series of `data`."""
    out = {}
    for task in data.tasks:
        truths = [c.examples[task].truth for c in data.cases if task in c.examples]
        out[task] = items_per_series(task, truths)
    return out


def _point_metrics_note(data: DataSet, rows: list[dict]) -> str:
    cases = [c for c in data.cases if ANOMALY in c.examples]
    windows = [vus_window(c.values[0]) for c in cases]
    both = sum(0 < point_labels(c.examples[ANOMALY].truth["spans"], c.length).mean() < 1 for c in cases)
    seconds = sum(row["scoring_seconds"] for row in rows if "auc_pr" in row["scores"])
    return (
        "`auc_pr`, `vus_pr`: of per-sample scores (the model's cell head, |z|, the windows' IsolationForest score, "
        f"the matrix profile, constant, random), means over the {both} series with anomalous and normal samples; "
        f"VUS-PR over buffers of 0 to TSB-AD's window of each series (`find_length_rank`: the autocorrelation's "
        f"period, else 125; median {int(np.median(windows))} samples); {seconds:.0f} s to score these rows, "
        "mostly VUS-PR"
    )


# ---------------------------------------------------------------------------------------------------------
# Report


def markdown_table(key: str, rows: list[dict[str, Any]]) -> str:
    columns = COLUMNS[key]
    lines = [
        "| method | task | " + " | ".join(columns) + " | series/s | n series |",
        "|---|---|" + "---:|" * (len(columns) + 2),
    ]
    for row in rows:
        task = f"`{row['task']}`"
        if row["prompt"] and row["prompt"] != row["task"]:
            task = f"`{row['prompt']}` scored as `{row['task']}`"
        cells = [row["label"], task]
        cells += [f"{_cell(row, c):.3f}" if _cell(row, c) is not None else "" for c in columns]
        cells += [f"{row['series_per_second']:.1f}", str(row["n_series"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(row: dict[str, Any], column: str) -> float | None:
    return row.get(column) if column == "items_per_series" else row["scores"].get(column)


def report_markdown(report: dict[str, Any]) -> str:
    parts = [
        f"Benchmark of `{report['model']}` ({report['settings']['model_reads']}); "
        f"wall time {report['wall_seconds'] / 60:.1f} min.\n"
    ]
    for key, result in report["datasets"].items():
        parts.append(f"\n### {result['title']}\n")
        if result.get("skipped"):
            parts.append(f"\nskipped: {result['skipped']}\n")
            continue
        parts.append("\n" + markdown_table(key, result["rows"]) + "\n")
        parts.extend(f"- {note}\n" for note in result["notes"])
    return "".join(parts)


# ---------------------------------------------------------------------------------------------------------
# Main


def _model_window(choice: str, config) -> int | str | None:
    """The `window` the pipeline is given: None (the model's own window of each task), "whole", or samples."""
    if choice == "pipeline":
        return None
    if choice == "whole":
        return "whole"
    if choice == "auto":
        return int(getattr(config.sources, "max_length", None) or DEFAULT_WINDOW)
    try:
        window = int(choice)
    except ValueError:
        raise BenchmarkError(
            f"--model-window must be 'pipeline', 'auto', 'whole' or a number of samples, got {choice!r}"
        ) from None
    if window < 16:
        raise BenchmarkError(f"--model-window must be at least 16 samples, got {window}")
    return window


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="a ts-florence checkpoint folder")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="corpus with the frozen split")
    parser.add_argument(
        "--dev-data",
        type=Path,
        default=None,
        help="folder with tssb/ and nab/ (default: ../shared/data from the repository, if there); the unseen sets "
        "(tcpd, mitdb) come from packages",
    )
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="series per data set, a fixed random subsample; 0 = all (default: "
        + ", ".join(f"{k} {v or 'all'}" for k, v in DEFAULT_LIMITS.items())
        + ")",
    )
    parser.add_argument("--methods", nargs="+", default=None, help="only these methods (names in the docstring)")
    parser.add_argument(
        "--model-window",
        default="pipeline",
        help="'pipeline' (the model's own window of each task, as the pipeline reads by default), 'auto' (the "
        "corpus's max_length, 4096), 'whole', or samples per window",
    )
    parser.add_argument("--window-overlap", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=16, help="series per model call")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="the model's weights (bfloat16: faster on CPUs with AVX-512 BF16)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)  # fmt: skip


def _choose_methods(names: list[str] | None, config) -> list[Method]:
    known = all_method_names()
    wanted = known if names is None else [n for part in names for n in part.split(",") if n]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise BenchmarkError(f"unknown method(s) {unknown}; choose from {known}")
    methods: list[Method] = []
    for name in known:
        if name not in wanted:
            continue
        if name == "model":
            methods.append(Method("model", "model", "model", tuple(output_of(task) for task in TASKS), True))
        elif name == "engine":
            methods.append(engine_method(config))
        elif name in {m.name for m in baseline_methods() + reference_methods()}:
            methods.append(next(m for m in baseline_methods() + reference_methods() if m.name == name))
        else:
            methods.append(specialist_method(name))
    if any(m.name == "clasp" for m in methods):
        load_claspy()  # fail now, not after the model ran, when claspy is missing
    return methods


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _main(args)
    except BenchmarkError as err:
        raise SystemExit(f"error: {err}") from None


def _main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.limit is not None and args.limit < 0:
        raise BenchmarkError(f"--limit must be >= 0 (0 = all series), got {args.limit}")
    if args.batch_size < 1 or args.max_new_tokens < 1 or args.num_beams < 1:
        raise BenchmarkError("--batch-size, --max-new-tokens and --num-beams must be >= 1")
    if not 0 <= args.window_overlap < 1:
        raise BenchmarkError(f"--window-overlap must be in [0, 1), got {args.window_overlap}")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    # numba's OpenMP threading layer (stumpy, claspy, the matrix_profile specialist) sets OpenMP's thread count to
    # NUMBA_NUM_THREADS, all cores, and torch shares it: on busy cores the model then ran 28 times slower. Pinned
    # before every model run.
    args.torch_threads = torch.get_num_threads()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    config, config_source = engine_config(args.corpus)
    methods = _choose_methods(args.methods, config)
    if set(POINT_METRIC_SETS) & set(args.datasets):
        check_point_metrics()  # fail now, not after the model ran, when tsb-ad (VUS-PR, NAB's and MITDB's) is missing
    window = _model_window(args.model_window, config)
    check_checkpoint(args.model)
    pipe = load_model(args.model, args.device, args.dtype) if any(m.kind == "model" for m in methods) else None
    if pipe is not None:
        cells = pipe.processor.feature_extractor.num_patches * pipe.processor.feature_extractor.patch_length
        if window is None:
            own = getattr(pipe.model.generation_config, "windows", None) or {}
            reads = f"model reads each task in its own window (generation_config.windows: {own or 'none, whole'})"
        elif window == "whole":
            reads = f"model reads every series whole, reduced to {cells} cells"
        else:
            reads = (
                f"model reads series up to {window} samples whole (reduced to {cells} cells), longer ones in "
                f"windows of {window} samples overlapping by {args.window_overlap:.0%}, merged by the pipeline"
            )
    else:
        reads = "no model"
    print(f"benchmark of {args.model} ({args.dtype}): {reads}; engine config from {config_source}", flush=True)

    dev_data = args.dev_data
    dev_reason = None
    if dev_data is None:
        # relative to the working folder where it can be, so that reports name no path of this machine
        default = Path(os.path.relpath((ROOT / ".." / "shared" / "data").resolve()))
        if default.is_dir():
            dev_data = default
        else:
            dev_reason = f"no dev data: {default} does not exist (give --dev-data)"
    elif not dev_data.is_dir():
        raise BenchmarkError(f"--dev-data {dev_data} does not exist")

    limits = {key: DEFAULT_LIMITS[key] if args.limit is None else (args.limit or None) for key in DATASETS}
    loaders = {
        "frozen": lambda: load_frozen(args.corpus, limits["frozen"], progress=not args.no_progress),
        "tssb": lambda: load_tssb(dev_data, limits["tssb"]),
        "nab": lambda: load_nab(dev_data, limits["nab"]),
        "tcpd": lambda: load_tcpd(limits["tcpd"]),
        "mitdb": lambda: load_mitdb(limits["mitdb"]),
    }
    titles = {"frozen": "Frozen evaluation split", "tssb": "TSSB", "nab": "NAB real series", "tcpd": "TCPD in river",
              "mitdb": "MIT-BIH ECG in sktime"}  # fmt: skip
    warmed: set[str] = set()  # methods whose numba code is compiled
    report: dict[str, Any] = {
        "model": str(args.model),
        "settings": {
            "model_reads": reads,
            "model_window": window,
            "window_overlap": args.window_overlap,
            "batch_size": args.batch_size,
            "max_new_tokens": args.max_new_tokens,
            "num_beams": args.num_beams,
            "dtype": args.dtype,
            "limits": limits,
            "seed": SEED,
            "methods": [m.name for m in methods],
            "engine_config": config_source,
        },
        "datasets": {},
    }
    for key in args.datasets:
        if key in DEV_SETS and dev_data is None:
            print(f"\n## {titles[key]}: skipped ({dev_reason})", flush=True)
            report["datasets"][key] = {"title": titles[key], "skipped": dev_reason}
            continue
        data_start = time.perf_counter()
        try:
            data = loaders[key]()
        except DataUnavailable as err:
            print(f"\n## {titles[key]}: skipped ({err})", flush=True)
            report["datasets"][key] = {"title": titles[key], "skipped": str(err)}
            continue
        if key == "tssb":
            overlap = ucr_overlap(args.corpus, [c.id.split(":", 1)[1] for c in data.cases])
            if overlap is None:
                data.notes.append(f"{args.corpus} has no training split: overlap of TSSB with it unknown")
            else:
                names, records = overlap
                data.notes.append(
                    f"{len(names)} of {len(data.cases)} TSSB series come from UCR datasets that also give series "
                    f"to the training split of {args.corpus} ({records} training records from UCR)"
                    + (f": {', '.join(names)}" if names else "")
                )
        rows = run_dataset(data, methods, pipe, args, window, warmed)
        seconds = time.perf_counter() - data_start
        data.notes.append(f"{seconds:.0f} s for this data set")
        report["datasets"][key] = {
            "title": data.title,
            "series": len(data.cases),
            "total": data.total,
            "rows": rows,
            "truth_items_per_series": truth_items(data),
            "notes": data.notes,
        }
        print(f"\n## {data.title}\n\n{markdown_table(key, rows)}", flush=True)
        for note in data.notes:
            print(f"- {note}", flush=True)
    report["wall_seconds"] = time.perf_counter() - started
    print(f"\nwall time {report['wall_seconds'] / 60:.1f} min", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_text_in_place(args.json, json.dumps(report, indent=1, default=float) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        write_text_in_place(args.markdown, report_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
