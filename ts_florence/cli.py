"""The `ts-florence` command: `predict`, `init` and `tasks`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger("ts_florence")


def bundled_model_path() -> Path | None:
    """The model shipped inside the package (`ts_florence.bundled`), or None when this installation has none."""
    from .bundled import default_model_path

    return default_model_path()


def load_pipeline(model_path: str | os.PathLike):
    """`pipeline("time-series-prompting")` of a local model folder, with a message naming a missing or damaged
    file instead of the loaders' tracebacks."""
    from .io import check_model_folder

    check_model_folder(model_path)
    from transformers import pipeline

    try:
        return pipeline("time-series-prompting", model=str(model_path))
    except Exception as err:  # transformers, tokenizers and safetensors raise many kinds; -v shows the traceback
        raise ValueError(f"cannot load the model in {model_path}: {type(err).__name__}: {err}") from err


def _write_dir_atomically(out: Path, write, overwrite: bool) -> None:
    """Calls `write(tmp_dir)` and moves the finished folder into place, so `out` is never half-written."""
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise SystemExit(f"error: {out} exists and is not empty; pass --overwrite to replace it")
    from .io import directory_in_place

    with directory_in_place(out) as tmp:
        write(tmp)


def cmd_init(args: argparse.Namespace) -> int:
    from . import TSFlorenceConfig, TSFlorenceForConditionalGeneration, TSFlorenceProcessor

    texts = None
    if args.corpus:
        texts = [line for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
        if not texts:
            raise SystemExit(f"error: {args.corpus} holds no text to train the tokenizer on")
    processor = TSFlorenceProcessor.from_preset(args.preset, texts=texts)
    config = TSFlorenceConfig.from_preset(args.preset)
    model = TSFlorenceForConditionalGeneration(config)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)

    _write_dir_atomically(Path(args.out), write, args.overwrite)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"wrote a new {args.preset} model ({n_params / 1e6:.1f}M parameters, "
        f"tokenizer of {len(processor.tokenizer)} tokens) to {args.out}"
    )
    return 0


def _to_jsonable(value):
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _summary(result: dict, channel_names: list[str]) -> str:
    lines = []
    for task, inner in result.items():
        lines.append(task)
        if "text" in inner:
            lines.append(f"  {inner['text']}")
        n = len(inner.get("spans", inner.get("points", [])))
        for i in range(n):
            where = inner["spans"][i] if "spans" in inner else inner["points"][i]
            label = inner.get("labels", [None] * n)[i]
            channel = inner.get("channels", [None] * n)[i]
            score = inner.get("scores", [None] * n)[i]
            parts = [f"  {where}"]
            if label:
                parts.append(str(label))
            if channel is not None:
                parts.append(f"channel {channel_names[channel] if channel < len(channel_names) else channel}")
            if score is not None:
                parts.append(f"score {score:.2f}")
            if "timestamps" in inner:
                when = inner["timestamps"][i]  # a span's first and last timestamp, or a point's
                parts.append(" to ".join(map(str, when)) if isinstance(when, (list, tuple)) else str(when))
            lines.append("  ".join(parts))
        if n == 0 and "text" not in inner:
            lines.append("  (nothing found)")
    return "\n".join(lines)


def _check_predict_args(args: argparse.Namespace) -> None:
    """Usage errors of `predict` found before any file is read: parser.error (exit 2) names the option."""
    from .tasks import task_prompts

    parser = args.parser
    if args.file is None:
        # --task takes one or more values, so `--task A B FILE` hands it the file too: take it back.
        if len(args.task) > 1 and not args.task[-1].lstrip().startswith("<"):
            args.file = args.task.pop()
        else:
            parser.error("the following arguments are required: file (give it before --task, or after the tasks)")
    try:
        args.prompts = task_prompts(args.task, args.text, text_option="--text ")
    except ValueError as err:
        parser.error(str(err))
    if args.plot:
        if args.id_column:
            parser.error("--plot draws one series; a long file of many series (--id-column) is written as a table")
        from .plotting import check_plot_path

        try:
            check_plot_path(args.plot)
        except ValueError as err:
            parser.error(f"--plot: {err}")
    if args.output:
        if not args.id_column:
            parser.error("--output writes the table of a long file of many series: give its --id-column")
        from .long_format import check_table_path

        try:
            check_table_path(args.output)
        except ValueError as err:
            parser.error(f"--output: {err}")


def cmd_predict(args: argparse.Namespace) -> int:
    from .io import check_model_folder, read_series

    _check_predict_args(args)
    model_path = args.model
    if model_path is None:
        bundled = bundled_model_path()
        if bundled is None:
            raise SystemExit(
                "error: no --model given and this installation bundles no default model yet; pass --model PATH "
                "(a folder written by save_pretrained, e.g. by `ts-florence init` or training/train.py)"
            )
        model_path = str(bundled)
    check_model_folder(model_path)
    kwargs = {"task": args.task, "text": args.text, "num_beams": args.num_beams}
    if args.window is not None:
        kwargs["window"] = args.window
    if args.max_new_tokens is not None:
        kwargs["max_new_tokens"] = args.max_new_tokens
    if args.id_column:
        return _predict_long(args, model_path, kwargs)

    data = read_series(args.file, columns=args.column, time_column=args.time_column)
    pipe = load_pipeline(model_path)
    result = pipe(data.values, timestamps=data.timestamps, **kwargs)
    if args.json:
        print(json.dumps(_to_jsonable(result)))
    else:
        print(_summary(result, data.channel_names))
    if args.plot:
        from .plotting import plot_result

        plot_result(
            data.values,
            result,
            args.plot,
            timestamps=data.timestamps,
            channel_names=data.channel_names,
            title=Path(args.file).name,
        )
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


def _predict_long(args: argparse.Namespace, model_path: str, kwargs: dict) -> int:
    """`predict --id-column`: every item of a long file (`ts_florence.long_format`) through the pipeline, the table
    written to `--output` (CSV or Parquet by its suffix, moved into place when whole) or printed (CSV, or JSON
    records with `--json`)."""
    from .io import read_table
    from .long_format import TARGET, TIMESTAMP_COLUMN, long_items, predict_items, target_columns, write_table

    frame = read_table(args.file)
    target = target_columns(args.column or [TARGET])
    items = long_items(
        frame, args.id_column, args.time_column or TIMESTAMP_COLUMN, target
    )  # bad data: before the model
    pipe = load_pipeline(model_path)
    dtype = frame[args.id_column].dtype
    table = predict_items(pipe, items, dtype, batch_size=args.batch_size, progress=True, **kwargs)
    if args.output:
        write_table(table, args.output)
        print(f"{len(table)} rows for {len(items)} series written to {args.output}", file=sys.stderr)
    elif args.json:
        print(table.to_json(orient="records", date_format="iso"))
    else:
        print(table.to_csv(index=False), end="")
    return 0


def cmd_engine_build(args: argparse.Namespace) -> int:
    from .engine.build import build_corpus, load_config

    config = load_config(args.config)
    rank = args.rank if args.rank is not None else int(os.environ.get("RANK", 0))
    world_size = args.world_size if args.world_size is not None else int(os.environ.get("WORLD_SIZE", 1))
    stats = build_corpus(config, args.out, num_proc=args.num_proc, rank=rank, world_size=world_size)
    if not stats:
        print(f"rank {rank}: shards done; rank 0 finishes the corpus")
        return 0
    print(f"\n{'step':28s} {'in':>8s} {'out':>8s} {'seconds':>9s}  removed")
    for name, step in stats["steps"].items():
        removed = sum(step["dropped"].values()) + sum(step["removed"].values())
        print(f"{name:28s} {step['in']:8d} {step['out']:8d} {step['seconds']:9.1f}  {removed}")
    print(
        f"\ntrain {stats['train']} series ({', '.join(f'{k} {v}' for k, v in stats['train_by_kind'].items())}; "
        f"real share {stats['real_share']:.1%}), eval {stats['eval']} ({stats['eval_version']})"
    )
    print("annotations: " + ", ".join(f"{k} {v}" for k, v in stats["annotations"].items()))
    print(f"written to {args.out} (load with datasets.load_dataset)")
    return 0


def cmd_engine_audit(args: argparse.Namespace) -> int:
    from .engine.audit import audit_corpus, format_table

    report = audit_corpus(args.corpus, limit=args.limit, num_proc=args.num_proc)
    print(format_table(report))
    if args.json:
        from .io import write_text_in_place

        write_text_in_place(args.json, json.dumps(report, indent=2))
    return 0


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def optional_float(text: str) -> float | None:
    """An argparse type: a number, or "none"."""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def cmd_engine_refine(args: argparse.Namespace) -> int:
    from .configs import from_namespace
    from .engine.refine import RefineConfig, refine_corpus

    config = from_namespace(RefineConfig, args, exclude=("tasks",))  # the flags name RefineConfig's fields
    audit = refine_corpus(
        args.corpus, args.model, args.out, config, dev_scores=args.dev_scores, overwrite=args.overwrite
    )
    k = audit["round"]
    print(
        f"round {k} written to {args.out}: {audit['records']['refined']} of {audit['records']['train']} training "
        f"series refined by {audit['model_source']}; the frozen evaluation split copied unchanged"
    )
    flagged = audit["guard"]["flagged"]
    print(
        "rare-class guard: "
        + (", ".join(f"{f['class']} {f['before']} -> {f['after']}" for f in flagged) + " restored" if flagged else "-")
    )
    print(
        "agreement with the previous round: "
        + ", ".join(f"{n} {v:.3f}" for n, v in audit["agreement"].items() if isinstance(v, float))
    )
    gate = audit["gate"]
    print(
        "skill gate: "
        + ", ".join(f"{t} {'used' if g['used'] else 'not used'} ({g['reason']})" for t, g in gate.items())
    )
    print(f"audit: {args.out}/audit.md, audit.json, audit.png")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.runner import evaluate_path, report_markdown
    from .io import check_model_folder

    check_model_folder(args.model)
    report = evaluate_path(
        args.model,
        args.data,
        split=args.split,
        tasks=args.tasks,
        limit=args.limit,
        batch_size=args.batch_size,
        num_beams=args.num_beams,
    )
    markdown = report_markdown(report)
    print(markdown)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        from .io import write_text_in_place

        for name, text in (("report.json", json.dumps(_to_jsonable(report), indent=2)), ("report.md", markdown)):
            write_text_in_place(out / name, text)
        print(f"report written to {out}/report.json and report.md", file=sys.stderr)
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from .tasks import TASKS

    for token, spec in TASKS.items():
        needs = f" (input: {spec.input_kind})" if spec.takes_input else ""
        print(f"{token:32s} {spec.description}{needs}")
    return 0


def add_predict_parser(sub) -> None:
    """The `predict` command and its options, on the subcommands `sub`."""
    p = sub.add_parser("predict", help="run a task on a series file, or on each series of a long file")
    # Optional here so that `--task A B FILE` can be read too (see _check_predict_args).
    p.add_argument(
        "file",
        nargs="?",
        help="CSV, TSV, Parquet or JSON file; rows are time steps, numeric columns channels (with --id-column: a long "
        "file, one row per sample of each series)",
    )
    p.add_argument("--task", required=True, nargs="+", help="task token(s), e.g. '<ANOMALY_DETECTION>'")
    p.add_argument("--text", help="input of a task that takes one (a phrase, a label, or <loc_s><loc_e>)")
    p.add_argument("--model", help="model folder (default: the bundled model)")
    p.add_argument(
        "--column",
        "--target",
        dest="column",
        nargs="+",
        help="value columns to use (default: every numeric column; with --id-column: 'target')",
    )
    p.add_argument(
        "--time-column",
        "--timestamp-column",
        dest="time_column",
        help="column of timestamps (default: a column named time/date/timestamp; with --id-column: 'timestamp')",
    )
    p.add_argument(
        "--id-column", help="read FILE as a long file of many series: the column of series ids (e.g. item_id)"
    )
    p.add_argument(
        "--output",
        help="with --id-column: write the table of what was found here (.csv or .parquet; default: print it as CSV)",
    )
    p.add_argument("--batch-size", type=positive_int, default=32, help="series per forward pass (--id-column)")
    p.add_argument("--window", type=positive_int, help="windowed inference: window length in samples")
    p.add_argument("--num-beams", type=positive_int, default=1, help="beam search width (1 = greedy)")
    p.add_argument("--max-new-tokens", type=positive_int, help="longest output in tokens")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--plot", help="draw the series with the result into this image file (png, svg, pdf)")
    p.set_defaults(func=cmd_predict, parser=p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ts-florence", description="Florence-2 for time series.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    add_predict_parser(sub)

    p = sub.add_parser("init", help="write a new, randomly initialised model and its processor")
    p.add_argument("--preset", default="tiny", choices=["tiny", "base", "large"])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--corpus", help="text file (one text a line) to train the tokenizer on")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("evaluate", help="score a model on a corpus split (the frozen evaluation split by default)")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--data", required=True, help="corpus folder (datasets.load_dataset)")
    p.add_argument("--split", default="eval")
    p.add_argument("--tasks", nargs="+", help="task tokens (default: every task with examples)")
    p.add_argument("--limit", type=int, help="at most this many examples per task (fixed subsample)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--num-beams", type=positive_int, default=1)
    p.add_argument("--out", help="folder for report.json and report.md")
    p.set_defaults(func=cmd_evaluate)

    engine = sub.add_parser("engine", help="the data engine: build and audit a corpus")
    engine_sub = engine.add_subparsers(dest="engine_command", required=True)
    p = engine_sub.add_parser("build", help="build (or resume) a corpus from a config")
    p.add_argument("--config", help="build config (YAML); default: the shipped engine/configs/default.yaml")
    p.add_argument("--out", required=True, help="output folder (a rerun resumes it)")
    p.add_argument("--num-proc", type=positive_int, default=1, help="worker processes on this machine")
    p.add_argument("--rank", type=int, help="this node's rank (default: $RANK or 0)")
    p.add_argument("--world-size", type=int, help="number of nodes (default: $WORLD_SIZE or 1)")
    p.set_defaults(func=cmd_engine_build)
    p = engine_sub.add_parser("audit", help="score the specialists and the merged labels against exact truth")
    p.add_argument("corpus", help="a corpus folder written by `engine build`")
    p.add_argument("--limit", type=int, help="audit at most this many evaluation series")
    p.add_argument("--num-proc", type=int, default=1)
    p.add_argument("--json", help="also write the report as JSON here")
    p.set_defaults(func=cmd_engine_audit)
    p = engine_sub.add_parser("refine", help="a refinement round: the model re-annotates the corpus, round k+1")
    p.add_argument("--corpus", required=True, help="round k: a corpus folder (engine build or an earlier refine)")
    p.add_argument("--model", required=True, help="a model folder trained on round k")
    p.add_argument("--out", required=True, help="output folder for round k+1 (a rerun resumes an interrupted one)")
    p.add_argument("--model-weight", type=float, default=1.0, help="weight of the model's votes in the merge")
    p.add_argument("--guard-share", type=float, default=0.5, help="flag (and restore) a class shrinking by more")
    p.add_argument("--batch-size", type=positive_int, default=16, help="series per generation call")
    p.add_argument("--chunk-size", type=int, default=512, help="records per resumable chunk")
    p.add_argument("--limit", type=int, help="refine at most this many series (the others are copied)")
    p.add_argument("--max-new-tokens", type=positive_int, help="longest model output per task")
    p.add_argument("--window", type=positive_int, help="read longer series in windows of this many samples")
    p.add_argument("--eval-limit", type=int, default=50, help="frozen-split examples per task to score; 0: none")
    p.add_argument(
        "--min-gain",
        type=optional_float,
        default=0.05,
        help="skill gate: use the model's outputs of a task only if it beats reading nothing by this much on the "
        "frozen split ('none': every task)",
    )
    p.add_argument("--dev-scores", help="a scripts/benchmark.py JSON report of the model, for the audit")
    p.add_argument("--round", type=int, help="round of --corpus (default: from its stats.json, or 0)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.set_defaults(func=cmd_engine_refine)

    p = sub.add_parser("tasks", help="list the task tokens")
    p.set_defaults(func=cmd_tasks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as err:  # bad data, files or model: exit 1 with one line
        if args.verbose:
            raise
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    sys.exit(main())
