"""The engine's one executor for sharded, resumable work: the build's shards, the refinement's chunks and the audit's
parts all run as a `Job`.

A job is `tasks` numbered tasks; task `k` is `step(k)`, which reads its own input and writes its own outputs (through
the atomic writes of `ts_florence.io`). The executor is datatrove's (`datatrove.executor`): a finished task is marked
in `folder/completions/` and a rerun skips it, each task logs to `folder/logs/task_K.log` (the console shows only a
task's errors) and `folder/stats/`. The same job runs

- here, in this process (`workers=1`: the step may hold what cannot be sent to another process, such as a model) or
  in `workers` spawned processes (`Job.run`); a node of a multi-node run takes its share (`ranks`, e.g.
  `range(rank, tasks, world_size)`) and one node waits for the others' markers (`Job.wait`);
- on a cluster under datatrove's own executors (`Job.executor("slurm", ...)` or `"ray"`), which write and read the
  same markers, so a job started on one resumes on the other.

Worker processes are spawned, not forked (forking a process that already ran OpenMP code, torch or scikit-learn,
kills the children), and end as soon as the process that started them dies (`end_with_parent`).

`Job.run` is datatrove's task protocol with our pool around it: it calls the executors' `_run_for_rank` (the one
method that runs a task, logs it and marks it; hence the exact pin of datatrove in the `engine` extra) from a pool
of spawned workers that end with their parent, under a progress bar, for any set of tasks (the build's nodes take
shards `rank::world_size`, where datatrove's local executor takes a contiguous range).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# datatrove's task logger writes to the console at INFO for local rank 0 and at ERROR for any other: our tasks run as
# local rank 1, so the console shows only a task's errors, and its whole log stays in `folder/logs`.
_QUIET = 1


def end_with_parent() -> None:
    """Worker initializer: ends this worker as soon as the process that started it dies, however it dies (SIGKILL
    included), instead of finishing the queued tasks as an orphan holding its memory."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent's end of the pipe closes, that is when the parent is gone
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def worker_pool(num_proc: int) -> ProcessPoolExecutor:
    """`num_proc` worker processes that end with their parent (`end_with_parent`).

    Spawned, not forked: forking a process that already ran OpenMP code (torch, scikit-learn) kills the children,
    and a pool of dead workers would wait forever; the executor raises instead."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=num_proc, mp_context=context, initializer=end_with_parent)


class TaskStep:
    """A job's step as a datatrove pipeline step: a callable `(data, rank, world_size)` that runs `step(rank)`; the
    task writes its outputs itself, so nothing flows on to a next step."""

    def __init__(self, step: Callable[[int], Any]):
        self.step = step

    def __call__(self, data, rank: int = 0, world_size: int = 1) -> None:
        self.step(rank)

    def __repr__(self) -> str:
        return f"TaskStep({getattr(self.step, '__name__', None) or type(self.step).__name__})"


@dataclass
class Job:
    """Sharded, resumable work: tasks `0 .. tasks - 1`, task `k` being `step(k)`; `folder` holds the executor's
    completion markers, logs and stats (see the module docstring). With `workers > 1` the step is sent to spawned
    processes, so it must pickle (a module-level function, or a `functools.partial` of one)."""

    step: Callable[[int], Any]
    tasks: int
    folder: Path

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)

    def _executor(self):
        from datatrove.executor.local import LocalPipelineExecutor

        return LocalPipelineExecutor([TaskStep(self.step)], tasks=self.tasks, workers=1, logging_dir=str(self.folder))

    def pending(self, ranks: Sequence[int] | None = None) -> list[int]:
        """The tasks of `ranks` (default: all) without a completion marker."""
        return self._executor().get_incomplete_ranks(range(self.tasks) if ranks is None else ranks)

    def run(
        self,
        workers: int = 1,
        ranks: Sequence[int] | None = None,
        *,
        progress: bool = True,
        desc: str = "tasks",
        unit: str = "task",
        sizes: Sequence[int] | None = None,
    ) -> None:
        """Runs the unfinished tasks of `ranks` (default: all): in this process with `workers=1`, else in
        `workers` spawned processes. The first failure is raised after the tasks already running have ended; the
        finished ones keep their markers. The progress bar counts tasks, or `sizes[k]` units for task `k`."""
        from tqdm.auto import tqdm

        ranks = list(range(self.tasks) if ranks is None else ranks)
        todo = self.pending(ranks)
        size = (lambda k: sizes[k]) if sizes is not None else (lambda k: 1)
        total = sum(size(k) for k in ranks)
        done = total - sum(size(k) for k in todo)
        bar = tqdm(total=total, initial=done, desc=desc, unit=unit, disable=not progress)
        executor = self._executor()
        try:
            if workers <= 1:
                for k in todo:
                    executor._run_for_rank(k, _QUIET)
                    bar.update(size(k))
            elif todo:
                with worker_pool(min(workers, len(todo))) as pool:
                    futures = {pool.submit(executor._run_for_rank, k, _QUIET): k for k in todo}
                    for future in as_completed(futures):
                        future.result()
                        bar.update(size(futures[future]))
        finally:
            bar.close()

    def wait(self, ranks: Sequence[int] | None = None, poll: float = 2.0) -> None:
        """Returns when every task of `ranks` (default: all) has its marker: the node that finishes a multi-node run
        waits here for the others."""
        while self.pending(ranks):
            time.sleep(poll)

    def executor(self, kind: str = "local", **options):
        """The job under one of datatrove's executors, for many machines: "slurm" (`SlurmPipelineExecutor`: one
        array task per job task; options such as `time`, `partition`, `cpus_per_task`, `venv_path`), "ray"
        (`RayPipelineExecutor`, needs `ray`) or "local" (`LocalPipelineExecutor`, e.g. `workers`, `local_tasks`,
        `local_rank_offset` for a node's contiguous share). Call its `run()`; its markers are this job's."""
        from datatrove.executor import LocalPipelineExecutor, RayPipelineExecutor, SlurmPipelineExecutor

        kinds = {"local": LocalPipelineExecutor, "slurm": SlurmPipelineExecutor, "ray": RayPipelineExecutor}
        if kind not in kinds:
            raise ValueError(f"unknown executor {kind!r}; known: {sorted(kinds)}")
        return kinds[kind]([TaskStep(self.step)], tasks=self.tasks, logging_dir=str(self.folder), **options)


__all__ = ["Job", "TaskStep", "end_with_parent", "worker_pool"]
