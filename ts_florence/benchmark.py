"""The methods the benchmark (`scripts/benchmark.py`) puts side by side, run and scored the same way: the model
through the `time-series-prompting` pipeline, each engine specialist, the engine's whole recipe, the classical
baselines (`evaluation.baselines`) and trivial references. Each `Method` answers a `Case`
(`evaluation.datasets`) with its outputs ("anomaly", "event" spans, "segments" starts, "points"; an "anomaly"
answer may also carry `"point_scores"`, one score per sample); `score` scores one method's answers to one task
with the runner's scorers, and point scores with AUC-PR and VUS-PR (`point_score_metrics`).

It stands above `engine/` and `evaluation/` (evaluation never imports the engine): `scripts/benchmark.py`,
`scripts/bench_inference.py` and `scripts/cell_head_detector.py` use it.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .evaluation.baselines import (
    clasp_change_points,
    iforest_window_spans,
    robust_z_spans,
    ruptures_change_points,
    span_result,
    stumpy_discord_spans,
)
from .evaluation.datasets import ANOMALY, EVENT, POINTS, BenchmarkError, Case, engine_record

SPAN_METRICS = ("f1@0.3", "f1@0.5", "f1@0.7", "map")


@dataclass
class Method:
    name: str
    """What `--methods` calls it."""
    label: str
    kind: str
    """"model", "specialist", "engine", "baseline" or "reference"."""
    outputs: tuple[str, ...]
    """Subset of "anomaly", "event", "segments", "points" (see `output_of`)."""
    typed: bool
    """Whether its spans carry types of the generator's vocabulary (typed span metrics apply)."""
    run: Callable[[Case], dict[str, dict]] | None = None
    point_scores: bool = False
    """Whether its "anomaly" answers carry `"point_scores"`, one score per sample (AUC-PR and VUS-PR apply; the
    model's come from its cell head, asked for where a data set reports them)."""
    spans: bool = True
    """False for a reference of point scores alone: its rows report AUC-PR and VUS-PR only, where a data set
    reports them, and it has no row elsewhere."""


def output_of(task: str) -> str:
    """Which output of a method answers `task`: spans of the task's `span_kind` ("anomaly", "event"), else its
    `output_kind` ("segments": regime starts, "points": change points)."""
    from .tasks import get_task

    spec = get_task(task)
    return spec.span_kind or spec.output_kind


def points_result(points: Sequence[int], scores: Sequence[float] | None = None) -> dict[str, list]:
    points = sorted({int(p) for p in points})
    return {"points": points, "scores": list(scores) if scores is not None else [1.0] * len(points)}


def engine_outputs(found: dict[str, Any], length: int) -> dict[str, dict]:
    """Spans of each kind, regime starts and change points of specialist or engine annotations, as the audit
    reads them: the change points of a series are its change points and the starts of its segments."""
    from .engine.audit import annotated_change_points

    out: dict[str, dict] = {}
    for kind in ("anomaly", "event"):
        chosen = [s for s in found.get("spans", []) if s.get("kind") == kind]
        out[kind] = {
            "spans": [[s["start"], s["end"]] for s in chosen],
            "labels": [s["label"] for s in chosen],
            "channels": [s.get("channel") for s in chosen],
            "scores": [float(s["score"]) if s.get("score") is not None else 1.0 for s in chosen],
        }
    segments = found.get("segments", [])
    out["segments"] = points_result([s["start"] for s in segments if 0 < s["start"] < length])
    points = [p for p in annotated_change_points(segments, found.get("change_points", [])) if 0 < p < length]
    out["points"] = points_result(points)
    return out


def specialist_method(name: str) -> Method:
    from .engine.specialists import SPECIALISTS, clear_analysis_cache

    specialist = SPECIALISTS[name]()
    produces = set(specialist.produces)
    outputs: tuple[str, ...] = ()
    if "spans" in produces:
        outputs += ("anomaly", "event") if name == "events" else ("anomaly",)
    if "segments" in produces or "change_points" in produces:
        outputs += ("segments", "points")

    def run(case: Case) -> dict[str, dict]:
        # The decomposition is cached across specialists; clearing it times each specialist on its own.
        clear_analysis_cache()
        return engine_outputs(specialist(case.values, case.timestamps), case.length)

    return Method(name, f"specialist {name}", "specialist", outputs, True, run)


def engine_method(config) -> Method:
    from .engine.build import build_steps
    from .engine.specialists import clear_analysis_cache
    from .records import blank

    steps = build_steps(config)

    def run(case: Case) -> dict[str, dict]:
        clear_analysis_cache()
        record: dict[str, Any] | None = blank(case.record, hide_truth=True)  # fresh annotation lists: steps edit them
        for step in steps:
            record = step.process(record) if record is not None else None
        return engine_outputs(record or {}, case.length)

    return Method("engine", "engine (merged+filtered)", "engine", ("anomaly", "event", "segments", "points"), True, run)


def baseline_methods() -> list[Method]:
    """The classical baselines (`evaluation.baselines`); the anomaly ones answer with the per-sample scores their
    spans come from too (a few milliseconds a series)."""

    def anomalies(function: Callable[..., dict]) -> Callable[[Case], dict[str, dict]]:
        return lambda case: {"anomaly": function(case.values, return_point_scores=True)}

    def points(function: Callable[[Case], list[int]]) -> Callable[[Case], dict[str, dict]]:
        def run(case: Case) -> dict[str, dict]:
            found = points_result(function(case))
            return {"segments": found, "points": found}

        return run

    return [
        Method("clasp", "ClaSP (claspy)", "baseline", ("segments", "points"), False,
               points(lambda case: clasp_change_points(case.values, case.window_size))),
        Method("ruptures", "ruptures Binseg l2 + BIC", "baseline", ("segments", "points"), False,
               points(lambda case: ruptures_change_points(case.values))),
        Method("stumpy_discords", "stumpy top-3 discords", "baseline", ("anomaly",), False,
               anomalies(stumpy_discord_spans), point_scores=True),
        Method("iforest_windows", "IsolationForest, sliding windows", "baseline", ("anomaly",), False,
               anomalies(iforest_window_spans), point_scores=True),
        Method("robust_z", "robust z-score > 3.5", "baseline", ("anomaly",), False, anomalies(robust_z_spans),
               point_scores=True),
    ]  # fmt: skip


def reference_methods() -> list[Method]:
    """Trivial answers that show what a metric gives for nothing: no change point at all (covering and TSSB's
    change-point F1 are high when series have few changes), the whole series as one anomaly (event-wise F1
    counts it a hit; its point scores are constant, so its AUC-PR is the share of anomalous samples), and point
    scores drawn at random (uniform, seeded by the series id; no spans)."""

    def no_change(case: Case) -> dict[str, dict]:
        return {"segments": points_result([]), "points": points_result([])}

    def everything(case: Case) -> dict[str, dict]:
        return {"anomaly": {**span_result([(0, case.length, 1.0, None)]), "point_scores": np.ones(case.length)}}

    def random_scores(case: Case) -> dict[str, dict]:
        rng = np.random.default_rng(zlib.crc32(case.id.encode()))
        return {"anomaly": {**span_result([]), "point_scores": rng.random(case.length)}}

    return [
        Method("no_change", "reference: no change point", "reference", ("segments", "points"), False, no_change),
        Method("all_anomalous", "reference: whole series one anomaly", "reference", ("anomaly",), False, everything,
               point_scores=True),
        Method("random_scores", "reference: random point scores", "reference", ("anomaly",), False, random_scores,
               point_scores=True, spans=False),
    ]  # fmt: skip


def all_method_names() -> list[str]:
    from .engine.specialists import SPECIALISTS

    specialists = [name for name in SPECIALISTS if name != "regime_describer"]  # descriptions only
    others = [m.name for m in baseline_methods() + reference_methods()]
    return ["model", *specialists, "engine", *others]


def warm_up(method: Method) -> float:
    """One call on a small series of each shape, so numba compiles before the timing; its seconds."""
    rng = np.random.default_rng(1)
    t = np.arange(600)
    x = np.sin(2 * np.pi * t / 40) + 0.1 * rng.normal(size=600)
    x[300:] += 2.0
    start = time.perf_counter()
    for values in (x[None, :], np.stack([x, x[::-1]])):
        case = Case("warm-up", values, {}, engine_record("warm-up", values))
        try:
            method.run(case)
        except Exception:  # noqa: BLE001 - a failure here shows again, counted, on the real series
            pass
    return time.perf_counter() - start


def check_checkpoint(path: Path) -> None:
    """BenchmarkError naming what is missing or damaged in the model folder (the library's check)."""
    from .io import check_model_folder

    try:
        check_model_folder(path)
    except ValueError as err:
        raise BenchmarkError(str(err)) from None


DTYPES = ("float32", "bfloat16")


def load_model(path: Path, device: str | None, dtype: str = "float32"):
    """The checkpoint at `path` in the `time-series-prompting` pipeline, warmed up; weights in `dtype`."""
    import torch

    from . import TSFlorenceForConditionalGeneration, TSFlorenceProcessor  # the package registered the pipeline
    from .pipeline import TimeSeriesPromptingPipeline

    check_checkpoint(path)
    try:
        model = TSFlorenceForConditionalGeneration.from_pretrained(str(path), dtype=getattr(torch, dtype)).eval()
        processor = TSFlorenceProcessor.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise BenchmarkError(f"cannot load the checkpoint at {path}: {err}") from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipe = TimeSeriesPromptingPipeline(model=model.to(device), processor=processor, device=device)
    with torch.inference_mode():  # first-call overheads, out of the timing
        pipe(np.sin(np.arange(256) / 8.0), task=ANOMALY, generate_kwargs={"max_new_tokens": 4})
    return pipe


def run_model(
    pipe,
    cases: list[Case],
    prompt: str,
    window: int | str | None,
    overlap: float,
    batch_size: int,
    generate: dict,
    threads: int,
    progress: bool = True,
    **options: Any,
) -> tuple[list[dict], float]:
    """The model's result for `prompt` on every case (in order), and the seconds it took, on `threads` threads;
    `options` go to the pipeline (e.g. `cell_threshold`)."""
    import torch

    torch.set_num_threads(threads)
    order = sorted(range(len(cases)), key=lambda i: (cases[i].values.shape[0], cases[i].length))
    results: dict[int, dict] = {}
    kwargs: dict[str, Any] = {"task": prompt, "generate_kwargs": generate, **options}
    if window is not None:
        kwargs.update(window=window, window_overlap=overlap)
    start = time.perf_counter()
    with torch.inference_mode():
        batches = range(0, len(order), batch_size)
        for b in tqdm(batches, desc=f"model {prompt}", unit="batch", leave=False, disable=not progress):
            chunk = order[b : b + batch_size]
            out = pipe([cases[i].values.T for i in chunk], batch_size=len(chunk), **kwargs)
            for i, result in zip(chunk, out, strict=True):
                results[i] = result[prompt]
    return [results[i] for i in range(len(cases))], time.perf_counter() - start


def flagged_share(spans: Sequence[Sequence[Sequence[int]]], lengths: Sequence[int]) -> float:
    """Mean over series of the share of samples inside a span: event-wise F1 does not see it, and one span over
    the whole series scores an event F1 of 1 on any series with an anomaly."""
    shares = []
    for found, n in zip(spans, lengths, strict=True):
        inside = np.zeros(n, dtype=bool)
        for start, end in found:
            inside[int(start) : int(end)] = True
        shares.append(inside.mean())
    return float(np.mean(shares)) if shares else 0.0


def point_score_metrics(examples: list, preds: list[dict]) -> dict[str, float]:
    """AUC-PR and VUS-PR of the predictions' `"point_scores"` against the true spans of `examples`, means over the
    series with anomalous and normal samples (`evaluation.metrics.point_scores_corpus`), VUS-PR in TSB-AD's window
    of each series (`vus_window` of its first channel); `{}` when no series has both."""
    from .evaluation.metrics import point_scores_corpus, vus_window

    windows = [vus_window(np.asarray(ex.values).reshape(ex.length, -1)[:, 0]) for ex in examples]
    scores, trues = [p["point_scores"] for p in preds], [ex.truth["spans"] for ex in examples]
    found = point_scores_corpus(scores, trues, [ex.length for ex in examples], windows)
    return {name: found[name] for name in ("auc_pr", "vus_pr") if found[name] is not None}


def check_point_metrics() -> None:
    """BenchmarkError, before anything runs, when the library of VUS-PR (tsb-ad) is missing."""
    from .evaluation.metrics import vus_window

    try:
        vus_window(np.zeros(8))
    except ImportError as err:
        raise BenchmarkError(f"{err} (or leave out the data sets that report it: nab)") from None


def score(
    task: str, examples: list, preds: list[dict], typed: bool, spans: bool = True, point_scores: bool = False
) -> dict[str, float]:
    """Metrics of one method on one task, all from `runner.score_task`: class-agnostic span metrics from the
    `<SPAN_PROPOSAL>` scorer, typed ones (prefixed "typed ") from the task's own scorer; and for spans the
    `flagged_share` of the predictions (a diagnostic, not a metric). With `point_scores`, also AUC-PR and VUS-PR
    of the predictions' `"point_scores"` (`point_score_metrics`); without `spans`, those alone."""
    from .evaluation.runner import score_task

    if task not in (ANOMALY, EVENT):
        return score_task(task, examples, preds)
    out: dict[str, float] = {}
    if spans:
        scores = score_task(task, examples, preds)
        scores["flagged"] = flagged_share([p["spans"] for p in preds], [ex.length for ex in examples])
        agnostic = score_task(
            "<SPAN_PROPOSAL>", examples, [{"spans": p["spans"], "scores": p["scores"]} for p in preds]
        )
        out = {name: value for name, value in scores.items() if name not in SPAN_METRICS}
        out.update(agnostic)
        if typed:
            out.update({f"typed {name}": scores[name] for name in SPAN_METRICS if name in scores})
    if point_scores:
        out.update(point_score_metrics(examples, preds))
    return out


def engine_config(corpus: Path):
    from .engine.build import config_from_dict, load_config

    stats = corpus / "stats.json"
    if stats.is_file():
        return config_from_dict(json.loads(stats.read_text())["config"], str(stats)), str(stats)
    return load_config(None), "the default build config"


CURVE_TASKS = {"nab": (ANOMALY, ("event_f1", "affiliation_f1")), "tssb": (POINTS, ("covering", "cp_f1"))}
"""The real-data benchmark over training steps (`scripts/benchmark_curve.py`): data set -> (task, metrics kept)."""


def curve_markdown(curve: dict) -> str:
    """A `scripts/benchmark_curve.py` curve as a markdown table, one row per step."""
    columns = [(key, m) for key in sorted(CURVE_TASKS) for m in CURVE_TASKS[key][1]]
    lines = [
        "| step | " + " | ".join(f"{key.upper()} {m}" for key, m in columns) + " |",
        "|---:|" + "---:|" * len(columns),
    ]
    for point in curve["points"]:
        cells = [f"{point[key][m]:.3f}" if key in point else "-" for key, m in columns]
        lines.append(f"| {point['step']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = [
    "CURVE_TASKS",
    "DTYPES",
    "SPAN_METRICS",
    "Method",
    "all_method_names",
    "baseline_methods",
    "check_checkpoint",
    "check_point_metrics",
    "curve_markdown",
    "engine_config",
    "engine_method",
    "engine_outputs",
    "flagged_share",
    "load_model",
    "output_of",
    "point_score_metrics",
    "points_result",
    "reference_methods",
    "run_model",
    "score",
    "specialist_method",
    "warm_up",
]
