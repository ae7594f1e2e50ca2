"""The table of the engine's real sources: per source, series read, windows kept (multichannel, labelled), samples,
windows dropped, seconds to read and cut them, and the installed size of its package(s) (the table of
`ts_florence/engine/sources/__init__.py`'s docstring).

    python scripts/bench_sources.py
    python scripts/bench_sources.py --sources statsmodels vega_datasets --max-length 1024
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections import Counter

from ts_florence.engine.sources import PACKAGES, available_sources, read_source


def _size_mb(package) -> float:
    total = 0
    for folder, _, files in os.walk(package.root()):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return total / 2**20


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Prints, per source: series read, windows kept (multichannel, labelled), samples, windows dropped, seconds to
    read and cut them, and the installed size of its package(s)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--sources", nargs="*", default=None, help="source names (default: every available one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-windows-per-series", type=int, default=None)
    parser.add_argument("--min-length", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=4096)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    columns = ("series", "windows", "multichannel", "labelled", "samples", "dropped", "seconds", "installed_mb")
    print(f"{'source':<14}" + "".join(f"{c:>13}" for c in columns))
    rows = {}
    for name in args.sources or available_sources():
        start, stats, row = time.perf_counter(), Counter(), Counter()
        for record in read_source(
            name,
            args.seed,
            max_windows_per_series=args.max_windows_per_series,
            min_length=args.min_length,
            max_length=args.max_length,
            stats=stats,
        ):
            row["multichannel"] += len(record["values"]) > 1
            row["labelled"] += record["label"] is not None
            row["samples"] += len(record["values"][0])
        row["seconds"] = round(time.perf_counter() - start, 1)
        row["series"], row["windows"] = stats["series"], stats["windows"]
        row["dropped"] = sum(v for k, v in stats.items() if k not in ("series", "windows"))
        row["installed_mb"] = round(sum(_size_mb(p) for p in PACKAGES[name] if p.installed()), 1)
        rows[name] = {c: row[c] for c in columns}
        print(f"{name:<14}" + "".join(f"{row[c]:>13}" for c in columns))
    total = {c: round(sum(r[c] for r in rows.values()), 1) for c in columns}
    print(f"{'total':<14}" + "".join(f"{total[c]:>13}" for c in columns))
    return rows


if __name__ == "__main__":
    main()
