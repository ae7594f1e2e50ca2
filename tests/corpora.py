"""Small engine corpora for the tests: synthetic series only, built in seconds, no package data needed."""

from pathlib import Path

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
