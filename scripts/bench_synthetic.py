"""Throughput of the synthetic generator: records per second on one core, for series of 512 samples and for the
default lengths (best of 3 rounds of 1,000 records, as timeit does: other work on the machine only ever slows a
round).

    python scripts/bench_synthetic.py
"""

from __future__ import annotations

import time

from ts_florence.engine.synthetic import DEFAULT_CONFIG, SyntheticConfig, generate_record


def main() -> None:
    for name, config in (("lengths 512", SyntheticConfig(min_length=512, max_length=512)), ("default", DEFAULT_CONFIG)):
        generate_record(0, config=config)  # imports and caches warm up outside the clock
        rounds = []
        for _ in range(3):
            began = time.process_time()
            samples = sum(len(generate_record(seed, config=config)["values"][0]) for seed in range(1000))
            rounds.append(time.process_time() - began)
        print(
            f"{name}: {1000 / min(rounds):.0f} records/s on one core, best of 3 rounds of 1,000 "
            f"({samples / 1000:.0f} samples per record on average)"
        )


if __name__ == "__main__":
    main()
