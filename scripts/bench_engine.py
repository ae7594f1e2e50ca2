"""Engine throughput: series per second of a build of real windows of length about 512, with 1 and 2 processes,
and the share of time spent outside the specialists themselves (target: under 30%).

    python scripts/bench_engine.py --series 10000 --procs 1 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from ts_florence.engine.build import BuildConfig, EvalConfig, SourcesConfig, build_corpus, collect_real
from ts_florence.io import write_text_in_place


def bench_config(series: int, shards: int) -> BuildConfig:
    return BuildConfig(
        name="bench",
        shards=shards,
        sources=SourcesConfig(
            synthetic=0, semi_synthetic=0, max_real=series, min_length=448, max_length=576, heldout_fraction=0.0
        ),
        eval=EvalConfig(synthetic=0, semi_synthetic=0),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shards", type=int, default=16)
    args = parser.parse_args(argv)
    config = bench_config(args.series, args.shards)
    root = Path(tempfile.mkdtemp(prefix="ts_florence_bench_engine."))
    try:
        # Read the sources once, outside the timing: the benchmark measures annotation, not package imports.
        start = time.perf_counter()
        (root / "warm" / "work").mkdir(parents=True)
        collect_real(config, root / "warm" / "work")
        write_text_in_place(root / "warm" / "work" / "real.ready", "ok")
        print(f"reading the real sources: {time.perf_counter() - start:.0f} s (not counted below)")
        print(
            f"{'processes':>9s} {'series':>7s} {'wall s':>7s} {'series/s':>9s} {'in specialists':>15s} {'outside':>8s}"
        )
        for procs in args.procs:
            out = root / f"p{procs}"
            (out / "work").mkdir(parents=True)
            for name in ("real", "heldout", "real.ready"):
                src = root / "warm" / "work" / name
                (shutil.copytree if src.is_dir() else shutil.copy)(src, out / "work" / name)
            start = time.perf_counter()
            build_corpus(config, out, num_proc=procs, progress=False, finalize=False)
            wall = time.perf_counter() - start
            specialist_seconds, records = 0.0, 0
            for path in (out / "work" / "shards").glob("*.stats.json"):
                stats = json.loads(path.read_text())
                records += stats["records"]
                specialist_seconds += sum(s["seconds"] for s in stats["steps"] if s["step"].startswith("annotate:"))
            share_in = specialist_seconds / (wall * procs)
            print(f"{procs:9d} {records:7d} {wall:7.1f} {records / wall:9.1f} {share_in:15.1%} {1 - share_in:8.1%}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
