"""A folder written by several processes through `io.directory_in_place` (a shared staging name, one owner), and the
checkpoints of a distributed training written that way."""

import json
import threading
from pathlib import Path

import pytest

from ts_florence.io import directory_in_place
from ts_florence.training.checkpoints import checkpoints, save_checkpoint


def test_a_folder_written_by_several_writers_is_moved_into_place_by_its_owner(tmp_path):
    out = tmp_path / "checkpoints" / "step-2"
    with directory_in_place(out, staging=".tmp-step-2") as tmp:  # the owner makes the folder
        with directory_in_place(out, staging=".tmp-step-2", owner=False) as other:  # another writer finds it
            assert other == tmp and tmp.is_dir()
            (other / "rank-1").write_text("1")
        assert not out.exists() and tmp.is_dir(), "another writer's leaving moves nothing"
        (tmp / "rank-0").write_text("0")
    assert sorted(p.name for p in out.iterdir()) == ["rank-0", "rank-1"] and not tmp.exists()

    with pytest.raises(RuntimeError), directory_in_place(out, staging=".tmp-step-2") as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("crash")
    assert sorted(p.name for p in out.iterdir()) == ["rank-0", "rank-1"] and not tmp.exists()
    with pytest.raises(ValueError, match="staging"), directory_in_place(out, owner=False):
        pass


class _Accelerator:
    """One process of a two-process training, as `save_checkpoint` sees it: barriers shared with the other."""

    def __init__(self, rank: int, barrier: threading.Barrier):
        self.rank, self.barrier = rank, barrier
        self.is_main_process = rank == 0

    def wait_for_everyone(self) -> None:
        self.barrier.wait(timeout=30)

    def save_state(self, folder: str) -> None:
        assert Path(folder).name.startswith(".tmp-step-") and Path(folder).is_dir()
        (Path(folder) / f"random_states_{self.rank}.pkl").write_text(str(self.rank))


def test_two_processes_save_a_checkpoint_into_one_folder_and_only_the_last_ones_stay(tmp_path):
    barrier = threading.Barrier(2)
    errors = []

    def process(rank: int) -> None:
        try:
            for step in (2, 4, 6):
                save_checkpoint(_Accelerator(rank, barrier), tmp_path, step, keep=2, seconds=float(step))
        except Exception as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=process, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert [p.name for p in checkpoints(tmp_path)] == ["step-4", "step-6"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-4", "step-6"]
    last = tmp_path / "checkpoints" / "step-6"
    written = ["random_states_0.pkl", "random_states_1.pkl", "trainer_state.json"]
    assert sorted(p.name for p in last.iterdir()) == written
    assert json.loads((last / "trainer_state.json").read_text()) == {"step": 6, "train_seconds": 6.0}
