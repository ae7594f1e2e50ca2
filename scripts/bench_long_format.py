"""Throughput of long DataFrames: many series in one frame through `pipe(df, ...)` and `ts-florence predict`.

Builds a seeded long frame (`--items` items, default 1,000, of `--min-length`..`--max-length` samples, default
100-5,000, drawn log-uniformly by the engine's synthetic generator, `ts_florence.engine.synthetic.generate_record`;
some multivariate, up to three channels in the columns target, target_1, target_2; a share of the items with a gap,
rows removed; rows of all items shuffled together), runs it through `pipe(df, task=..., id_column="item_id",
target=[...])` with the bundled model (or `--model`) at `--threads` torch threads and `--batch-size` items per
forward pass, and prints items/s: overall, and for the items of at most `--short` samples run on their own (the
target: >= 100 items/s for anomalies at 2 threads and batch 32). Reading the frame (sorting, gap filling) is timed
apart and counted in both. Then `ts-florence predict FRAME.parquet --id-column item_id ... --output OUT.parquet` runs
in this process on the same frame and must give the same table.

    python scripts/bench_long_format.py                      # 1,000 items, <ANOMALY_DETECTION>, 2 threads, batch 32
    python scripts/bench_long_format.py --items 200 --task "<EVENT_DETECTION>" --json bench.json
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local checkpoints only; read when transformers is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from transformers import pipeline  # noqa: E402

import ts_florence  # noqa: E402
from ts_florence import cli  # noqa: E402
from ts_florence.engine.synthetic import SyntheticConfig, generate_record  # noqa: E402
from ts_florence.io import write_text_in_place  # noqa: E402
from ts_florence.long_format import long_items  # noqa: E402

TARGETS = ["target", "target_1", "target_2"]
"""The frame's value columns: an item with fewer channels has NaN in the others."""
FREQUENCIES = ("min", "15min", "h", "D")
"""The items' sampling, one drawn per item."""


def long_frame(items: int, min_length: int, max_length: int, gap_share: float, seed: int = 0) -> pd.DataFrame:
    """The seeded long frame of the module docstring: columns item_id, timestamp and `TARGETS`, rows shuffled."""
    rng = np.random.default_rng(seed)
    config = SyntheticConfig(min_length=min_length, max_length=max_length, max_channels=len(TARGETS))
    pieces = []
    for k in range(items):
        values = np.asarray(generate_record(seed * 1_000_003 + k, config=config)["values"], dtype=np.float64)
        n = values.shape[1]
        times = pd.date_range("2026-01-01", periods=n, freq=FREQUENCIES[int(rng.integers(len(FREQUENCIES)))])
        piece = pd.DataFrame({"item_id": f"item-{k:04d}", "timestamp": times})
        for c, name in enumerate(TARGETS):
            piece[name] = values[c] if c < len(values) else np.nan
        if rng.random() < gap_share:  # a gap: 5-15% of the rows, away from the ends, are not there
            width = int(rng.integers(n // 20, n // 7 + 1))
            start = int(rng.integers(1, n - width - 1))
            piece = piece.drop(piece.index[start : start + width])
        pieces.append(piece)
    frame = pd.concat(pieces, ignore_index=True)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def timed_run(pipe, frame: pd.DataFrame, task: str, batch_size: int) -> tuple[pd.DataFrame, float]:
    """The table of `frame` and the seconds it took (reading the frame included)."""
    start = time.perf_counter()
    table = pipe(frame, task=task, id_column="item_id", target=TARGETS, batch_size=batch_size)
    return table, time.perf_counter() - start


def cli_table(frame: pd.DataFrame, task: str, batch_size: int, model: Path | None) -> tuple[pd.DataFrame, float]:
    """The table `ts-florence predict --id-column` writes for `frame` (saved as Parquet), and its seconds (the
    model's loading included)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "long.parquet", Path(tmp) / "out.parquet"
        frame.to_parquet(source)
        argv = ["predict", str(source), "--id-column", "item_id", "--target", *TARGETS, "--task", task]
        argv += ["--batch-size", str(batch_size), "--output", str(out)]
        if model is not None:
            argv += ["--model", str(model)]
        start = time.perf_counter()
        cli.main(argv)
        seconds = time.perf_counter() - start
        return pd.read_parquet(out), seconds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--min-length", type=int, default=100, help="shortest item, in samples")
    parser.add_argument("--max-length", type=int, default=5000, help="longest item, in samples")
    parser.add_argument("--short", type=int, default=1000, help="items of at most this many samples are also timed")
    parser.add_argument("--gap-share", type=float, default=0.2, help="share of the items with a gap")
    parser.add_argument("--task", default="<ANOMALY_DETECTION>")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = args.model or ts_florence.pretrained_path()

    frame = long_frame(args.items, args.min_length, args.max_length, args.gap_share, args.seed)
    start = time.perf_counter()
    items = long_items(frame, target=TARGETS)
    read_seconds = time.perf_counter() - start
    lengths = np.array([len(item.values) for item in items])
    short_ids = {item.item_id for item, n in zip(items, lengths, strict=True) if n <= args.short}
    multivariate = sum(len(item.channel_names) > 1 for item in items)
    gaps = sum(item.filled > 0 for item in items)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.1f} (other work slows the "
        f"figures); model {model.name}; task {args.task}, batch {args.batch_size}",
        flush=True,
    )
    print(
        f"frame: {len(items)} items, {len(frame)} rows (seed {args.seed}), {multivariate} multivariate, {gaps} with a "
        f"gap, lengths {lengths.min()}-{int(np.median(lengths))}-{lengths.max()} (min-median-max), "
        f"{len(short_ids)} of at most {args.short} samples; read (sort, fill gaps) in {read_seconds:.2f} s",
        flush=True,
    )

    pipe = pipeline("time-series-prompting", model=str(model))
    with torch.inference_mode():
        warm = [item.item_id for item in items[:4]]
        timed_run(pipe, frame[frame["item_id"].isin(warm)], args.task, args.batch_size)  # first-call overheads
        table, seconds = timed_run(pipe, frame, args.task, args.batch_size)
        short_seconds = float("nan")
        if short_ids:
            _, short_seconds = timed_run(pipe, frame[frame["item_id"].isin(short_ids)], args.task, args.batch_size)
    overall = len(items) / seconds
    short = len(short_ids) / short_seconds
    print(f"pipe(df): {len(items)} items in {seconds:.1f} s, {overall:.1f} items/s; {len(table)} rows", flush=True)
    print(
        f"items of <= {args.short} samples: {len(short_ids)} in {short_seconds:.1f} s, {short:.1f} items/s "
        f"(target >= 100: {'met' if short >= 100 else 'not met'})",
        flush=True,
    )

    found, cli_seconds = cli_table(frame, args.task, args.batch_size, args.model)
    pd.testing.assert_frame_equal(found, table)  # raises, naming the first difference
    print(f"ts-florence predict --id-column: the same table ({len(found)} rows) in {cli_seconds:.1f} s", flush=True)
    report = {
        "machine": {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()},
        "torch_threads": torch.get_num_threads(),
        "model": model.name,
        "task": args.task,
        "batch_size": args.batch_size,
        "items": len(items),
        "rows": len(frame),
        "multivariate": multivariate,
        "with_gap": gaps,
        "short_items": len(short_ids),
        "read_seconds": read_seconds,
        "items_per_second": overall,
        "short_items_per_second": short,
        "table_rows": len(table),
        "cli_same_table": True,
        "cli_seconds": cli_seconds,
    }
    if args.json:
        write_text_in_place(args.json, json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
