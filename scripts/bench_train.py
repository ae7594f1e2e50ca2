"""Training throughput of a preset on this machine: series/s and tokens/s of `training/train.py` itself (data
loading, collation, forward, backward and optimizer step), measured after a warm-up.

    python scripts/bench_train.py --data corpus --steps 60
    python scripts/bench_train.py --data corpus --batch-sizes 8 16 32
    python scripts/bench_train.py --data corpus --set data.group_by_task=true   # any training setting
    python scripts/bench_train.py --data corpus --recipes today bf16            # recipes side by side, one run

Tokens count the encoder input (series tokens + prompt) and the target tokens of every example.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


RECIPES = {
    "today": [],
    "bf16": ["run.mixed_precision=bf16"],
    "bf16+workers": ["run.mixed_precision=bf16", "data.num_workers=1"],
    "bf16+channels+eager": [
        "run.mixed_precision=bf16",
        "data.group_by_channels=true",
        "model.attn_implementation=eager",
    ],
    "bf16+channels+eager+nodropout": [
        "run.mixed_precision=bf16",
        "data.group_by_channels=true",
        "model.attn_implementation=eager",
        "model.dropout=0",
    ],
}
"""Named sets of `--set` overrides compared by `--recipes`: the recipe of training/configs/tiny.yaml as it is, the
same with bfloat16 autocast (on this CPU, AVX-512 BF16), with the batches prepared by a DataLoader worker while
the model trains (`data.num_workers`), with batches of one channel-count class (`data.group_by_channels`: 57% of
the text encoder's input was padding) and BART's eager attention (`model.attn_implementation`), and without
dropout (`model.dropout=0`: its random masks were 10% of a step)."""


def _measure(args: argparse.Namespace, batch: int, settings: list[str]) -> dict[str, float] | int:
    """One short training run of `--warmup + --steps` steps: mean s/step, series/s, tokens/s and training loss of
    the measured steps (the same seed and batches for every recipe, so the losses compare at equal examples)."""
    from ts_florence import training as train

    out = Path(tempfile.mkdtemp(prefix="ts_florence_bench_train."))
    try:
        total = args.warmup + args.steps
        code = train.main(
            [
                "--config", args.config, "--data", args.data, "--output-dir", str(out), "--max-steps", str(total),
                "--set", f"optim.per_device_batch_size={batch}", "--set", f"run.log_every={args.log_every}",
                "--set", "run.eval_every=1000000", "--set", "run.save_every=1000000",
                "--set", "run.final_eval_limit=0", "--set", "run.report_to=none", "--set", "run.progress=false",
                "--set", "data.eval_split=null",
                *[item for setting in settings for item in ("--set", setting)],
            ]
        )  # fmt: skip
        if code != 0:
            return code
        log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
        measured = [e for e in log if "series_per_second" in e and e["step"] > args.warmup]
        series = float(np.mean([e["series_per_second"] for e in measured]))
        return {
            "s_per_step": batch / series,
            "series_per_second": series,
            "tokens_per_second": float(np.mean([e["tokens_per_second"] for e in measured])),
            "loss": float(np.mean([e["loss"] for e in measured])),
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="corpus", help="an engine corpus folder")
    parser.add_argument("--config", default=str(ROOT / "training/configs/tiny.yaml"))
    parser.add_argument("--steps", type=int, default=60, help="measured steps (after --warmup steps)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--log-every", type=int, default=10, help="steps per logged window (a divisor of both)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="as train.py's")
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=["today"],
                        help="compare these recipes (RECIPES) in one run, each with the --set settings")  # fmt: skip
    args = parser.parse_args(argv)
    if args.warmup % args.log_every or args.steps % args.log_every:
        parser.error(f"--warmup and --steps must be multiples of --log-every ({args.log_every})")

    cuda = "yes" if torch.cuda.is_available() else "no"
    print(f"data: {args.data}; config: {Path(args.config).name} {' '.join(args.set)}; "
          f"torch threads: {torch.get_num_threads()}, CPU count {os.cpu_count()}, CUDA {cuda}")  # fmt: skip
    print(f"{'recipe':>8s} {'batch':>5s} {'steps':>5s} {'s/step':>7s} {'series/s':>9s} {'tokens/s':>9s} "
          f"{'loss':>7s} {'x today':>8s}")  # fmt: skip
    for batch in args.batch_sizes:
        first = None
        for recipe in args.recipes:
            found = _measure(args, batch, [*RECIPES[recipe], *args.set])
            if isinstance(found, int):
                return found
            first = first or found
            ratio = found["series_per_second"] / first["series_per_second"]
            print(f"{recipe:>8s} {batch:5d} {args.steps:5d} {found['s_per_step']:7.2f} "
                  f"{found['series_per_second']:9.1f} {found['tokens_per_second']:9.0f} {found['loss']:7.3f} "
                  f"{ratio:7.2f}x", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
