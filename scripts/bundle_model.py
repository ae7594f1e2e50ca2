"""Copy a trained model into the package (`ts_florence/pretrained/`), the default of `ts-florence predict` and
`pipeline("time-series-prompting")` users get out of the box.

    python scripts/bundle_model.py runs/tiny

The shipped model is reproduced by (see the model card in ts_florence/pretrained/README.md for the run's figures):

    ts-florence engine build --out corpus --num-proc 2
    OMP_NUM_THREADS=1 python training/train.py --config training/configs/tiny.yaml --output-dir runs/tiny
    python scripts/bundle_model.py runs/tiny

The files are checked to load before anything is replaced, and the folder is swapped in whole.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "README.md",
    "train_results.json",
    "run_config.yaml",
)
LIMIT_BYTES = 50_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a trained model folder (training/train.py output or a checkpoint)")
    parser.add_argument("--dest", default=str(ROOT / "ts_florence" / "pretrained"))
    args = parser.parse_args(argv)
    source, dest = Path(args.source), Path(args.dest)
    missing = [name for name in FILES[:6] if not (source / name).exists()]
    if missing:
        print(f"error: {source} lacks {', '.join(missing)}: not a saved ts-florence model", file=sys.stderr)
        return 2
    size = sum((source / name).stat().st_size for name in FILES if (source / name).exists())
    if size > LIMIT_BYTES:
        print(f"error: {size / 1e6:.1f} MB is more than the {LIMIT_BYTES / 1e6:.0f} MB a bundled model may weigh")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix=".pretrained.", dir=dest.parent))
    try:
        for name in FILES:
            if (source / name).exists():
                shutil.copy2(source / name, tmp / name)
        from transformers import pipeline

        import ts_florence  # noqa: F401

        pipe = pipeline("time-series-prompting", model=str(tmp))
        pipe([0.0, 1.0, 0.0, 1.0] * 32, task="<CAPTION>", max_new_tokens=8)  # loads and runs, or raises here
        tmp.chmod(0o755)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"bundled {source} ({size / 1e6:.1f} MB) as {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
