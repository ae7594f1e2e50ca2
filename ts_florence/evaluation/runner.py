"""Benchmark a model on corpus records: every task, scored by its scorer (docs/architecture.md, Evaluation).

    from ts_florence.evaluation.runner import evaluate_path, report_markdown

    report = evaluate_path("runs/tiny", "corpus/round-1", split="eval", limit=500)
    print(report_markdown(report))

The evaluation examples of a task are the training pairs its `TaskSpec.examples(record)` gives, their truth the
target parsed back (`ts_florence.evaluation.examples`), so a score of 1 means the model wrote the target. Spans are
compared on their bounds; channels only by the channel scores (`channel_accuracy`, of the spans matched on their
bounds). The runner generates (`model.generate`), without the pipeline's cell decoding.

Metrics: `report["scores"][task]` holds what the task's scorer gives (`TaskSpec.score`, by the name
`TaskSpec.scorer` in the one registry of `ts_florence.evaluation.scorers`, whose docstring lists the metrics of
each); a metric that does not apply is left out. An example whose prompt the model cannot take (a long caption to
ground) is scored as answered with nothing, so every score is over all the examples of its task.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..processing_ts_florence import SeriesInput, decode_generation
from ..tasks import TASKS, get_task
from .examples import Example, build_examples
from .scorers import CHANGE_POINT_MARGIN, IOUS, METRICS

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

SUBSAMPLE_SEED = 0
"""Seed of the subsample of examples that `limit` keeps, so that reruns score the same examples."""


# ---------------------------------------------------------------------------------------------------------
# Examples


def _fits(model, processor, example: Example) -> bool:
    """Whether the encoder input of `example` (series tokens + prompt) is within the model's limit; a long text
    input (a caption to ground) can exceed it, and cutting it would change the question."""
    limit = model.config.text_config.max_position_embeddings
    channels = example.values.shape[1] if example.values.ndim == 2 else 1
    (prompt,) = processor.build_prompts(
        [example.task + (example.text_input or "")], [processor.feature_extractor.num_tokens(channels)]
    )
    return len(processor.tokenizer(prompt)["input_ids"]) <= limit


def _subsample(examples: list[Example], limit: int | None) -> list[Example]:
    if limit is None or len(examples) <= limit:
        return examples
    keep = np.random.default_rng(SUBSAMPLE_SEED).choice(len(examples), size=limit, replace=False)
    return [examples[i] for i in sorted(keep)]


# ---------------------------------------------------------------------------------------------------------
# Generation


def _generate(
    model, processor, batch: Sequence[Example], generate_kwargs: Mapping[str, Any]
) -> list[tuple[str, list[float] | None]]:
    """Generated text and character scores of each example of `batch` (one task, series of any lengths)."""
    inputs = processor(series=[ex.values for ex in batch], text=[ex.task + (ex.text_input or "") for ex in batch])
    with torch.no_grad():
        output = model.generate(
            **inputs.to(model.device), return_dict_in_generate=True, output_scores=True, **generate_kwargs
        )
    return decode_generation(model, processor, output)


def reference_prediction(task: str, length: int) -> dict[str, Any] | None:
    """The answer that reads nothing of the series, for tasks whose output is located in time: no span, a single
    segment over the whole series, or no change point; None for text tasks. What it scores on a set of examples is
    the floor a model must clear to show it reads its series (covering and change-point F1 are high for one
    segment when the true series have few changes)."""
    kind = get_task(task).output_kind
    if kind in ("labelled_spans", "spans"):
        return {"spans": [], "labels": [], "scores": []}
    if kind == "segments":
        return {"spans": [[0, length]], "labels": [""], "scores": [1.0]}
    if kind == "points":
        return {"points": [], "scores": []}
    return None


def constant_prediction(task: str, examples: Sequence[Example]) -> list[dict[str, Any]] | None:
    """The best constant answers to `examples` of `task`, which read nothing of the series but know the examples'
    answers: for a text task the most frequent target text among them (for a label, the majority class); for a
    task of spans, one span over the whole series, labelled with the most frequent true label (phrase grounding:
    with each phrase of the truth). None for segments and points, where the constant answer is
    `reference_prediction`'s. What a model must clear to show that its text, or its place, depends on the series."""
    spec = get_task(task)
    kind = spec.output_kind
    if kind in ("segments", "points"):
        return None
    if kind == "text":
        texts = Counter(ex.truth["text"] for ex in examples)
        top = max(texts, key=lambda text: (texts[text], text)) if texts else ""
        return [{"text": top} for _ in examples]
    labels = Counter(label for ex in examples for label in ex.truth.get("labels") or [])
    top = max(labels, key=lambda label: (labels[label], label)) if labels else None
    preds = []
    for ex in examples:
        if kind == "labelled_spans" and spec.input_kind == "text":  # grounding: the phrases are the caption's
            named = list(dict.fromkeys(ex.truth["labels"]))
        else:
            named = [top] if kind == "labelled_spans" else [ex.text_input]
        pred = {"spans": [[0, ex.length]] * len(named), "scores": [1.0] * len(named)}
        if kind == "labelled_spans" or ex.text_input is not None:
            pred["labels"] = named
        if spec.with_channels:
            pred["channels"] = [None] * len(named)
        preds.append(pred)
    return preds


def score_task(task: str, examples: Sequence[Example], preds: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The metrics of `task` for predicted results (as `TaskSpec.parse` gives) of `examples`; metrics that do
    not apply (no attribute truth, no matched span, unscored predictions) are left out."""
    if len(examples) != len(preds):
        raise ValueError(f"{len(preds)} predictions for {len(examples)} examples")
    scores = get_task(task).score(examples, preds)
    return {name: float(value) for name, value in scores.items() if value is not None}


# ---------------------------------------------------------------------------------------------------------
# Running


def _select_tasks(tasks: Sequence[str] | str | None, examples: Mapping[str, list[Example]]) -> list[str]:
    if tasks is None:
        return [token for token in TASKS if examples[token]]
    chosen = [tasks] if isinstance(tasks, str) else list(tasks)
    for token in chosen:
        if not examples[token]:
            logger.warning("no record gives an example of %s; it is reported with 0 examples", token)
    return chosen


def evaluate_model(
    model,
    processor,
    records: Iterable[Mapping[str, Any]],
    tasks: Sequence[str] | None = None,
    *,
    batch_size: int = 32,
    limit: int | None = None,
    num_beams: int = 1,
    max_new_tokens: int = 256,
    progress: bool = True,
) -> dict[str, Any]:
    """Runs `model` on the examples of every task in `records` and scores them (see the module docstring).

    Args:
        model: a `TSFlorenceForConditionalGeneration` (put in eval mode while it runs, then restored).
        processor: its `TSFlorenceProcessor`.
        records: corpus records (`ts_florence.records`), e.g. a `datasets.Dataset`.
        tasks: task tokens; default every task of `TASKS` that has an example in `records`. A task given
            here without examples is reported with 0 examples and no scores.
        batch_size: examples per `generate` call (one task per batch).
        limit: at most this many examples per task, a fixed random subsample (`SUBSAMPLE_SEED`).
        num_beams, max_new_tokens: passed to `model.generate`.
        progress: show a progress bar over the batches of each task.

    Returns `{"model", "data", "split", "examples": {task: n}, "scores": {task: {metric: value}},
    "series_per_second": {task: x}, "reference_scores": {task: {metric: value}}, "limit"}`;
    `series_per_second` counts examples (a record may give a task several) over the wall time of input building,
    generation and decoding; `reference_scores` are those of `reference_prediction` on the same examples, for the
    tasks located in time; `constant_scores` those of `constant_prediction`, for text and span tasks;
    `target_scores` those of the target captions themselves, for caption tasks (the ceiling of fact precision: 1
    when the engine's captions state only true facts). Examples whose prompt is too long for the model
    (`skipped_too_long`: task -> count) are scored as answered with nothing (`_nothing`).
    Raises ValueError on an unknown task, no records, or no example of any task.
    """
    tasks = _checked_arguments(tasks, limit, batch_size)
    records = list(records)
    if not records:
        raise ValueError("no records to evaluate")
    examples = build_examples(records, list(TASKS) if tasks is None else tasks)
    chosen = _select_tasks(tasks, examples)
    if not any(examples[token] for token in chosen):
        raise ValueError(f"none of the {len(records)} records gives an example of the tasks {chosen}")

    report: dict[str, Any] = {
        "model": getattr(model, "name_or_path", None) or None,
        "data": None,
        "split": None,
        "examples": {},
        "scores": {},
        "series_per_second": {},
        "reference_scores": {},
        "constant_scores": {},
        "target_scores": {},
        "limit": limit,
    }
    generate_kwargs = {"num_beams": num_beams, "max_new_tokens": max_new_tokens}
    was_training = model.training
    model.eval()
    try:
        for token in chosen:
            todo = _subsample(examples[token], limit)
            report["examples"][token] = len(todo)
            if not todo:
                report["scores"][token] = {}
                continue
            fitting = _fitting(model, processor, token, todo, report)
            start = time.perf_counter()
            answers = _predict(model, processor, token, fitting, batch_size, generate_kwargs, progress)
            report["series_per_second"][token] = len(fitting) / max(time.perf_counter() - start, 1e-9)
            by_example = {id(ex): answer for ex, answer in zip(fitting, answers, strict=True)}
            preds = [by_example[id(ex)] if id(ex) in by_example else _nothing(token, ex.length) for ex in todo]
            report["scores"][token] = score_task(token, todo, preds)
            reference = [reference_prediction(token, ex.length) for ex in todo]
            if reference[0] is not None:  # a task located in time
                report["reference_scores"][token] = score_task(token, todo, reference)
            constant = constant_prediction(token, todo)
            if constant is not None:
                report["constant_scores"][token] = score_task(token, todo, constant)
            if get_task(token).scorer == "captions":
                report["target_scores"][token] = score_task(token, todo, [ex.truth for ex in todo])
            logger.info("%s: %d examples, %s", token, len(todo), report["scores"][token])
    finally:
        model.train(was_training)
    return report


def _checked_arguments(tasks: Sequence[str] | str | None, limit: int | None, batch_size: int) -> list[str] | None:
    """The tasks as a list (None: every task), after the checks of `evaluate_model`'s arguments."""
    if isinstance(tasks, str):
        tasks = [tasks]
    for token in tasks or ():
        get_task(token)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 example per task, got {limit}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return None if tasks is None else list(tasks)


def _nothing(task: str, length: int) -> dict[str, Any]:
    """The answer of an example the model cannot take: no span or point (`reference_prediction` of the tasks
    located in time; a series' only segment for segmentation), an empty text."""
    return reference_prediction(task, length) or {"text": ""}


def _fitting(model, processor, token: str, todo: list[Example], report: dict[str, Any]) -> list[Example]:
    """The examples of `todo` whose prompt the model takes (`_fits`); how many it does not take goes into
    `report["skipped_too_long"]`."""
    fitting = [ex for ex in todo if _fits(model, processor, ex)]
    if len(fitting) < len(todo):
        report.setdefault("skipped_too_long", {})[token] = len(todo) - len(fitting)
        logger.warning(
            "%s: %d examples answered with nothing, their prompt is longer than the model takes",
            token,
            len(todo) - len(fitting),
        )
    return fitting


def _predict(
    model,
    processor,
    token: str,
    todo: Sequence[Example],
    batch_size: int,
    generate_kwargs: Mapping[str, Any],
    progress: bool,
) -> list[dict[str, Any]]:
    """The model's result of task `token` on each example of `todo`, generated in batches and post-processed."""
    preds = []
    batches = range(0, len(todo), batch_size)
    for i in tqdm(batches, desc=token, unit="batch", disable=not progress, leave=False):
        batch = todo[i : i + batch_size]
        for ex, (text, char_scores) in zip(batch, _generate(model, processor, batch, generate_kwargs), strict=True):
            # Boundaries refined on the raw samples, as the pipeline does (ts_florence.boundaries).
            parsed = processor.post_process_generation(
                text,
                token,
                ex.length,
                text_input=ex.text_input,
                char_scores=char_scores,
                series=SeriesInput(values=np.asarray(ex.values, dtype=np.float64).T),
            )
            preds.append(parsed[token])
    return preds


def load_records(data: str | Path, split: str = "eval") -> datasets.Dataset:
    """Split `split` of a corpus: a folder or Hub name `datasets.load_dataset` reads (Parquet shards
    `data/<split>-*.parquet`, with or without a card), or a folder written by `DatasetDict.save_to_disk`.
    Raises ValueError naming the available splits when `split` is not one of them."""
    import datasets

    folder = Path(data)
    if (folder / "dataset_dict.json").exists():
        # `load_dataset` would read the Arrow files of a saved DatasetDict as one "test" split.
        saved = datasets.load_from_disk(str(folder))
        if split not in saved:
            raise ValueError(f"{data} has no split {split!r}; available splits: {', '.join(saved)}")
        return saved[split]
    try:
        if (folder / "data").is_dir():
            from ..records import load_split

            return load_split(folder, split)
        return datasets.load_dataset(str(data), split=split)
    except ValueError as err:
        if "Unknown split" not in str(err):
            raise
        names = datasets.get_dataset_split_names(str(data))
        raise ValueError(f"{data} has no split {split!r}; available splits: {', '.join(names)}") from None


def evaluate_path(
    model_path: str | Path,
    data: str | Path,
    split: str = "eval",
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    *,
    device: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """`evaluate_model` of the model and processor saved at `model_path` on split `split` of corpus `data`
    (see `load_records`), on `device` (default: CUDA when available). Other keyword arguments go to
    `evaluate_model`; the report names the model, the data and the split."""
    # The Auto classes know ts-florence because importing this module imported the `ts_florence` package.
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor

    records = load_records(data, split)
    if len(records) == 0:
        raise ValueError(f"split {split!r} of {data} has no records")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_path)).to(device)
    processor = AutoProcessor.from_pretrained(str(model_path))
    report = evaluate_model(model, processor, records, tasks, limit=limit, **kwargs)
    return {**report, "model": str(model_path), "data": str(data), "split": split}


# ---------------------------------------------------------------------------------------------------------
# Report


def report_markdown(report: Mapping[str, Any]) -> str:
    """Markdown tables: a row per task, its example count, series per second and metrics (blank where a metric
    does not apply), each followed by the reference answer's row and the target's row when the report has them,
    under a line naming the model, data, split and limit; then, when a task has metrics per kind
    (`fact_precision[period]`), a table of them, a row per task and kind."""
    scores: Mapping[str, Mapping[str, float]] = report["scores"]
    tasks = list(report["examples"])
    used = {name for task in tasks for name in scores.get(task, {})}
    overall = {name for name in used if "[" not in name}
    columns = [name for name in METRICS if name in overall] + sorted(overall - METRICS.keys())
    speed = report.get("series_per_second") or {}
    about = ", ".join(
        f"{key} `{report[key]}`" for key in ("model", "data", "split", "limit") if report.get(key) is not None
    )
    lines = [f"Evaluation: {about}", ""] if about else []
    lines.append("| task | examples | series/s | " + " | ".join(columns) + " |")
    lines.append("|---|---:|---:|" + "---:|" * len(columns))
    extra_rows = (
        ("reference_scores", "reference: reads nothing (`reference_prediction`)"),
        ("constant_scores", "constant: the most frequent answer, the whole series (`constant_prediction`)"),
        ("target_scores", "target: the engine's caption"),
    )
    for task in tasks:
        cells = [f"`{task}`", str(report["examples"][task]), f"{speed[task]:.1f}" if task in speed else ""]
        cells += [f"{scores[task][name]:.3f}" if name in scores.get(task, {}) else "" for name in columns]
        lines.append("| " + " | ".join(cells) + " |")
        for key, title in extra_rows:
            extra = (report.get(key) or {}).get(task)
            if extra is not None:
                cells = [title, str(report["examples"][task]), ""]
                cells += [f"{extra[name]:.3f}" if name in extra else "" for name in columns]
                lines.append("| " + " | ".join(cells) + " |")
    targets = {name for task in tasks for name in (report.get("target_scores") or {}).get(task, {})}
    return "\n".join(lines + _kind_table(report, tasks, used | targets)) + "\n"


def _kind_table(report: Mapping[str, Any], tasks: Sequence[str], used: set[str]) -> list[str]:
    """The lines of the table of metrics per kind (`name[kind]`), the target's value beside the model's."""
    order = list(METRICS)
    kinded = sorted(
        {name.split("[")[0] for name in used if "[" in name},
        key=lambda n: (n not in order, order.index(n) if n in order else n),
    )
    if not kinded:
        return []
    targets = report.get("target_scores") or {}
    lines = ["", "Per kind (the target's in brackets, where the report has it):", ""]
    lines += ["| task | kind | " + " | ".join(kinded) + " |", "|---|---|" + "---:|" * len(kinded)]
    for task in tasks:
        scores, target = report["scores"].get(task, {}), targets.get(task, {})
        kinds = list(dict.fromkeys(name[name.index("[") + 1 : -1] for name in [*scores, *target] if "[" in name))
        for kind in kinds:
            cells = [f"`{task}`", kind]
            for base in kinded:
                name = f"{base}[{kind}]"
                value = f"{scores[name]:.3f}" if name in scores else ""
                shown = [value] if value else []
                cells.append(" ".join(shown + ([f"[{target[name]:.3f}]"] if name in target else [])))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


__all__ = [
    "CHANGE_POINT_MARGIN",
    "IOUS",
    "METRICS",
    "Example",
    "build_examples",
    "constant_prediction",
    "evaluate_model",
    "evaluate_path",
    "load_records",
    "reference_prediction",
    "report_markdown",
    "score_task",
]
