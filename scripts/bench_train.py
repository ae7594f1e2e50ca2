"""Training throughput of a preset on this machine: series/s and tokens/s of `training/train.py` itself (data
loading, collation, forward, backward and optimizer step), measured after a warm-up.

    python scripts/bench_train.py --data corpus --steps 60
    python scripts/bench_train.py --data corpus --batch-sizes 8 16 32
    python scripts/bench_train.py --data corpus --set data.group_by_task=true   # any training setting

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="corpus", help="an engine corpus folder")
    parser.add_argument("--config", default=str(ROOT / "training/configs/tiny.yaml"))
    parser.add_argument("--steps", type=int, default=60, help="measured steps (after --warmup steps)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="as train.py's")
    args = parser.parse_args(argv)
    from ts_florence import training as train

    settings = " ".join(args.set)
    cuda = "yes" if torch.cuda.is_available() else "no"
    print(f"data: {args.data}; config: {Path(args.config).name} {settings}; "
          f"torch threads: {torch.get_num_threads()}, CPU count {os.cpu_count()}, CUDA {cuda}")  # fmt: skip
    print(f"{'batch':>5s} {'steps':>5s} {'s/step':>7s} {'series/s':>9s} {'tokens/s':>9s}")
    for batch in args.batch_sizes:
        out = Path(tempfile.mkdtemp(prefix="ts_florence_bench_train."))
        try:
            total = args.warmup + args.steps
            code = train.main(
                [
                    "--config", args.config, "--data", args.data, "--output-dir", str(out), "--max-steps", str(total),
                    "--set", f"optim.per_device_batch_size={batch}", "--set", f"run.log_every={args.warmup}",
                    "--set", "run.eval_every=1000000", "--set", "run.save_every=1000000",
                    "--set", "run.final_eval_limit=0", "--set", "run.report_to=none", "--set", "run.progress=false",
                    "--set", "data.eval_split=null",
                    *[item for setting in args.set for item in ("--set", setting)],
                ]
            )  # fmt: skip
            if code != 0:
                return code
            log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
            measured = [e for e in log if "series_per_second" in e and e["step"] > args.warmup]
            series = float(np.mean([e["series_per_second"] for e in measured]))
            tokens = float(np.mean([e["tokens_per_second"] for e in measured]))
            print(f"{batch:5d} {args.steps:5d} {batch / series:7.2f} {series:9.1f} {tokens:9.0f}", flush=True)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
