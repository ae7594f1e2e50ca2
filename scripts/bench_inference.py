"""Inference throughput: series per second for each task family, batch 1 and 32, greedy and beam search.

Random weights (presets `tiny` and `base`), so the output length is fixed per family with
`min_new_tokens == max_new_tokens` to stand for a typical answer; the numbers are end to end: processor,
`generate` and post-processing. Also measures the gain of running several prompts on one series
with a single encoding of the series.

    python scripts/bench_inference.py                      # tiny and base
    python scripts/bench_inference.py --presets tiny --length 512 --repeats 3

With `--model DIR`, a trained checkpoint on real series and real outputs, beside the engine's specialists:

    python scripts/bench_inference.py --model DIR [--data corpus] [--split eval] [--series 256] \
        [--batch-sizes 1 32] [--threads 2] [--json FILE]

- series: `--series` of the corpus split (a fixed random sample, seed 0, as `scripts/benchmark.py` draws it;
  univariate and multivariate, any lengths, as they come; the frozen `eval` split by default).
- model: loaded with `AutoModelForSeq2SeqLM` / `AutoProcessor`, run through `pipeline("time-series-prompting")`
  with `batch_size=B` (processor, `generate` with the model's own generation config and real stopping, parsing,
  boundary refinement on the raw samples), each series read whole, series sorted by shape into batches as
  `scripts/benchmark.py` does. Tasks `<ANOMALY_DETECTION>`, `<EVENT_DETECTION>` (detection),
  `<CHANGE_POINT_DETECTION>`, `<REGIME_SEGMENTATION>` and `<CAPTION>`, each at every batch size, after a warm-up
  call per task. `tokens/answer` is the mean number of tokens the decoder generated per answer (`</s>` included),
  counted on `generate`'s output; answers cut at `max_new_tokens` are counted under the table. `model, one call per
  task` is the series/s of answering all five, one call per task (the sum of their times).
- engine: each specialist as `scripts/benchmark.py` runs it (default thresholds, the shared decomposition cleared
  before each, so each is timed alone), numba compiled in a warm-up call; `--specialists` defaults to those of the
  corpus's build config (`stats.json`); `engine annotate` is that build's annotate step, all its specialists on
  one series in turn with the decomposition shared, as the engine annotates; `engine (merged+filtered)` adds
  merge, filters and the caption writer (the teacher's answer to every task, `<CAPTION>` included).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local checkpoints only; read when transformers is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import pipeline  # noqa: E402

from ts_florence import TSFlorenceConfig, TSFlorenceForConditionalGeneration, TSFlorenceProcessor  # noqa: E402
from ts_florence import benchmark as B  # noqa: E402
from ts_florence.evaluation.datasets import SEED  # noqa: E402
from ts_florence.io import write_text_in_place  # noqa: E402

# family -> (task prompt, generated tokens standing for a typical answer)
FAMILIES = {
    "caption": ("<CAPTION>", 24),
    "detection": ("<ANOMALY_DETECTION>", 16),  # e.g. 4 spans: label + 2 locations each
    "segmentation": ("<REGIME_SEGMENTATION>", 12),
    "change points": ("<CHANGE_POINT_DETECTION>", 6),
    "grounding": ("<CAPTION_TO_PHRASE_GROUNDING>a spike near the end", 8),
}


def make_series(count: int, length: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return [np.sin(2 * np.pi * t / rng.integers(8, 64)) + 0.3 * rng.normal(size=length) for _ in range(count)]


def run_batch(model, processor, series, prompt, new_tokens, num_beams):
    task = prompt.split(">")[0] + ">"
    inputs = processor(series=series, text=prompt)
    with torch.inference_mode():
        ids = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, num_beams=num_beams)
    texts = processor.batch_decode(ids, skip_special_tokens=False)
    return [processor.post_process_generation(t, prompt, len(s))[task] for t, s in zip(texts, series, strict=True)]


def throughput(model, processor, series, prompt, new_tokens, num_beams, batch, repeats) -> float:
    run_batch(model, processor, series[:1], prompt, new_tokens, num_beams)  # warm-up (first-call overheads)
    done, start = 0, time.perf_counter()
    for r in range(repeats):
        chunk = series[r * batch : (r + 1) * batch]
        run_batch(model, processor, chunk, prompt, new_tokens, num_beams)
        done += len(chunk)
    return done / (time.perf_counter() - start)


def shared_encoding_gain(model, processor, tmp_dir: str, length: int, repeats: int) -> None:
    """Five prompts on one series: five pipeline calls vs one call that encodes the series once."""
    model.save_pretrained(tmp_dir)
    processor.save_pretrained(tmp_dir)
    pipe = pipeline("time-series-prompting", model=tmp_dir)
    tasks = [FAMILIES[f][0].split(">")[0] + ">" for f in FAMILIES if f != "grounding"]
    series = make_series(repeats, length, seed=1)
    kwargs = dict(max_new_tokens=12, min_new_tokens=12)
    pipe(series[0], task=tasks, generate_kwargs=kwargs)  # warm-up
    start = time.perf_counter()
    for s in series:
        for t in tasks:
            pipe(s, task=t, generate_kwargs=kwargs)
    separate = (time.perf_counter() - start) / len(series)
    start = time.perf_counter()
    for s in series:
        pipe(s, task=tasks, generate_kwargs=kwargs)
    shared = (time.perf_counter() - start) / len(series)

    inputs = processor(series=series[0], text=tasks)
    series_inputs = {k: v for k, v in inputs.items() if k.startswith("series_")}
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(20):
            model.get_series_features(**{k: v[:1] for k, v in series_inputs.items()})
        once = (time.perf_counter() - start) / 20
        start = time.perf_counter()
        for _ in range(20):
            model.get_series_features(**series_inputs)
        per_prompt = (time.perf_counter() - start) / 20
    print(f"\n{len(tasks)} prompts on one series of length {length} (12 generated tokens each), pipeline:")
    print(f"  one call per prompt:               {separate * 1000:8.1f} ms per series")
    print(f"  one call, series encoded once:     {shared * 1000:8.1f} ms per series  ({separate / shared:.1f}x faster)")
    print(f"  series encoder alone: once {once * 1000:.2f} ms vs once per prompt {per_prompt * 1000:.2f} ms")


# ---------------------------------------------------------------------------------------------------------
# --model: a trained checkpoint on corpus series, beside the engine's specialists

MODEL_TASKS = {
    "<ANOMALY_DETECTION>": "detection",
    "<EVENT_DETECTION>": "detection",
    "<CHANGE_POINT_DETECTION>": "change points",
    "<REGIME_SEGMENTATION>": "segmentation",
    "<CAPTION>": "caption",
}
"""Task -> family, in the order they are timed."""
TASK_OF_OUTPUT = {
    "anomaly": "<ANOMALY_DETECTION>",
    "event": "<EVENT_DETECTION>",
    "segments": "<REGIME_SEGMENTATION>",
    "points": "<CHANGE_POINT_DETECTION>",
}
"""Which task an output of a specialist answers (`scripts/benchmark.py`'s `output_of`, reversed)."""
SHORT_NAMES = {
    "<ANOMALY_DETECTION>": "anomaly",
    "<EVENT_DETECTION>": "event",
    "<CHANGE_POINT_DETECTION>": "change points",
    "<REGIME_SEGMENTATION>": "segmentation",
    "<CAPTION>": "caption",
}


class BenchError(Exception):
    """Bad input: reported as one line, no traceback."""


def sample_cases(data: Path, split: str, count: int) -> tuple[list, int]:
    """`count` series of the split (seed-fixed sample, `evaluation.datasets.subsample`) as `Case`s without truth
    (the record as the engine receives it), and the size of the split."""
    from ts_florence.evaluation.datasets import Case, subsample
    from ts_florence.records import blank, load_split, values_array

    if not data.is_dir():
        raise BenchError(f"corpus folder {data} does not exist (build one with `ts-florence engine build`)")
    try:
        records = load_split(data, split)
    except ValueError as err:
        raise BenchError(str(err)) from None
    if len(records) == 0:
        raise BenchError(f"the {split} split of {data} has no series")
    cases = [
        Case(record["id"], values_array(record), {}, blank(record, hide_truth=True), record.get("timestamps"))
        for record in records.select(subsample(len(records), count))
    ]
    return cases, len(records)


def load_pipeline(path: Path, dtype: str = "float32"):
    """The checkpoint through `AutoModelForSeq2SeqLM` / `AutoProcessor` in the `time-series-prompting` pipeline,
    weights in `dtype`."""
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor  # ts_florence, imported above, registers them

    from ts_florence.io import check_model_folder

    try:
        check_model_folder(path)
    except ValueError as err:
        raise BenchError(str(err)) from None
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(str(path), dtype=getattr(torch, dtype)).eval()
        processor = AutoProcessor.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise BenchError(f"cannot load the checkpoint at {path}: {err}") from None
    return pipeline("time-series-prompting", model=model, processor=processor, device="cpu")


class GeneratedTokens:
    """Counts the tokens `model.generate` produces per answer (after the decoder's start token, up to and with the
    first `</s>`), by wrapping the model's `generate` while in use."""

    def __init__(self, model) -> None:
        self.model = model
        self.eos = model.generation_config.eos_token_id
        self.max_new_tokens = model.generation_config.max_new_tokens
        self.answers = self.tokens = self.at_max = 0

    def reset(self) -> None:
        self.answers = self.tokens = self.at_max = 0

    def __enter__(self) -> GeneratedTokens:
        generate = self.model.generate

        def counted(*args, **kwargs):
            out = generate(*args, **kwargs)
            new = (out.sequences if hasattr(out, "sequences") else out)[:, 1:]
            ended = torch.isin(new, torch.as_tensor(self.eos).reshape(-1))
            length = torch.where(ended.any(1), ended.int().argmax(1) + 1, new.shape[1])
            self.answers += len(length)
            self.tokens += int(length.sum())
            self.at_max += int((~ended.any(1)).sum())
            return out

        self.model.generate = counted
        return self

    def __exit__(self, *exc) -> None:
        del self.model.generate  # the class's method again


def time_model(pipe, cases: list, task: str, batch: int, threads: int, counter: GeneratedTokens, progress: bool):
    """One row: `task` on every case through the pipeline at `batch` series per call (`benchmark.run_model`)."""
    counter.reset()
    _, seconds = B.run_model(pipe, cases, task, None, 0.0, batch, {}, threads, progress=progress)
    return {
        "method": "model",
        "kind": "model",
        "task": task,
        "tasks": [task],
        "family": MODEL_TASKS[task],
        "batch": batch,
        "series_per_second": len(cases) / max(seconds, 1e-9),
        "seconds": seconds,
        "n_series": len(cases),
        "tokens_per_answer": counter.tokens / max(counter.answers, 1),
        "answers": counter.answers,
        "answers_at_max": counter.at_max,
    }


def engine_methods(names: list[str] | None, config, notes: list[str]) -> list:
    """Each specialist as `scripts/benchmark.py` runs it, then the build's annotate step (its specialists in turn,
    the decomposition shared) and the whole recipe (`benchmark.engine_method`)."""
    from ts_florence.engine.build import build_steps
    from ts_florence.engine.specialists import SPECIALISTS, clear_analysis_cache
    from ts_florence.engine.steps import Annotate
    from ts_florence.records import blank

    annotate = [step for step in build_steps(config) if isinstance(step, Annotate)]
    if names is None:
        names = [step.specialist.name for step in annotate]
    elif names == ["all"]:
        names = list(SPECIALISTS)
    unknown = [n for n in names if n not in SPECIALISTS]
    if unknown:
        raise BenchError(f"unknown specialist(s) {unknown}; choose from {list(SPECIALISTS)} or 'all'")
    tuned = [spec["name"] for spec in config.specialists if set(spec) - {"name"}]
    if tuned:
        notes.append(f"build config sets thresholds of {tuned}: their own rows use the defaults, annotate the config's")
    methods = [B.specialist_method(name) for name in names]

    def run_annotate(case) -> dict:
        clear_analysis_cache()  # once per series: the specialists share the decomposition, as in a build
        record: dict[str, Any] | None = blank(case.record, hide_truth=True)
        for step in annotate:
            record = step.process(record) if record is not None else None
        if record is None:
            raise RuntimeError("a specialist failed; the build would drop the series")
        return {}

    outputs = tuple(dict.fromkeys(o for step in annotate for o in B.specialist_method(step.specialist.name).outputs))
    notes.append("engine annotate: " + ", ".join(step.specialist.name for step in annotate) + " in turn")
    methods.append(B.Method("engine_annotate", "engine annotate", "engine", outputs, True, run_annotate))
    methods.append(B.engine_method(config))
    return methods


def _method_tasks(method) -> list[str]:
    """The tasks a specialist or the engine answers, in `MODEL_TASKS` order."""
    tasks = {TASK_OF_OUTPUT[o] for o in method.outputs}
    if method.name in ("engine", "regime_describer"):
        tasks.add("<CAPTION>")  # the caption writer's input (description), or its captions
    return [task for task in MODEL_TASKS if task in tasks]


def _task_cell(row: dict) -> str:
    """The task column: the task token of a model row, short names for a row that answers several."""
    if len(row["tasks"]) == 1 and row["kind"] == "model":
        return row["tasks"][0]
    short = ", ".join(SHORT_NAMES[t] for t in row["tasks"])
    return f"description for {short}" if row["method"] == "specialist regime_describer" else short


def time_method(method, cases: list, notes: list[str], progress: bool) -> dict:
    """One row: `method` once per case (all the tasks it answers), warmed up first; failures counted."""
    from tqdm.auto import tqdm

    warm = B.warm_up(method)
    if warm > 5:
        notes.append(f"{method.name}: {warm:.0f} s of warm-up (numba compilation), not timed")
    failures = []
    seconds = 0.0
    for case in tqdm(cases, desc=method.name, unit="series", leave=False, disable=not progress):
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                method.run(case)
        except Exception as err:  # noqa: BLE001 - counted and reported
            failures.append(f"{case.id}: {type(err).__name__}: {err}"[:200])
        seconds += time.perf_counter() - start
    if failures:
        notes.append(f"{method.name} failed on {len(failures)} series, e.g. {failures[0]}")
    return {
        "method": method.label,
        "kind": method.kind,
        "task": " ".join(_method_tasks(method)),
        "tasks": _method_tasks(method),
        "family": None,
        "batch": None,
        "series_per_second": len(cases) / max(seconds, 1e-9),
        "seconds": seconds,
        "n_series": len(cases),
        "tokens_per_answer": None,
        "failures": len(failures),
    }


def format_table(rows: list[dict]) -> str:
    header = ("method", "task", "batch", "series/s", "tokens/answer")
    cells = [
        (
            row["method"] if row["kind"] != "model" or len(row["tasks"]) == 1 else "model, one call per task",
            _task_cell(row),
            "-" if row["batch"] is None else str(row["batch"]),
            f"{row['series_per_second']:.2f}",
            "-" if row["tokens_per_answer"] is None else f"{row['tokens_per_answer']:.1f}",
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    lines = []
    for r in [header, *cells]:
        left = "  ".join(c.ljust(w) for c, w in zip(r[:2], widths[:2], strict=True))
        right = "  ".join(c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=True))
        lines.append(f"{left}  {right}")
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _atomic_write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_in_place(path, json.dumps(report, indent=1, default=float) + "\n")


def bench_model(args: argparse.Namespace) -> dict:
    """The `--model` mode: prints the table and returns (and with `--json` writes) the figures."""
    if args.series < 1 or not args.batch_sizes or min(args.batch_sizes) < 1 or args.threads < 1:
        raise BenchError("--series, --batch-sizes and --threads must be >= 1")
    if not args.model.is_dir():
        raise BenchError(f"model folder {args.model} does not exist")
    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    started = time.perf_counter()
    progress = not args.no_progress
    cases, total = sample_cases(args.data, args.split, args.series)
    lengths = [c.length for c in cases]
    multivariate = sum(c.values.shape[0] > 1 for c in cases)
    config, config_source = B.engine_config(args.data)
    notes: list[str] = []
    methods = engine_methods(args.specialists, config, notes)

    pipe = load_pipeline(args.model, args.dtype)
    model = pipe.model
    keys = ("max_new_tokens", "num_beams", "end_threshold")
    generation = {k: getattr(model.generation_config, k, None) for k in keys}
    machine = {
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": threads,
    }
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        f"machine: {machine['processor']}, {machine['cpu_count']} cores, torch {machine['torch']}, "
        f"{threads} torch threads",
        flush=True,
    )
    print(
        f"model {args.model} ({n_params:.3g}M parameters, {args.dtype}), its generation config: "
        + ", ".join(f"{k} {v}" for k, v in generation.items())
        + "; pipeline with boundary refinement, series read whole",
        flush=True,
    )
    print(
        f"series: {len(cases)} of {total} of the {args.split} split of {args.data} (seed {SEED}), "
        f"{multivariate} multivariate, lengths {min(lengths)}-{int(np.median(lengths))}-{max(lengths)} "
        f"(min-median-max); engine config from {config_source}",
        flush=True,
    )

    rows: list[dict] = []
    with GeneratedTokens(model) as counter, torch.inference_mode():
        for task in MODEL_TASKS:  # warm-up: first-call overheads of every task, out of the timing
            pipe([cases[0].values.T], task=task, batch_size=1, generate_kwargs={"max_new_tokens": 4})
        for batch in args.batch_sizes:
            per_batch = [time_model(pipe, cases, task, batch, threads, counter, progress) for task in MODEL_TASKS]
            rows += per_batch
            answers = sum(r["answers"] for r in per_batch)
            tokens = sum(r["tokens_per_answer"] * r["answers"] for r in per_batch)
            rows.append(
                {
                    "method": "model",
                    "kind": "model",
                    "task": " ".join(MODEL_TASKS),
                    "tasks": list(MODEL_TASKS),
                    "family": None,
                    "batch": batch,
                    "series_per_second": len(cases) / sum(r["seconds"] for r in per_batch),
                    "seconds": sum(r["seconds"] for r in per_batch),
                    "n_series": len(cases),
                    "tokens_per_answer": tokens / max(answers, 1),
                    "answers": answers,
                    "answers_at_max": sum(r["answers_at_max"] for r in per_batch),
                }
            )
    single = [r for r in rows if r["kind"] == "model" and r["family"]]
    cut = {t: [sum(r[k] for r in single if r["task"] == t) for k in ("answers_at_max", "answers")] for t in MODEL_TASKS}
    notes.append(
        f"model answers that reached max_new_tokens {generation['max_new_tokens']} without </s>: "
        + ", ".join(f"{SHORT_NAMES[t]} {at_max} of {answers}" for t, (at_max, answers) in cut.items())
    )
    for method in methods:
        rows.append(time_method(method, cases, notes, progress))
    torch.set_num_threads(threads)  # numba (matrix profile) may have changed OpenMP's thread count

    print("\n" + format_table(rows), flush=True)
    for note in notes:
        print(f"- {note}", flush=True)
    report = {
        "machine": machine,
        "model": str(args.model),
        "parameters_millions": n_params,
        "dtype": args.dtype,
        "generation": generation,
        "data": str(args.data),
        "split": args.split,
        "series": len(cases),
        "total": total,
        "seed": SEED,
        "multivariate": multivariate,
        "lengths": {"min": min(lengths), "median": float(np.median(lengths)), "max": max(lengths)},
        "engine_config": config_source,
        "batch_sizes": args.batch_sizes,
        "rows": rows,
        "notes": notes,
        "wall_seconds": time.perf_counter() - started,
    }
    print(f"wall time {report['wall_seconds']:.0f} s", flush=True)
    if args.json:
        _atomic_write_json(args.json, report)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "base"])
    parser.add_argument("--length", type=int, default=512, help="series length in samples")
    parser.add_argument("--repeats", type=int, default=3, help="timed batches per setting")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    model_mode = parser.add_argument_group("trained model on corpus series (--model)")
    model_mode.add_argument("--model", type=Path, default=None, help="a checkpoint folder: measure it, not presets")
    model_mode.add_argument("--data", type=Path, default=Path("corpus"), help="engine corpus folder")
    model_mode.add_argument("--split", default="eval", help="split of the corpus (default: the frozen eval split)")
    model_mode.add_argument("--series", type=int, default=256, help="series sampled from the split (seed 0)")
    model_mode.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    model_mode.add_argument(
        "--specialists", nargs="+", default=None, help="specialist names, or 'all' (default: the build config's)"
    )
    model_mode.add_argument(
        "--dtype",
        choices=B.DTYPES,  # one list of the weights' dtypes, the benchmark's
        default="float32",
        help="the model's weights (bfloat16: faster on AVX-512 BF16)",
    )
    model_mode.add_argument("--json", type=Path, default=None, help="write the figures here")
    model_mode.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.model is not None:
        try:
            bench_model(args)
        except BenchError as err:
            raise SystemExit(f"error: {err}") from None
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; series length {args.length}; random weights; "
        f"output length fixed per family (tokens): " + ", ".join(f"{f} {n}" for f, (_, n) in FAMILIES.items())
    )
    for preset in args.presets:
        processor = TSFlorenceProcessor.from_preset(preset)
        model = TSFlorenceForConditionalGeneration(TSFlorenceConfig.from_preset(preset)).eval()
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"\npreset {preset} ({n_params:.1f}M parameters), series/s")
        print(
            f"{'family':15s} {'batch 1 greedy':>15s} {'batch 1 beam 3':>15s} {'batch 32 greedy':>16s} "
            f"{'batch 32 beam 3':>16s}"
        )
        for family, (prompt, new_tokens) in FAMILIES.items():
            row = []
            for batch in (1, 32):
                series = make_series(batch * args.repeats, args.length)
                for beams in (1, 3):
                    row.append(throughput(model, processor, series, prompt, new_tokens, beams, batch, args.repeats))
            print(f"{family:15s} {row[0]:15.1f} {row[1]:15.1f} {row[2]:16.1f} {row[3]:16.1f}")
        if preset == args.presets[0]:
            with tempfile.TemporaryDirectory() as tmp_dir:
                shared_encoding_gain(model, processor, tmp_dir, args.length, args.repeats)


if __name__ == "__main__":
    main()
