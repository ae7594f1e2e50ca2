"""Small engine corpora for the tests: synthetic series only, built in seconds, no package data needed."""

from pathlib import Path

import numpy as np

from ts_florence.engine.build import BuildConfig, EvalConfig, SourcesConfig, build_corpus


def build_synthetic_corpus(out: Path, name: str, train: int, evaluation: int, shards: int = 1) -> Path:
    """`train` synthetic training series and `evaluation` frozen-split series, annotated by the regime describer
    and the event specialist, written to `out`."""
    config = BuildConfig(
        name=name,
        shards=shards,
        sources=SourcesConfig(synthetic=train, semi_synthetic=0, real=[], max_length=512, heldout_fraction=0.0),
        eval=EvalConfig(synthetic=evaluation, semi_synthetic=0, seed=77),
        specialists=[{"name": n} for n in ("regime_describer", "events")],
    )
    build_corpus(config, out, num_proc=1, progress=False)
    return out


def fake_real_source(count: int):
    """A stand-in for a package source's `read_raw`: `count` sine series of lengths 300, 350, ..., the fourth with
    a real burst the specialists should find; records made from them carry no exact truth."""

    def read_raw(name):
        from ts_florence.engine.sources import RawSeries

        rng = np.random.default_rng(0)
        for i in range(count):
            n = 300 + 50 * i
            values = np.sin(np.arange(n) / (3 + i)) * (i + 1) + 0.2 * rng.normal(size=n)
            if i == 3:
                values[100:110] += 8
            yield RawSeries(name=f"fake:{i}", values=values[None, :], provenance=f"fake==0:series{i}:value")

    return read_raw
