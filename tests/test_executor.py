"""The engine's executor: a job of a few tasks on two local workers, interrupted by a failing task, resumed without
redoing finished tasks, gives what one worker gives; a node takes its share; datatrove's own executor runs the
same step and the two read each other's completion markers."""

import functools
import hashlib
import json
import os
from pathlib import Path

import pytest

from ts_florence.engine.executor import Job
from ts_florence.io import write_text_in_place

TASKS = 5


def square_task(out: Path, k: int) -> None:
    """Task k: a file of numbers derived from k; it raises once if `out/fail-K` exists (removed on the way), and
    leaves a file per run in `out/runs` (which process ran it)."""
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{k}-{os.getpid()}-{len(list(runs.glob(f'{k}-*')))}").touch()
    flag = out / f"fail-{k}"
    if flag.exists():
        flag.unlink()
        raise RuntimeError(f"task {k} interrupted")
    values = [int(hashlib.sha256(f"{k}:{i}".encode()).hexdigest()[:8], 16) ** 2 for i in range(100)]
    write_text_in_place(out / f"part-{k}.json", json.dumps({"task": k, "values": values}))


def _job(out: Path) -> Job:
    return Job(functools.partial(square_task, out), tasks=TASKS, folder=out / "tasks")


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*.json"))}


def _runs(out: Path) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in (out / "runs").iterdir())


def test_two_workers_interrupted_then_resumed_skip_finished_tasks_and_match_one_worker(tmp_path):
    one = tmp_path / "one"
    _job(one).run(1, progress=False)
    assert _job(one).pending() == [] and len(_outputs(one)) == TASKS

    two = tmp_path / "two"
    two.mkdir()
    (two / "fail-3").touch()
    with pytest.raises(RuntimeError, match="task 3 interrupted"):
        _job(two).run(2, progress=False)
    assert _job(two).pending() == [3] and sorted(_outputs(two)) == [f"part-{k}.json" for k in (0, 1, 2, 4)]
    pids = {p.name.split("-")[1] for p in (two / "runs").iterdir()}
    assert str(os.getpid()) not in pids, "the tasks ran in worker processes"
    finished = {name: (two / name).stat().st_mtime_ns for name in _outputs(two)}

    _job(two).run(2, progress=False)
    assert _runs(two) == [0, 1, 2, 3, 3, 4], "only the interrupted task ran again"
    assert all((two / name).stat().st_mtime_ns == t for name, t in finished.items())
    assert _job(two).pending() == [] and _outputs(two) == _outputs(one)
    assert (two / "tasks" / "logs" / "task_00003.log").is_file()


def test_a_node_takes_its_share_and_another_waits_for_all(tmp_path):
    job = _job(tmp_path)
    job.run(1, range(1, TASKS, 2), progress=False)  # node 1 of 2
    assert _runs(tmp_path) == [1, 3] and job.pending() == [0, 2, 4]
    job.run(2, range(0, TASKS, 2), progress=False)  # node 0 of 2
    job.wait(poll=0.01)
    assert job.pending() == [] and _runs(tmp_path) == list(range(TASKS))


def test_datatrove_executors_run_the_same_step_and_share_the_completion_markers(tmp_path):
    job = _job(tmp_path)
    local = job.executor("local", workers=2, local_tasks=2, start_method="spawn")  # the first two tasks
    local.run()
    assert job.pending() == [2, 3, 4] and _runs(tmp_path) == [0, 1]
    job.run(1, progress=False)
    assert _runs(tmp_path) == list(range(TASKS)) and job.pending() == []
    slurm = job.executor("slurm", time="01:00:00", partition="cpu")  # built, not run: no cluster here
    assert slurm.world_size == TASKS and slurm.get_incomplete_ranks() == []
    with pytest.raises(ValueError, match="unknown executor"):
        job.executor("threads")
