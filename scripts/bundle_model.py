"""Put a trained model into the package (`ts_florence/pretrained/ts-florence-tiny/`): the default of
`ts-florence predict`, of `pipeline("time-series-prompting")` and of `ts_florence.pretrained_path()`.

    python scripts/bundle_model.py checkpoints/tiny-reads --recipe "COMMANDS THAT MADE IT"

The weights are stored in float16 by default (`--store-dtype`), half the size, while `config.json` keeps float32,
so the model loads and runs in float32 (the float16 values are widened on loading); `--store-dtype float32`
copies them as they are. The model's training log is copied beside it and `--recipe` is written to
`RECIPE.md` there, with the command of this bundling. The new folder is built under a temporary name, loaded
and run once, and only then moved into place.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEST = ROOT / "ts_florence" / "pretrained" / "ts-florence-tiny"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a saved model folder (training/train.py output or checkpoints/...)")
    parser.add_argument("--dest", default=str(DEFAULT_DEST))
    parser.add_argument("--store-dtype", choices=("float16", "bfloat16", "float32"), default="float16")
    parser.add_argument("--recipe", default="", help="the commands that trained the model, written to RECIPE.md")
    args = parser.parse_args(argv)
    from ts_florence.bundled import bundle

    command = f"python scripts/bundle_model.py {shlex.quote(args.source)} --store-dtype {args.store_dtype}"
    try:
        size = bundle(Path(args.source), Path(args.dest), args.store_dtype, args.recipe, command)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    dest = Path(args.dest).resolve()
    shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
    print(f"bundled {args.source} as {shown} ({size / 1e6:.1f} MB, weights in {args.store_dtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
