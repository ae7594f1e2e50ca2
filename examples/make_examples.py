"""Writes the README's example series, each with its known anomalies in `truth.json`. Run from anywhere:

    python examples/make_examples.py

- `machine_temperature.csv`: one sensor every 10 minutes for 10 days (daily cycle and noise) with a spike, a
  dip, a stuck reading (flat line) and a temporary level shift: the univariate example of the README.
- `load_and_temperature.csv`: two channels, hourly for 30 days, with timestamps: a spike and a lasting level
  shift in the load, a gap in the temperature sensor.
- `long_vibration.parquet`: 120,000 samples (one per second for 33 hours), which the model reads in windows
  (`--window`): a spike, a burst of variance and a stuck stretch.

Spans are half-open `[start, end)` sample indices with the generator's labels (`ts_florence/vocabulary.py`) and the
channel they concern (None: all). The series are drawn from a fixed seed, so the files are the same on every
run; they are written through `ts_florence.io.file_in_place` (a temporary name, then moved into place).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def machine_temperature(rng: np.random.Generator) -> tuple[pd.DataFrame, list[dict]]:
    n, day = 1440, 144
    t = np.arange(n)
    x = 60 + 4 * np.sin(2 * np.pi * t / day) + rng.normal(0, 0.3, n)
    x[300] += 6.0  # spike
    x[820] -= 6.0  # dip
    x[1000:1060] = x[999]  # the sensor holds its last reading
    x[1200:1280] += 5.0  # a temporary offset
    frame = pd.DataFrame({"time": pd.date_range("2026-03-01", periods=n, freq="10min"), "temperature": x.round(3)})
    truth = [
        {"start": 300, "end": 301, "label": "spike", "channel": None},
        {"start": 820, "end": 821, "label": "dip", "channel": None},
        {"start": 1000, "end": 1060, "label": "flat line", "channel": None},
        {"start": 1200, "end": 1280, "label": "level shift", "channel": None},
    ]
    return frame, truth


def load_and_temperature(rng: np.random.Generator) -> tuple[pd.DataFrame, list[dict]]:
    n = 720  # 30 days, hourly
    t = np.arange(n)
    load = 50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.0, n)
    load[300] += 45  # spike
    load[500:] += 15  # a level shift that lasts
    temperature = 12 + 6 * np.sin(2 * np.pi * (t - 6) / 24) + rng.normal(0, 0.5, n)
    temperature[610:640] = np.nan  # the sensor sends nothing
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2026-01-01", periods=n, freq="h"),
            "load": load.round(3),
            "temperature": temperature.round(3),
        }
    )
    truth = [
        {"start": 300, "end": 301, "label": "spike", "channel": 0},
        {"start": 500, "end": 720, "label": "level shift", "channel": 0},
        {"start": 610, "end": 640, "label": "missing stretch", "channel": 1},
    ]
    return frame, truth


def long_vibration(rng: np.random.Generator) -> tuple[pd.DataFrame, list[dict]]:
    n = 120_000
    t = np.arange(n)
    x = np.sin(2 * np.pi * t / 600) + 0.5 * np.sin(2 * np.pi * t / 97) + rng.normal(0, 0.2, n)
    x[20_000] += 4.0  # spike
    x[50_000:50_500] += rng.normal(0, 1.2, 500)  # variance burst
    x[90_000:90_300] = x[89_999]  # stuck
    frame = pd.DataFrame({"vibration": x.astype(np.float32)})
    truth = [
        {"start": 20_000, "end": 20_001, "label": "spike", "channel": None},
        {"start": 50_000, "end": 50_500, "label": "variance burst", "channel": None},
        {"start": 90_000, "end": 90_300, "label": "flat line", "channel": None},
    ]
    return frame, truth


EXAMPLES = {
    "machine_temperature.csv": machine_temperature,
    "load_and_temperature.csv": load_and_temperature,
    "long_vibration.parquet": long_vibration,
}


def main() -> None:
    from ts_florence.io import file_in_place, write_text_in_place

    rng = np.random.default_rng(7)
    truth = {}
    for name, make in EXAMPLES.items():
        frame, spans = make(rng)
        path = HERE / name
        with file_in_place(path) as tmp:
            if name.endswith(".csv"):
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False)
        truth[name] = {"task": "<ANOMALY_DETECTION>", "length": len(frame), "anomalies": spans}
        listed = ", ".join(f"{s['label']} {s['start']}-{s['end']}" for s in spans)
        print(f"wrote {name}: {len(frame)} samples, {listed}")
    write_text_in_place(HERE / "truth.json", json.dumps(truth, indent=2) + "\n")


if __name__ == "__main__":
    main()
