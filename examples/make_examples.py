"""Writes the example series of the README (synthetic, with known events). Run: python examples/make_examples.py"""

from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    rng = np.random.default_rng(7)
    n = 720  # 30 days, hourly
    t = np.arange(n)
    load = 50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.0, n)
    load[300] += 45  # a spike at sample 300
    load[500:] += 15  # a level shift at sample 500
    temperature = 12 + 6 * np.sin(2 * np.pi * (t - 6) / 24) + rng.normal(0, 0.5, n)
    temperature[610:640] = np.nan  # a sensor gap
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2026-01-01", periods=n, freq="h"),
            "load": load.round(3),
            "temperature": temperature.round(3),
        }
    )
    out = Path(__file__).with_name("load_and_temperature.csv")
    frame.to_csv(out, index=False)
    print(f"wrote {out} ({n} rows: spike at 300, level shift at 500, temperature gap 610-640)")


if __name__ == "__main__":
    main()
