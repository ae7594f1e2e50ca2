"""Refinement rounds end to end (docs/architecture.md, Flow 2): round 0 -> model 0 -> refine -> round 1 -> model 1
-> refine -> round 2 -> model 2, beside a control that separates better labels from more training, with the tiny
preset on CPU.

    # from the bundled model: two rounds, each round's model and two controls fine-tuned 1,000 steps from it
    nice -n 19 python scripts/run_rounds.py --corpus corpus --work runs/rounds \
        --model0 ts_florence/pretrained/ts-florence-tiny --init-from model0 --train-last --steps 1000 --seed 0 \
        --control-seeds 0 1 --dev-data ../shared/data --table --background
    python scripts/run_rounds.py --work runs/rounds --only control0 control1 --background   # the controls, beside
    python scripts/run_rounds.py --work runs/rounds --status

Stages, in order (`WORK/done/<stage>` marks a finished one; a rerun skips finished stages, so relaunching the same
command after an interruption resumes at the stage that was running, and that stage resumes too):

    check0     the contamination check of round 0: a corpus whose training part shares a series with its frozen
               evaluation split is refused before anything is trained on it
    train{k}   training/train.py (--train-config, the tiny preset by default) on round k -> WORK/model{k}; resumes
               from its own checkpoints. With --model0, model 0 is that trained model and there is no train0. The
               model of round k >= 1 starts (--init-from) from a new model, from model k-1 or from model 0.
    dev{k}     only with --dev-data: scripts/benchmark.py scores model k on the dev sets -> WORK/dev{k}.json
    refine{k}  `ts_florence.engine.refine.refine_corpus`: model k re-annotates round k -> WORK/round{k+1} with its
               audit (audit.md, .json, .png; the model's frozen-split and dev-set scores included; the rare-class
               guard measures against round 0); resumes its finished chunks
    gallery{k} `ts_florence.engine.refine.gallery`: where model k disagrees with the specialists, per class, on
               semi-synthetic series against exact truth and on the refined real series -> WORK/gallery{k+1}
    train{N}   only with --train-last: a model on the last round
    control{s} only with --control-seeds: the control, trained as model 1 is (same start, steps and settings) but
               on the round-0 labels, with seed s -> WORK/control{s}; what the rounds must beat
    table      the round table: every model (0, the controls, 1..) and the teachers (each specialist and the merged
               round-0 labels) on the frozen split (scripts/benchmark.py, its subsample) and the dev sets, and the
               models' caption attribute accuracy and grounding recall (`ts-florence evaluate`) -> WORK/table.md,
               WORK/table.json; each measurement is kept under WORK/table/ and not redone

Round 0 is the `--corpus` folder itself (never written to). Every stage writes its output under a temporary name
or resumes it, and is marked done only when complete. The options that decide the results are kept in
`WORK/run.json` by the first launch; a relaunch may leave them out, and one with other values is refused (use
another --work). Each stage runs under its own lock (`WORK/locks/<stage>`), and a launch that reaches a stage
another launch is running waits for it: `--only STAGE ...` runs some stages beside a full launch (two cores: the
controls beside the rounds). Two full launches on one WORK are refused. `--background` starts the run detached,
logging to `WORK/run_rounds.log` (`WORK/run_rounds-<stages>.log` with --only). At the end `WORK/summary.md` sums
up the rounds, the guard's flags and the table.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from ts_florence.io import write_text_in_place

ROOT = Path(__file__).resolve().parents[1]
FIXED = {
    "corpus": None,
    "steps": None,
    "train_config": str(ROOT / "training" / "configs" / "tiny.yaml"),
    "train_set": [],
    "model0": None,
    "init_from": "new",
    "seed": None,
    "control_seeds": [],
    "model_weight": 1.0,
    "guard_share": 0.5,
    "refine_limit": None,
    "max_new_tokens": None,
    "window": None,
    "chunk_size": 512,
    "min_gain": 0.05,
}
"""Options that decide what the stages write, with their defaults: a relaunch on the same WORK takes those it is
not given from `WORK/run.json` and refuses other values."""
BEFORE_OPTION = {"min_gain": "none", "init_from": "new"}
"""Options added after a work folder may have been started, with the value such a run used (no skill gate; a new
model every round unless its run.json says `init_from_previous`)."""
INIT_FROM = ("new", "previous", "model0")
TEXT_TASKS = ("<CAPTION>", "<CAPTION_TO_PHRASE_GROUNDING>")
"""The text tasks of the round table (`ts-florence evaluate`): caption attribute accuracy, grounding recall."""

logger = logging.getLogger("run_rounds")


def shown(path: str | Path) -> str:
    """A path as the reports show it: relative to the repository when inside it (they are shared, the machine's
    layout is not)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def log(message: str) -> None:
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------------------------
# Stages


def round_dir(args: argparse.Namespace, k: int) -> Path:
    return Path(args.corpus) if k == 0 else Path(args.work) / f"round{k}"


def model_dir(args: argparse.Namespace, k: int) -> Path:
    if k == 0 and args.model0:
        return Path(args.model0)
    return Path(args.work) / f"model{k}"


def control_dir(args: argparse.Namespace, seed: int) -> Path:
    return Path(args.work) / f"control{seed}"


def start_of(args: argparse.Namespace, k: int) -> Path | None:
    """What the model of round k (k >= 1; a control counts as round 1) starts from (`--init-from`)."""
    if k == 0 or args.init_from == "new":
        return None
    return model_dir(args, k - 1 if args.init_from == "previous" else 0)


def training_done(out: Path) -> bool:
    """train.py writes its final folder last, through `FINAL_STAGING`: results present and that folder gone."""
    from ts_florence.training import FINAL_STAGING

    return (
        (out / "train_results.json").is_file()
        and (out / "config.json").is_file()
        and not (out / FINAL_STAGING).exists()
    )


def run_training(
    corpus: Path, out: Path, args: argparse.Namespace, init_from: Path | None, seed: int | None = None
) -> None:
    """training/train.py in a child process (resumes from `out/checkpoints` when relaunched); `seed` (default
    `--seed`, else the train config's) is set after `--train-set`."""
    command = [
        sys.executable,
        str(ROOT / "training" / "train.py"),
        "--config",
        str(args.train_config),
        "--data",
        str(corpus),
        "--output-dir",
        str(out),
    ]
    if args.steps is not None:
        command += ["--max-steps", str(args.steps)]
    if init_from is not None:
        command += ["--init-from", str(init_from)]
    for item in args.train_set:
        command += ["--set", item]
    seed = args.seed if seed is None else seed
    if seed is not None:
        command += ["--set", f"run.seed={seed}"]
    _child(command)


def run_dev(model: Path, corpus: Path, out: Path, args: argparse.Namespace) -> None:
    """scripts/benchmark.py, the model only, on the dev sets; its JSON report goes to `out`."""
    run_benchmark(model, corpus, out, args, ["tssb", "nab"], ["model"], limit=args.dev_limit)


def run_benchmark(
    model: Path,
    corpus: Path,
    out: Path,
    args: argparse.Namespace,
    datasets: list[str],
    methods: list[str],
    limit: int | None = None,
) -> None:
    """scripts/benchmark.py on `datasets` with `methods`; its JSON report goes to `out` (written in place)."""
    from ts_florence.io import file_in_place

    command = [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--model", str(model), "--corpus", str(corpus)]
    if args.dev_data:
        command += ["--dev-data", str(args.dev_data)]
    command += ["--datasets", *datasets, "--methods", *methods, "--no-progress"]
    if limit is not None:
        command += ["--limit", str(limit)]
    with file_in_place(out) as tmp:
        _child([*command, "--json", str(tmp)])


def _child(command: list[str]) -> None:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    log("running " + " ".join(command))
    # The child inherits the lock on WORK: if this process dies first, a relaunch is refused until the orphaned
    # child ends too, instead of starting a second training on the same folder.
    held = tuple(h.fileno() for h in (_held_lock, _stage_lock) if h is not None and not h.closed)
    completed = subprocess.run(command, env=env, cwd=ROOT, pass_fds=held)
    if completed.returncode != 0:
        raise RuntimeError(f"{Path(command[1]).name} exited with status {completed.returncode}")


def refine_config(args: argparse.Namespace, k: int):
    """The RefineConfig of round k from the options (same names as its fields)."""
    from ts_florence.configs import from_namespace
    from ts_florence.engine.refine import RefineConfig

    return from_namespace(RefineConfig, args, exclude=("tasks",), limit=args.refine_limit, round=k)


def run_refine(args: argparse.Namespace, k: int) -> None:
    from ts_florence.engine.refine import refine_corpus

    config = refine_config(args, k)
    dev = Path(args.work) / f"dev{k}.json"
    audit = refine_corpus(
        round_dir(args, k),
        model_dir(args, k),
        round_dir(args, k + 1),
        config,
        dev_scores=dev if dev.is_file() else None,
        progress=False,
    )
    flagged = ", ".join(f["class"] for f in audit["guard"]["flagged"]) or "none"
    log(f"round {k + 1}: {audit['records']['refined']} series refined, classes flagged by the guard: {flagged}")


def run_gallery(args: argparse.Namespace, k: int) -> None:
    from ts_florence.engine.refine.gallery import disagreement_gallery
    from ts_florence.io import directory_in_place

    config = refine_config(args, k)
    with directory_in_place(Path(args.work) / f"gallery{k + 1}") as tmp:
        report = disagreement_gallery(
            round_dir(args, k), model_dir(args, k), tmp, config, refined=round_dir(args, k + 1)
        )
    for view, data in report["views"].items():
        changed = {c: (v.get("added", 0), v.get("removed", 0)) for c, v in data["classes"].items()}
        log(f"gallery {k + 1}, {data['series']} {view}: (added, removed) per class {changed}")


# --------------------------------------------------------------------------------------------------------------
# The round table


def table_models(args: argparse.Namespace) -> list[tuple[str, str, Path]]:
    """(key, name, folder) of every model of the table, in its order: model 0, the controls, models 1..."""
    rows = [("model0", "model 0", model_dir(args, 0))]
    rows += [(f"control{s}", f"control (seed {s})", control_dir(args, s)) for s in args.control_seeds]
    last = args.rounds if args.train_last else args.rounds - 1
    rows += [(f"model{k}", f"model {k}", model_dir(args, k)) for k in range(1, last + 1)]
    return rows


COLUMNS = [
    # (column, data set, task, prompt, metric)
    ("anomaly F1@0.5", "frozen", "<ANOMALY_DETECTION>", None, "f1@0.5"),
    ("anomaly event-wise F1", "frozen", "<ANOMALY_DETECTION>", None, "event_f1"),
    ("anomaly affiliation F1", "frozen", "<ANOMALY_DETECTION>", None, "affiliation_f1"),
    ("event F1@0.5", "frozen", "<EVENT_DETECTION>", None, "f1@0.5"),
    ("change-point F1", "frozen", "<CHANGE_POINT_DETECTION>", None, "cp_f1"),
    ("change-point covering", "frozen", "<CHANGE_POINT_DETECTION>", None, "covering"),
    ("regime covering", "frozen", "<REGIME_SEGMENTATION>", None, "covering"),
    ("caption attribute accuracy", "text", "<CAPTION>", None, "attribute_accuracy"),
    ("grounding recall@0.5", "text", "<CAPTION_TO_PHRASE_GROUNDING>", None, "recall@0.5"),
    ("TSSB covering", "tssb", "<CHANGE_POINT_DETECTION>", "<CHANGE_POINT_DETECTION>", "covering"),
    ("NAB event-wise F1", "nab", "<ANOMALY_DETECTION>", None, "event_f1"),
    ("NAB affiliation F1", "nab", "<ANOMALY_DETECTION>", None, "affiliation_f1"),
]
"""The columns of the round table: where each number is read from the benchmark (or evaluate) reports."""


def _benchmark_scores(report: dict, method: str) -> dict[str, float]:
    scores = {}
    for column, dataset, task, prompt, metric in COLUMNS:
        for row in (report.get("datasets") or {}).get(dataset, {}).get("rows", []):
            asked = row.get("prompt") or row["task"]  # a non-model method answers the task itself
            if row["method"] == method and row["task"] == task and (prompt is None or asked == prompt):
                value = (row.get("scores") or {}).get(metric)
                if value is not None:
                    scores[column] = value
                break
    return scores


def _text_scores(report: dict) -> dict[str, float]:
    scores = {}
    for column, dataset, task, _prompt, metric in COLUMNS:
        value = (report.get("scores") or {}).get(task, {}).get(metric) if dataset == "text" else None
        if value is not None:
            scores[column] = value
    return scores


class Incomplete(Exception):
    """A stage that did what it could and is left for a later launch (not marked done)."""


def run_table(args: argparse.Namespace) -> dict:
    """Measures what the table needs that WORK/table/ does not hold yet, then writes WORK/table.json and .md."""
    from ts_florence.engine.specialists import SPECIALISTS

    folder = Path(args.work) / "table"
    folder.mkdir(parents=True, exist_ok=True)
    corpus = round_dir(args, 0)
    datasets = ["frozen", *(["tssb", "nab"] if args.dev_data else [])]
    teachers = folder / "teachers.json"
    specialists = [name for name in SPECIALISTS if name != "regime_describer"]
    if not teachers.is_file():
        log("table: the specialists and the merged round-0 labels (scripts/benchmark.py)")
        run_benchmark(model_dir(args, 0), corpus, teachers, args, datasets, [*specialists, "engine"])
    report = json.loads(teachers.read_text())
    rows = [{"name": f"specialist {name}", "scores": _benchmark_scores(report, name)} for name in specialists]
    rows.append({"name": "merged round-0 labels (engine)", "scores": _benchmark_scores(report, "engine")})
    missing = []
    for key, name, model in table_models(args):
        bench, text = folder / f"{key}.json", folder / f"{key}-text"
        if not (key == "model0" and args.model0) and not training_done(model):
            missing.append(name)
            continue
        if not bench.is_file():
            log(f"table: {name} (scripts/benchmark.py)")
            run_benchmark(model, corpus, bench, args, datasets, ["model"])
        if not (text / "report.json").is_file():
            log(f"table: {name} (ts-florence evaluate, text tasks)")
            run_text_eval(model, corpus, text, args)
        scores = _benchmark_scores(json.loads(bench.read_text()), "model")
        scores |= _text_scores(json.loads((text / "report.json").read_text()))
        rows.append({"name": name, "key": key, "scores": scores})
    if missing:
        raise Incomplete(f"the table waits for {', '.join(missing)} (the measurements so far are kept)")
    table = {
        "corpus": shown(corpus),
        "columns": [c[0] for c in COLUMNS],
        "subsample": (report.get("datasets") or {}).get("frozen", {}).get("series"),
        "rows": rows,
        "comparisons": comparisons(rows),
    }
    write_text_in_place(Path(args.work) / "table.json", json.dumps(table, indent=2))
    write_text_in_place(Path(args.work) / "table.md", table_markdown(table))
    return table


def run_text_eval(model: Path, corpus: Path, out: Path, args: argparse.Namespace) -> None:
    """`ts-florence evaluate` of the text tasks on the frozen split; its report.json goes to the folder `out`."""
    from ts_florence.io import directory_in_place

    command = [sys.executable, "-m", "ts_florence.cli", "evaluate", "--model", str(model), "--data", str(corpus)]
    command += ["--tasks", *TEXT_TASKS, "--limit", str(args.text_limit)]
    with directory_in_place(out) as tmp:
        _child([*command, "--out", str(tmp)])


def comparisons(rows: list[dict]) -> list[dict]:
    """Per column: model 1 - the controls' mean, model 2 - model 1, and the controls' seed-to-seed spread (max -
    min), the yardstick of both differences."""
    by_name = {r["name"]: r["scores"] for r in rows}
    controls = [r["scores"] for r in rows if r["name"].startswith("control")]
    out = []
    for column in [c[0] for c in COLUMNS]:
        values = [c[column] for c in controls if column in c]
        mean = sum(values) / len(values) if values else None
        spread = max(values) - min(values) if len(values) > 1 else None
        one, two = by_name.get("model 1", {}).get(column), by_name.get("model 2", {}).get(column)
        out.append(
            {
                "column": column,
                "control mean": mean,
                "control spread": spread,
                "model 1 - control": None if one is None or mean is None else one - mean,
                "model 2 - model 1": None if one is None or two is None else two - one,
            }
        )
    return out


def _cell(value) -> str:
    return "" if value is None else f"{value:.3f}"


def _signed(value) -> str:
    return "" if value is None else f"{value:+.3f}"


def table_markdown(table: dict) -> str:
    columns = table["columns"]
    lines = [
        f"Frozen split of `{table['corpus']}` ({table['subsample']} series, the subsample of scripts/benchmark.py), "
        "text tasks by `ts-florence evaluate`, dev sets TSSB and NAB.",
        "",
        "| | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row in table["rows"]:
        lines.append(f"| {row['name']} | " + " | ".join(_cell(row["scores"].get(c)) for c in columns) + " |")
    lines += ["", "| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for what in ("model 1 - control", "model 2 - model 1", "control spread"):
        cells = [_signed(c[what]) if what != "control spread" else _cell(c[what]) for c in table["comparisons"]]
        lines.append(f"| {what} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------------
# The plan


def stages(args: argparse.Namespace) -> list[tuple[str, object]]:
    """(name, action) of every stage, in order; an action returns when its stage's output is complete."""
    from ts_florence.engine.refine import check_contamination

    def train(k: int):
        def action() -> None:
            out = model_dir(args, k)
            if not training_done(out):
                run_training(round_dir(args, k), out, args, start_of(args, k))
            if not training_done(out):
                raise RuntimeError(f"training of round {k} ended without a finished model in {out}")

        return action

    def control(seed: int):
        def action() -> None:
            out = control_dir(args, seed)
            if not training_done(out):
                run_training(round_dir(args, 0), out, args, start_of(args, 1), seed=seed)
            if not training_done(out):
                raise RuntimeError(f"the control of seed {seed} ended without a finished model in {out}")

        return action

    def dev(k: int):
        def action() -> None:
            out = Path(args.work) / f"dev{k}.json"
            try:
                run_dev(model_dir(args, k), round_dir(args, k), out, args)
            except Exception as err:  # noqa: BLE001 - the dev sets inform the audit; they must not stop the rounds
                log(f"dev sets of model {k} failed ({err}); the audit of round {k + 1} says so")
                write_text_in_place(out, json.dumps({"error": f"scripts/benchmark.py failed: {err}"}))

        return action

    def refine(k: int):
        def action() -> None:
            out = round_dir(args, k + 1)
            if not ((out / "stats.json").is_file() and (out / "audit.json").is_file()):
                run_refine(args, k)

        return action

    plan: list[tuple[str, object]] = [("check0", lambda: check_contamination(round_dir(args, 0)))]
    for k in range(args.rounds):
        if k > 0 or not args.model0:
            plan.append((f"train{k}", train(k)))
        if args.dev_data:
            plan.append((f"dev{k}", dev(k)))
        plan.append((f"refine{k}", refine(k)))
        if args.gallery:
            plan.append((f"gallery{k}", lambda k=k: run_gallery(args, k)))
    if args.train_last:
        plan.append((f"train{args.rounds}", train(args.rounds)))
    plan += [(f"control{s}", control(s)) for s in args.control_seeds]
    if args.table:
        plan.append(("table", lambda: run_table(args)))
    return plan


_stage_lock = None
"""The open lock file of the stage being run (see `run_stage`)."""


def run_stage(name: str, action, work: Path) -> None:
    """Runs one stage unless its marker says it is done, under its lock: a launch that finds another one running
    the stage waits for it, then finds the marker."""
    global _stage_lock
    marker = work / "done" / name
    if marker.exists():
        log(f"{name}: done before, skipped")
        return
    (work / "locks").mkdir(parents=True, exist_ok=True)
    handle = open(work / "locks" / name, "w")  # noqa: SIM115 - held for the stage, passed to its children
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"{name}: another launch is running it; waiting")
            fcntl.flock(handle, fcntl.LOCK_EX)
        if marker.exists():
            log(f"{name}: done by another launch")
            return
        _stage_lock = handle
        log(f"{name}: start")
        started = time.perf_counter()
        try:
            action()
        except Incomplete as err:
            log(f"{name}: not finished: {err}")
            return
        write_text_in_place(marker, json.dumps({"seconds": time.perf_counter() - started, "finished": time.time()}))
        log(f"{name}: done in {time.perf_counter() - started:.0f} s")
    finally:
        _stage_lock = None
        handle.close()


def run(args: argparse.Namespace) -> int:
    work = Path(args.work)
    (work / "done").mkdir(parents=True, exist_ok=True)
    plan = stages(args)
    for name, action in plan:
        if not args.only or name in args.only:
            run_stage(name, action, work)
    if args.only:
        return 0
    summary = summary_markdown(args)
    write_text_in_place(work / "summary.md", summary)
    print(summary, flush=True)
    return 0


def summary_markdown(args: argparse.Namespace) -> str:
    lines = [
        "# Refinement rounds",
        "",
        f"Round 0: `{shown(args.corpus)}`; model 0: `{shown(model_dir(args, 0))}`; work ",
    ]
    lines[-1] += f"folder `{args.work}`; models of rounds >= 1 start from: {args.init_from}."
    lines += [
        "",
        "| round | refined | model outputs used (skill gate) | flagged by the guard (against round 0) | fell against "
        "the round before only | agreement with the round before | model scores |",
        "|---|---:|---|---|---|---|---|",
    ]
    for k in range(1, args.rounds + 1):
        path = round_dir(args, k) / "audit.json"
        if not path.is_file():
            continue
        audit = json.loads(path.read_text())
        agreement = ", ".join(f"{n} {v:.2f}" for n, v in audit["agreement"].items() if isinstance(v, float))
        scores = audit.get("eval") or {}
        cells = [
            f"{t.strip('<>').lower()} {m} {v:.2f}"
            for t, s in (scores.get("scores") or {}).items()
            for m, v in s.items()
            if m in ("f1@0.5", "covering")
        ]
        guard = audit["guard"]
        flagged = ", ".join(f"{f['class']} ({f['change']:+.0%})" for f in guard["flagged"]) or "-"
        fell = ", ".join(guard.get(f"fell against round {k - 1} only") or []) or "-"
        gate = audit.get("gate") or {}
        used = ", ".join(t.strip("<>").lower() for t, g in gate.items() if g["used"]) or ("none" if gate else "-")
        lines.append(
            f"| {k} | {audit['records']['refined']} | {used} | {flagged} | {fell} | {agreement} | "
            f"model {k - 1} on the frozen split: {', '.join(cells) or '-'} |"
        )
    galleries = [k for k in range(1, args.rounds + 1) if (Path(args.work) / f"gallery{k}" / "gallery.md").is_file()]
    if galleries:
        lines += ["", "Where the model disagrees with the specialists: "]
        lines[-1] += ", ".join(f"[round {k}](gallery{k}/gallery.md)" for k in galleries) + "."
    table = Path(args.work) / "table.md"
    if table.is_file():
        lines += ["", "## The round table", "", table.read_text().rstrip()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------------
# Launching


def _gain(text: str) -> float | str:
    """--min-gain: a number, or "none" (kept as the string: None means "not given" to `_settled`)."""
    from ts_florence.cli import optional_float

    value = optional_float(text)
    return "none" if value is None else value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="A relaunch on the same --work may leave out the options that decide the results: they are read "
        "from WORK/run.json.",
    )
    parser.add_argument("--work", required=True, help="work folder: models, rounds 1.., markers, log")
    parser.add_argument("--corpus", help="round 0, a corpus folder")
    parser.add_argument("--rounds", type=int, default=2, help="refinement rounds (2: rounds 1 and 2)")
    parser.add_argument("--steps", type=int, help="training steps per round (default: the train config's)")
    parser.add_argument("--train-config", help="train.py config (default: training/configs/tiny.yaml)")
    parser.add_argument("--train-set", action="append", metavar="SECTION.KEY=VALUE", help="train.py --set")
    parser.add_argument("--model0", help="a trained model folder as model 0 (no train0): the rounds start from it")
    parser.add_argument(
        "--init-from",
        choices=INIT_FROM,
        help="what the model of round k >= 1 (and the control) starts from: a new model (default), model k-1, or "
        "model 0 (each round's model and the control are then fine-tuned from the same model for --steps)",
    )
    parser.add_argument("--seed", type=int, help="train.py run.seed of the rounds' models (default: the config's)")
    parser.add_argument(
        "--control-seeds",
        type=int,
        nargs="+",
        help="train a control per seed: as model 1 is trained, on the round-0 labels (two seeds give the spread)",
    )
    parser.add_argument("--train-last", action="store_true", help="also train a model on the last round")
    parser.add_argument("--model-weight", type=float, help="the model's weight in the merge (default 1)")
    parser.add_argument("--guard-share", type=float, help="rare-class guard: largest allowed drop (default 0.5)")
    parser.add_argument(
        "--min-gain",
        type=_gain,
        help="skill gate: the model's outputs of a task join the merge only if it beats reading nothing by this "
        "much on the frozen split (default 0.05; 'none': every task)",
    )
    parser.add_argument("--refine-limit", type=int, help="refine at most this many series per round")
    parser.add_argument("--eval-limit", type=int, default=50, help="frozen-split examples per task in the audit")
    parser.add_argument("--batch-size", type=int, default=16, help="series per generation call")
    parser.add_argument("--chunk-size", type=int, help="records per resumable refine chunk (default 512)")
    parser.add_argument("--max-new-tokens", type=int, help="longest model output per task when refining")
    parser.add_argument("--window", type=int, help="refine: read longer series in windows of this many samples")
    parser.add_argument("--dev-data", help="folder with tssb/ and nab/: score each round's model on the dev sets")
    parser.add_argument("--dev-limit", type=int, help="series per dev set (scripts/benchmark.py --limit)")
    parser.add_argument(
        "--no-gallery", dest="gallery", action="store_false", help="no gallery of the model's disagreements per round"
    )
    parser.add_argument("--table", action="store_true", help="end with the round table (benchmarks of every model)")
    parser.add_argument("--text-limit", type=int, default=300, help="table: examples per text task (evaluate)")
    parser.add_argument("--only", nargs="+", metavar="STAGE", help="run only these stages (see --status)")
    parser.add_argument("--background", action="store_true", help="run detached, logging to WORK/run_rounds.log")
    parser.add_argument("--status", action="store_true", help="print which stages are done and exit")
    return parser.parse_args(argv)


def _settled(args: argparse.Namespace) -> argparse.Namespace:
    """Fills the options that decide the results from `WORK/run.json` (or their defaults on the first launch,
    which records them there) and refuses values other than those WORK was started with."""
    work = Path(args.work)
    path = work / "run.json"
    for key in ("corpus", "train_config", "model0"):
        if getattr(args, key) is not None:
            setattr(args, key, str(Path(getattr(args, key)).resolve()))
    started = json.loads(path.read_text()) if path.is_file() else None
    if started is None and args.corpus is None:
        raise SystemExit("error: --corpus is needed to start a new work folder")
    if started is not None and "init_from" not in started and started.get("init_from_previous"):
        started["init_from"] = "previous"  # a work folder of the flag --init-from-previous
    changed = []
    for key, default in FIXED.items():
        value = getattr(args, key)
        if value is None:
            setattr(args, key, started.get(key, BEFORE_OPTION.get(key)) if started is not None else default)
        elif started is not None and value != started.get(key, BEFORE_OPTION.get(key)):
            changed.append(f"{key}: {started.get(key, BEFORE_OPTION.get(key))!r}, now {value!r}")
    if changed:
        raise SystemExit(
            f"error: {work} was started with other settings ({'; '.join(changed)}); relaunch without them or with "
            "the same values, or use another --work"
        )
    if not Path(args.corpus).is_dir():
        raise SystemExit(f"error: --corpus {args.corpus} is not a folder")
    if args.rounds < 1:
        raise SystemExit(f"error: --rounds must be >= 1, got {args.rounds}")
    if args.model0 and not (Path(args.model0) / "config.json").is_file():
        raise SystemExit(f"error: --model0 {args.model0} is not a saved model (no config.json)")
    if args.dev_data and not Path(args.dev_data).is_dir():
        raise SystemExit(f"error: --dev-data {args.dev_data} is not a folder")
    work.mkdir(parents=True, exist_ok=True)
    if started is None:
        write_text_in_place(path, json.dumps({key: getattr(args, key) for key in FIXED}, indent=2))
    if args.min_gain == "none":
        args.min_gain = None  # RefineConfig: no skill gate
    return args


_held_lock = None
"""The open lock file of a running `run` (see `_lock`)."""


def _lock(work: Path):
    """An exclusive lock on WORK, held while the process (and the children it passes it to) lives; the kernel
    frees it on any exit."""
    work.mkdir(parents=True, exist_ok=True)
    handle = open(work / ".lock", "w")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SystemExit(f"error: another run_rounds is running on {work}") from None
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _background(argv: list[str], work: Path, only: list[str] | None = None) -> int:
    log_path = work / ("run_rounds.log" if not only else f"run_rounds-{'-'.join(only)}.log")
    command = [sys.executable, str(Path(__file__).resolve()), *[a for a in argv if a != "--background"]]
    with open(log_path, "a") as out:
        child = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT
        )
    print(f"started in the background (pid {child.pid}); log: {log_path}")
    return 0


def status(args: argparse.Namespace) -> int:
    done = Path(args.work) / "done"
    for name, _ in stages(args):
        marker = done / name
        state = "done" if marker.exists() else "to do"
        print(f"{name:10s} {state}")
    return 0


def main(argv: list[str] | None = None) -> int:
    global _held_lock
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _settled(parse_args(argv))
    if args.status:
        return status(args)
    work = Path(args.work)
    if args.only:
        unknown = sorted(set(args.only) - {name for name, _ in stages(args)})
        if unknown:
            raise SystemExit(f"error: --only {' '.join(unknown)}: no such stage in this plan (see --status)")
        # Beside a full launch: each stage's own lock keeps the two from running the same stage.
        if args.background:
            return _background(argv, work, args.only)
        try:
            return run(args)
        except (ValueError, RuntimeError) as err:
            log(f"stopped: {err}")
            raise SystemExit(f"error: {err}") from None
    if args.background:
        _lock(work).close()  # fails now, not in the log, when a run is already going
        return _background(argv, work)
    lock = _held_lock = _lock(work)
    try:
        return run(args)
    except (ValueError, RuntimeError) as err:
        log(f"stopped: {err}")
        raise SystemExit(f"error: {err}") from None
    finally:
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
