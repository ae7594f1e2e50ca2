"""Inference throughput: series per second for each task family, batch 1 and 32, greedy and beam search.

Random weights (presets `tiny` and `base`), so the output length is fixed per family with
`min_new_tokens == max_new_tokens` to stand for a typical answer; the numbers are end to end: processor,
`generate` and post-processing. Also measures the gain of running several prompts on one series
with a single encoding of the series.

    python scripts/bench_inference.py                      # tiny and base
    python scripts/bench_inference.py --presets tiny --length 512 --repeats 3
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np
import torch
from transformers import pipeline

from ts_florence import TSFlorenceConfig, TSFlorenceForConditionalGeneration, TSFlorenceProcessor

# family -> (task prompt, generated tokens standing for a typical answer)
FAMILIES = {
    "caption": ("<CAPTION>", 24),
    "detection": ("<ANOMALY_DETECTION>", 16),  # e.g. 4 spans: label + 2 locations each
    "segmentation": ("<REGIME_SEGMENTATION>", 12),
    "change points": ("<CHANGE_POINT_DETECTION>", 6),
    "grounding": ("<CAPTION_TO_PHRASE_GROUNDING>a spike near the end", 8),
}


def make_series(count: int, length: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return [np.sin(2 * np.pi * t / rng.integers(8, 64)) + 0.3 * rng.normal(size=length) for _ in range(count)]


def run_batch(model, processor, series, prompt, new_tokens, num_beams):
    task = prompt.split(">")[0] + ">"
    inputs = processor(series=series, text=prompt)
    with torch.inference_mode():
        ids = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, num_beams=num_beams)
    texts = processor.batch_decode(ids, skip_special_tokens=False)
    return [processor.post_process_generation(t, prompt, len(s))[task] for t, s in zip(texts, series, strict=True)]


def throughput(model, processor, series, prompt, new_tokens, num_beams, batch, repeats) -> float:
    run_batch(model, processor, series[:1], prompt, new_tokens, num_beams)  # warm-up (first-call overheads)
    done, start = 0, time.perf_counter()
    for r in range(repeats):
        chunk = series[r * batch : (r + 1) * batch]
        run_batch(model, processor, chunk, prompt, new_tokens, num_beams)
        done += len(chunk)
    return done / (time.perf_counter() - start)


def shared_encoding_gain(model, processor, tmp_dir: str, length: int, repeats: int) -> None:
    """Five prompts on one series: five pipeline calls vs one call that encodes the series once."""
    model.save_pretrained(tmp_dir)
    processor.save_pretrained(tmp_dir)
    pipe = pipeline("time-series-prompting", model=tmp_dir)
    tasks = [FAMILIES[f][0].split(">")[0] + ">" for f in FAMILIES if f != "grounding"]
    series = make_series(repeats, length, seed=1)
    kwargs = dict(max_new_tokens=12, min_new_tokens=12)
    pipe(series[0], task=tasks, generate_kwargs=kwargs)  # warm-up
    start = time.perf_counter()
    for s in series:
        for t in tasks:
            pipe(s, task=t, generate_kwargs=kwargs)
    separate = (time.perf_counter() - start) / len(series)
    start = time.perf_counter()
    for s in series:
        pipe(s, task=tasks, generate_kwargs=kwargs)
    shared = (time.perf_counter() - start) / len(series)

    inputs = processor(series=series[0], text=tasks)
    series_inputs = {k: v for k, v in inputs.items() if k.startswith("series_")}
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(20):
            model.get_series_features(**{k: v[:1] for k, v in series_inputs.items()})
        once = (time.perf_counter() - start) / 20
        start = time.perf_counter()
        for _ in range(20):
            model.get_series_features(**series_inputs)
        per_prompt = (time.perf_counter() - start) / 20
    print(f"\n{len(tasks)} prompts on one series of length {length} (12 generated tokens each), pipeline:")
    print(f"  one call per prompt:               {separate * 1000:8.1f} ms per series")
    print(f"  one call, series encoded once:     {shared * 1000:8.1f} ms per series  ({separate / shared:.1f}x faster)")
    print(f"  series encoder alone: once {once * 1000:.2f} ms vs once per prompt {per_prompt * 1000:.2f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "base"])
    parser.add_argument("--length", type=int, default=512, help="series length in samples")
    parser.add_argument("--repeats", type=int, default=3, help="timed batches per setting")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; series length {args.length}; random weights; "
        f"output length fixed per family (tokens): " + ", ".join(f"{f} {n}" for f, (_, n) in FAMILIES.items())
    )
    for preset in args.presets:
        processor = TSFlorenceProcessor.from_preset(preset)
        model = TSFlorenceForConditionalGeneration(TSFlorenceConfig.from_preset(preset)).eval()
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"\npreset {preset} ({n_params:.1f}M parameters), series/s")
        print(
            f"{'family':15s} {'batch 1 greedy':>15s} {'batch 1 beam 3':>15s} {'batch 32 greedy':>16s} "
            f"{'batch 32 beam 3':>16s}"
        )
        for family, (prompt, new_tokens) in FAMILIES.items():
            row = []
            for batch in (1, 32):
                series = make_series(batch * args.repeats, args.length)
                for beams in (1, 3):
                    row.append(throughput(model, processor, series, prompt, new_tokens, beams, batch, args.repeats))
            print(f"{family:15s} {row[0]:15.1f} {row[1]:15.1f} {row[2]:16.1f} {row[3]:16.1f}")
        if preset == args.presets[0]:
            with tempfile.TemporaryDirectory() as tmp_dir:
                shared_encoding_gain(model, processor, tmp_dir, args.length, args.repeats)


if __name__ == "__main__":
    main()
