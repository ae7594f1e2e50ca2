"""A small model trained on 8 synthetic series with one burst each: the tests' proof that the wiring learns."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tiny import TINY_VOCAB, tiny_config

from ts_florence import (
    TSFlorenceForConditionalGeneration,
    TSFlorenceProcessor,
    TSFlorenceSeriesFeatureExtractor,
    generated_text_corpus,
    get_task,
    train_tokenizer,
)
from ts_florence.windowing import span_iou

LENGTH = 128


def _bursts(count: int, seed: int = 0):
    """Noisy sine waves, each with one burst at a random place; the caption says where it is."""
    rng = np.random.default_rng(seed)
    series, spans, captions = [], [], []
    for _ in range(count):
        x = np.sin(np.arange(LENGTH) / 4) + 0.2 * rng.normal(size=LENGTH)
        start, width = int(rng.integers(5, LENGTH - 15)), int(rng.integers(4, 10))
        x[start : start + width] += 4
        series.append(x)
        spans.append([start, start + width])
        where = "start" if start < LENGTH / 3 else "middle" if start < 2 * LENGTH / 3 else "end"
        captions.append(f"a burst near the {where}")
    return series, spans, captions


def _predict(model, processor, series, task):
    model.eval()
    inputs = processor(series=series, text=task)
    with torch.no_grad():
        ids = model.generate(**inputs, max_new_tokens=12)
    texts = processor.batch_decode(ids, skip_special_tokens=False)
    return [processor.post_process_generation(t, task, LENGTH)[task] for t in texts]


@dataclass
class BurstModel:
    folder: Path
    series: list
    spans: list
    captions: list
    steps: int
    ious: list  # IoU of the best predicted span with the true one, per series, at the end of training
    texts: list  # captions generated at the end of training


def train_burst_model(folder: Path) -> "BurstModel":
    """Trains until the model finds the burst of each of 8 series and says where it is (or 600 steps), and
    saves model and processor to `folder`."""
    torch.manual_seed(0)
    series, spans, captions = _bursts(8)
    detection = get_task("<ANOMALY_DETECTION>")
    targets = [detection.format_target({"spans": [s], "labels": ["burst"], "channels": [None]}, LENGTH) for s in spans]
    tokenizer = train_tokenizer(generated_text_corpus(300) + captions, vocab_size=TINY_VOCAB)
    processor = TSFlorenceProcessor(
        TSFlorenceSeriesFeatureExtractor(patch_length=4, num_patches=16, max_series_tokens=64), tokenizer
    )
    model = TSFlorenceForConditionalGeneration(tiny_config(width=64, layers=2, heads=4, num_patches=16))
    batch = processor(
        series=series * 2, text=["<ANOMALY_DETECTION>"] * 8 + ["<CAPTION>"] * 8, text_target=targets + captions
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 30))

    ious, texts = [], []
    for step in range(600):
        model.train()
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if loss.item() < 0.05 and step % 20 == 0:
            found = _predict(model, processor, series, "<ANOMALY_DETECTION>")
            ious = [max((span_iou(s, p) for p in f["spans"]), default=0.0) for s, f in zip(spans, found, strict=False)]
            texts = [f["text"] for f in _predict(model, processor, series, "<CAPTION>")]
            if min(ious) >= 0.5 and texts == captions:
                break
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return BurstModel(folder, series, spans, captions, step, ious, texts)
