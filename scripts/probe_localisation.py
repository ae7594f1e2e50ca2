"""Probe: how fast does a small ts-florence learn to say *where* things are in a series?

The instrument for model decisions (issue [reads]): trains a small configuration on one localisation task from
the synthetic generator's exact truth (fresh series every step, univariate, 64-512 samples by default) and prints,
every `--eval-every` steps, on `--eval-series` series it never saw (generator seeds apart from training's):

- anomalies / events: span F1 at IoU 0.5 (labels ignored, and labels required), event-wise F1, affiliation F1;
- change points: change-point F1 (margin 1% of the length, as TSSB) and covering;
- the series gain: evaluation loss (nats per target token) with another series minus with the true one;
- beside them, the same scores of the empty answer (no span, no change point) on the same series.

Same seed, same figures. Model changes are switches (each a `TSFlorenceConfig` field):

    python scripts/probe_localisation.py                                   # the model as configured by default
    python scripts/probe_localisation.py --time-code 1 --pointer --cell-head 1 --json runs/probe/both.json
    python scripts/probe_localisation.py --task change_points --steps 2000
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ts_florence import (
    TSFlorenceConfig,
    TSFlorenceForConditionalGeneration,
    TSFlorenceProcessor,
    TSFlorenceSeriesConfig,
    TSFlorenceSeriesFeatureExtractor,
    get_task,
    train_tokenizer,
)
from ts_florence.data import TSFlorenceCollator, cell_annotations
from ts_florence.engine.synthetic import SyntheticConfig, generate_record
from ts_florence.evaluation.metrics import (
    affiliation_prf_corpus,
    change_point_f1,
    covering,
    event_f1_corpus,
    span_prf_corpus,
)
from ts_florence.evaluation.series_gain import series_gains
from ts_florence.io import write_text_in_place
from ts_florence.tokenization_ts_florence import generated_text_corpus
from ts_florence.vocabulary import ANOMALY_LABELS, EVENT_LABELS

TASKS = {"anomalies": "<ANOMALY_DETECTION>", "events": "<EVENT_DETECTION>", "change_points": "<CHANGE_POINT_DETECTION>"}
EVAL_SEED = 1_000_000_000  # evaluation series are generator seeds from here on; training's start at 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), default="anomalies")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--eval-series", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-length", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--width", type=int, default=64, help="series tower and BART width")
    parser.add_argument("--layers", type=int, default=2, help="layers of the series tower, encoder and decoder")
    parser.add_argument("--num-patches", type=int, default=32)
    parser.add_argument("--patch-length", type=int, default=8)
    parser.add_argument("--reconstruction", type=float, default=1.0, help="series_reconstruction_weight")
    parser.add_argument("--time-code", type=float, default=0.0, help="time_code_scale (0: off)")
    parser.add_argument("--pointer", action="store_true", help="location_pointer")
    parser.add_argument("--cell-head", type=float, default=0.0, help="cell_head_weight (0: off)")
    parser.add_argument(
        "--end-thresholds",
        type=float,
        nargs="*",
        default=[0.5, 0.3],
        help="also score decoding that ends only when P(</s>) reaches each of these (EndThresholdLogitsProcessor)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="also write the curve here")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1 or args.eval_series < 1 or args.batch_size < 1:
        parser.error("--steps, --eval-every, --eval-series and --batch-size must be >= 1")
    return args


def build(args: argparse.Namespace) -> tuple[TSFlorenceForConditionalGeneration, TSFlorenceProcessor]:
    """A small model with the switches of `args`, and its processor (a BPE of a few hundred merges)."""
    tokenizer = train_tokenizer(generated_text_corpus(300) + list(ANOMALY_LABELS + EVENT_LABELS), vocab_size=1600)
    series = TSFlorenceSeriesConfig(
        hidden_size=args.width,
        num_hidden_layers=args.layers,
        num_attention_heads=4,
        intermediate_size=4 * args.width,
        patch_length=args.patch_length,
        num_patches=args.num_patches,
        max_series_tokens=max(64, args.num_patches),
        dropout=0.0,
    )
    config = TSFlorenceConfig.from_preset(
        "tiny",
        vocab_size=len(tokenizer),
        d_model=args.width,
        encoder_layers=args.layers,
        decoder_layers=args.layers,
        encoder_ffn_dim=4 * args.width,
        decoder_ffn_dim=4 * args.width,
        max_position_embeddings=256,
        dropout=0.0,
    )
    config.series_config = series
    config.series_reconstruction_weight = args.reconstruction
    config.time_code_scale = args.time_code
    config.location_pointer = args.pointer
    config.cell_head_weight = args.cell_head
    extractor = TSFlorenceSeriesFeatureExtractor(
        patch_length=series.patch_length, num_patches=series.num_patches, max_series_tokens=series.max_series_tokens
    )
    return TSFlorenceForConditionalGeneration(config), TSFlorenceProcessor(extractor, tokenizer)


def truth(record: dict, task: str) -> dict:
    """The exact answer of `task` for a synthetic record: spans of the task's kind (all of them, none included),
    or change points."""
    if task == "<CHANGE_POINT_DETECTION>":
        return {"points": [p["index"] for p in record["change_points"]]}
    kind = "anomaly" if task == "<ANOMALY_DETECTION>" else "event"
    chosen = [s for s in record["spans"] if s["kind"] == kind]
    return {
        "spans": [[s["start"], s["end"]] for s in chosen],
        "labels": [s["label"] for s in chosen],
        "channels": [s["channel"] for s in chosen],
    }


def example(record: dict, task: str) -> dict:
    values = np.asarray(record["values"], np.float32)
    target = get_task(task).format_target(truth(record, task), values.shape[1])
    return {"values": values, "prompt": task, "target": target, "cells": cell_annotations(record)}


def score(task: str, predicted: list[dict], records: list[dict]) -> dict[str, float]:
    """The probe's figures of `predicted` results against the records' exact truth."""
    lengths = [len(r["values"][0]) for r in records]
    true = [truth(r, task) for r in records]
    if task == "<CHANGE_POINT_DETECTION>":
        pairs = list(zip(predicted, true, lengths, strict=True))
        return {
            "cp_f1": float(np.mean([change_point_f1(p["points"], t["points"], n)["f1"] for p, t, n in pairs])),
            "covering": float(np.mean([covering(p["points"], t["points"], n) for p, t, n in pairs])),
        }
    pred_spans, true_spans = [p["spans"] for p in predicted], [t["spans"] for t in true]
    return {
        "f1@0.5": span_prf_corpus(pred_spans, true_spans, 0.5)["f1"],
        "f1@0.5_labelled": span_prf_corpus(
            pred_spans, true_spans, 0.5, [p["labels"] for p in predicted], [t["labels"] for t in true]
        )["f1"],
        "f1@0.1": span_prf_corpus(pred_spans, true_spans, 0.1)["f1"],
        "event_f1": event_f1_corpus(pred_spans, true_spans)["f1"],
        "affiliation_f1": affiliation_prf_corpus(pred_spans, true_spans, lengths)["f1"],
    }


@torch.no_grad()
def evaluate(
    model, processor, collator, task: str, records: list[dict], end_thresholds=(), batch_size: int = 50
) -> dict[str, float]:
    """Greedy answers scored against the truth, the series gain on the same series, and the main score of
    decoding with each end threshold (`<score>_end<threshold>`)."""
    model.eval()
    main = "cp_f1" if task == "<CHANGE_POINT_DETECTION>" else "f1@0.5"
    predicted: dict[float | None, list] = {t: [] for t in (None, *end_thresholds)}
    gains = []
    for begin in range(0, len(records), batch_size):
        chunk = records[begin : begin + batch_size]
        batch = collator([example(r, task) for r in chunk])
        series_inputs = {k: v for k, v in batch.items() if k.startswith("series_") and "cell" not in k}
        for threshold, found in predicted.items():
            ids = model.generate(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                **series_inputs,
                max_new_tokens=64,
                end_threshold=threshold,
            )
            for text, record in zip(processor.batch_decode(ids, skip_special_tokens=False), chunk, strict=True):
                found.append(processor.post_process_generation(text, task, len(record["values"][0]))[task])
        gains.append(series_gains(model, {k: v for k, v in batch.items() if "cell" not in k})[1])
    model.train()
    result = {**score(task, predicted[None], records), "series_gain": float(torch.cat(gains).nanmean())}
    for threshold in end_thresholds:
        result[f"{main}_end{threshold:g}"] = score(task, predicted[threshold], records)[main]
    return result


def empty_answer(task: str, records: list[dict]) -> dict[str, float]:
    nothing = {"points": []} if task == "<CHANGE_POINT_DETECTION>" else {"spans": [], "labels": []}
    return score(task, [nothing] * len(records), records)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    task = TASKS[args.task]
    synthetic = SyntheticConfig(min_length=args.min_length, max_length=args.max_length, multivariate_probability=0.0)
    model, processor = build(args)
    collator = TSFlorenceCollator(processor, max_target_length=128, max_source_length=256, cell_targets=True)
    eval_records = [generate_record(EVAL_SEED + i, config=synthetic) for i in range(args.eval_series)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)

    def factor(step: int) -> float:  # warm-up, then cosine decay to a tenth
        if step < args.warmup:
            return (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    switches = {k: getattr(args, k) for k in ("reconstruction", "time_code", "pointer", "cell_head")}
    params = sum(p.numel() for p in model.parameters())
    print(f"probe {args.task} ({task}) | {params / 1e6:.2f}M parameters | {switches} | seed {args.seed}", flush=True)
    baseline = empty_answer(task, eval_records)
    print("empty answer: " + " ".join(f"{k} {v:.3f}" for k, v in baseline.items()), flush=True)
    curve, start, rng = [], time.perf_counter(), np.random.default_rng(args.seed)
    model.train()
    for step in range(1, args.steps + 1):
        seeds = rng.integers(0, EVAL_SEED, size=args.batch_size)
        batch = collator([example(generate_record(int(s), config=synthetic), task) for s in seeds])
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if step % args.eval_every == 0 or step == args.steps:
            row = {
                "step": step,
                "loss": loss.item(),
                **evaluate(model, processor, collator, task, eval_records, args.end_thresholds),
            }
            row["seconds"] = round(time.perf_counter() - start, 1)
            curve.append(row)
            print(" ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"args": vars(args) | {"json": str(args.json)}, "empty": baseline, "curve": curve}
        write_text_in_place(args.json, json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
