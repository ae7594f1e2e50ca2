"""Refinement rounds end to end (docs/architecture.md, Flow 2): round 0 -> train -> refine -> round 1 -> train ->
refine -> round 2, with the tiny preset on CPU.

    nice -n 19 python scripts/run_rounds.py --corpus corpus --work runs/rounds --steps 1000 --background
    python scripts/run_rounds.py --work runs/rounds --status

Stages, in order (`WORK/done/<stage>` marks a finished one; a rerun skips finished stages, so relaunching the same
command after an interruption resumes at the stage that was running, and that stage resumes too):

    check0     the contamination check of round 0: a corpus whose training part shares a series with its frozen
               evaluation split is refused before anything is trained on it
    train{k}   training/train.py (--train-config, the tiny preset by default) on round k -> WORK/model{k}; resumes
               from its own checkpoints
    dev{k}     only with --dev-data: scripts/benchmark.py scores model k on the dev sets -> WORK/dev{k}.json
    refine{k}  `ts_florence.engine.refine.refine_corpus`: model k re-annotates round k -> WORK/round{k+1} with its
               audit (audit.md, .json, .png; the model's frozen-split and dev-set scores included); resumes its
               finished chunks
    train{N}   only with --train-last: a model on the last round

Round 0 is the `--corpus` folder itself (never written to). Every stage writes its output under a temporary name
or resumes it, and is marked done only when complete. The options that decide the results are kept in
`WORK/run.json` by the first launch; a relaunch may leave them out, and one with other values is refused (use
another --work). A lock keeps two launches from running on the same WORK; `--background` starts the run
detached, logging to `WORK/run_rounds.log`. At the end `WORK/summary.md` sums up the rounds.
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

ROOT = Path(__file__).resolve().parents[1]
FIXED = {
    "corpus": None,
    "steps": None,
    "train_config": str(ROOT / "training" / "configs" / "tiny.yaml"),
    "train_set": [],
    "init_from_previous": False,
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
BEFORE_OPTION = {"min_gain": "none"}
"""Options added after a work folder may have been started, with the value such a run used (no skill gate)."""

logger = logging.getLogger("run_rounds")


def log(message: str) -> None:
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------------------------
# Stages


def round_dir(args: argparse.Namespace, k: int) -> Path:
    return Path(args.corpus) if k == 0 else Path(args.work) / f"round{k}"


def model_dir(args: argparse.Namespace, k: int) -> Path:
    return Path(args.work) / f"model{k}"


def training_done(out: Path) -> bool:
    """train.py writes its final folder last, through `.final.tmp`: results present and that folder gone."""
    return (
        (out / "train_results.json").is_file() and (out / "config.json").is_file() and not (out / ".final.tmp").exists()
    )


def run_training(corpus: Path, out: Path, args: argparse.Namespace, init_from: Path | None) -> None:
    """training/train.py in a child process (resumes from `out/checkpoints` when relaunched)."""
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
    _child(command)


def run_dev(model: Path, corpus: Path, out: Path, args: argparse.Namespace) -> None:
    """scripts/benchmark.py, the model only, on the dev sets; its JSON report goes to `out`."""
    from ts_florence.io import file_in_place

    with file_in_place(out) as tmp:
        _child(_dev_command(model, corpus, tmp, args))


def _dev_command(model: Path, corpus: Path, json_path: Path, args: argparse.Namespace) -> list[str]:
    command = [
        sys.executable,
        str(ROOT / "scripts" / "benchmark.py"),
        "--model",
        str(model),
        "--corpus",
        str(corpus),
        "--dev-data",
        str(args.dev_data),
        "--datasets",
        "tssb",
        "nab",
        "--methods",
        "model",
        "--json",
        str(json_path),
        "--no-progress",
    ]
    if args.dev_limit is not None:
        command += ["--limit", str(args.dev_limit)]
    return command


def _child(command: list[str]) -> None:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    log("running " + " ".join(command))
    # The child inherits the lock on WORK: if this process dies first, a relaunch is refused until the orphaned
    # child ends too, instead of starting a second training on the same folder.
    held = (_held_lock.fileno(),) if _held_lock is not None and not _held_lock.closed else ()
    completed = subprocess.run(command, env=env, cwd=ROOT, pass_fds=held)
    if completed.returncode != 0:
        raise RuntimeError(f"{Path(command[1]).name} exited with status {completed.returncode}")


def run_refine(args: argparse.Namespace, k: int) -> None:
    from ts_florence.engine.refine import RefineConfig, refine_corpus

    config = RefineConfig.from_namespace(args, limit=args.refine_limit, round=k)
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


def stages(args: argparse.Namespace) -> list[tuple[str, object]]:
    """(name, action) of every stage, in order; an action returns when its stage's output is complete."""
    from ts_florence.engine.refine import check_contamination

    def train(k: int):
        def action() -> None:
            out = model_dir(args, k)
            if not training_done(out):
                init_from = model_dir(args, k - 1) if args.init_from_previous and k > 0 else None
                run_training(round_dir(args, k), out, args, init_from)
            if not training_done(out):
                raise RuntimeError(f"training of round {k} ended without a finished model in {out}")

        return action

    def dev(k: int):
        def action() -> None:
            out = Path(args.work) / f"dev{k}.json"
            try:
                run_dev(model_dir(args, k), round_dir(args, k), out, args)
            except Exception as err:  # noqa: BLE001 - the dev sets inform the audit; they must not stop the rounds
                log(f"dev sets of model {k} failed ({err}); the audit of round {k + 1} says so")
                out.write_text(json.dumps({"error": f"scripts/benchmark.py failed: {err}"}))

        return action

    def refine(k: int):
        def action() -> None:
            out = round_dir(args, k + 1)
            if not ((out / "stats.json").is_file() and (out / "audit.json").is_file()):
                run_refine(args, k)

        return action

    plan: list[tuple[str, object]] = [("check0", lambda: check_contamination(round_dir(args, 0)))]
    for k in range(args.rounds):
        plan.append((f"train{k}", train(k)))
        if args.dev_data:
            plan.append((f"dev{k}", dev(k)))
        plan.append((f"refine{k}", refine(k)))
    if args.train_last:
        plan.append((f"train{args.rounds}", train(args.rounds)))
    return plan


def run(args: argparse.Namespace) -> int:
    work = Path(args.work)
    done = work / "done"
    done.mkdir(parents=True, exist_ok=True)
    for name, action in stages(args):
        marker = done / name
        if marker.exists():
            log(f"{name}: done before, skipped")
            continue
        log(f"{name}: start")
        started = time.perf_counter()
        action()
        marker.write_text(json.dumps({"seconds": time.perf_counter() - started, "finished": time.time()}))
        log(f"{name}: done in {time.perf_counter() - started:.0f} s")
    summary = summary_markdown(args)
    (work / "summary.md").write_text(summary)
    print(summary, flush=True)
    return 0


def summary_markdown(args: argparse.Namespace) -> str:
    lines = ["# Refinement rounds", "", f"Round 0: `{args.corpus}`; work folder `{args.work}`.", ""]
    lines += [
        "| round | refined | model outputs used (skill gate) | flagged by the guard | agreement with the round "
        "before | model scores |"
    ]
    lines += ["|---|---:|---|---|---|---|"]
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
        flagged = ", ".join(f["class"] for f in audit["guard"]["flagged"]) or "-"
        gate = audit.get("gate") or {}
        used = ", ".join(t.strip("<>").lower() for t, g in gate.items() if g["used"]) or ("none" if gate else "-")
        lines.append(
            f"| {k} | {audit['records']['refined']} | {used} | {flagged} | {agreement} | "
            f"model {k - 1} on the frozen split: {', '.join(cells) or '-'} |"
        )
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
    parser.add_argument(
        "--init-from-previous", action="store_true", default=None, help="fine-tune model k-1 instead of a new one"
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
    parser.add_argument("--background", action="store_true", help="run detached, logging to WORK/run_rounds.log")
    parser.add_argument("--status", action="store_true", help="print which stages are done and exit")
    return parser.parse_args(argv)


def _settled(args: argparse.Namespace) -> argparse.Namespace:
    """Fills the options that decide the results from `WORK/run.json` (or their defaults on the first launch,
    which records them there) and refuses values other than those WORK was started with."""
    work = Path(args.work)
    path = work / "run.json"
    for key in ("corpus", "train_config"):
        if getattr(args, key) is not None:
            setattr(args, key, str(Path(getattr(args, key)).resolve()))
    started = json.loads(path.read_text()) if path.is_file() else None
    if started is None and args.corpus is None:
        raise SystemExit("error: --corpus is needed to start a new work folder")
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
    if args.dev_data and not Path(args.dev_data).is_dir():
        raise SystemExit(f"error: --dev-data {args.dev_data} is not a folder")
    work.mkdir(parents=True, exist_ok=True)
    if started is None:
        path.write_text(json.dumps({key: getattr(args, key) for key in FIXED}, indent=2))
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


def _background(argv: list[str], work: Path) -> int:
    log_path = work / "run_rounds.log"
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
