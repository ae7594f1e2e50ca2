"""What the encoder knows beside what the decoder says: the model's cell head read as a detector.

The cell head (`TSFlorenceConfig.cell_head_weight`) predicts, for every cell of every channel, whether it lies
inside an anomaly or an event, from the text encoder's series outputs. Thresholded and joined into spans it is a
detector that needs no decoding; scored beside the model's generated answer on the same frozen-split series
(`scripts/benchmark.py`'s seed-0 subsample and scorer), it tells whether a weak detection score comes from the
encoder (it does not see the anomalies either) or from the decoder (it sees them but does not write them).

    python scripts/cell_head_detector.py --model runs/tiny-reads --corpus corpus
    python scripts/cell_head_detector.py --model DIR --thresholds 0.2 0.3 0.5 --limit 0   # every series

Spans: runs of cells whose probability (the largest over channels) reaches the threshold, in samples through the
feature extractor's `cell_bounds`. Labels are not read (the head has one output per target), so the scores are
the label-agnostic ones: F1@0.5, event-wise F1, affiliation F1 and the share of samples flagged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

TASKS = {"<ANOMALY_DETECTION>": 0, "<EVENT_DETECTION>": 1}  # the cell head's output of each task (CELL_LABELS)


def cell_spans(probabilities: np.ndarray, starts: np.ndarray, ends: np.ndarray, threshold: float) -> list[list[int]]:
    """Spans `[start, end)` in samples of the runs of cells whose probability reaches `threshold`; cell j covers
    samples `[starts[j], ends[j])`."""
    from ts_florence.cell_decoding import runs_above

    return [[int(starts[a]), int(ends[b - 1])] for a, b in runs_above(probabilities, threshold)]


def cell_probabilities(model, processor, examples: list, task: str, batch_size: int = 32) -> list[np.ndarray]:
    """Per example, the cell head's probability of `task`'s target for every cell, the largest over channels."""
    import torch

    extractor, target = processor.feature_extractor, TASKS[task]
    found = []
    for i in range(0, len(examples), batch_size):
        batch = examples[i : i + batch_size]
        inputs = processor(series=[e.values for e in batch], text=[task] * len(batch))
        series = {name: value for name, value in inputs.items() if name.startswith("series_")}
        with torch.no_grad():
            encoded = model.encode(inputs["input_ids"], inputs["attention_mask"], **series)
            logits, _ = model.read_cells(encoded.last_hidden_state, inputs["input_ids"], inputs["series_mask"])
        probabilities = torch.sigmoid(logits[..., target].float()).numpy()  # [batch x tokens x patch_length]
        for row, example in enumerate(batch):
            channels = example.values.shape[1]
            cells = extractor.patches_per_channel(channels) * extractor.patch_length
            found.append(probabilities[row].reshape(-1)[: channels * cells].reshape(channels, cells).max(0))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="a ts-florence checkpoint with a cell head")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="corpus with the frozen split")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--limit", type=int, default=None, help="series of the frozen split (default: the benchmark's)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    import torch

    from ts_florence.benchmark import flagged_share, load_model
    from ts_florence.evaluation.datasets import DEFAULT_LIMITS, BenchmarkError, load_frozen, subsample_note
    from ts_florence.evaluation.metrics import affiliation_prf_corpus, event_f1_corpus, span_prf_corpus

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        pipe = load_model(args.model, "cpu")
        limit = DEFAULT_LIMITS["frozen"] if args.limit is None else (args.limit or None)
        data = load_frozen(args.corpus, limit, progress=False)
    except BenchmarkError as err:
        parser.error(str(err))
    model, processor = pipe.model, pipe.processor
    if model.cell_head is None:
        parser.error(f"{args.model} has no cell head (cell_head_weight 0)")
    print(f"cell head of {args.model} on {subsample_note(len(data.cases), data.total)} of the frozen split")
    print(f"{'task':22s} {'threshold':>9s} {'f1@0.5':>7s} {'event_f1':>8s} {'affil_f1':>8s} {'flagged':>7s} {'n':>4s}")
    for task in TASKS:
        examples = [case.examples[task] for case in data.cases if task in case.examples]
        if not examples:
            continue
        probabilities = cell_probabilities(model, processor, examples, task)
        bounds = [
            processor.feature_extractor.cell_bounds(e.length, e.values.shape[1]) for e in examples
        ]  # the same cells on every channel
        trues, lengths = [e.truth["spans"] for e in examples], [e.length for e in examples]
        for threshold in args.thresholds:
            preds = [cell_spans(p, *b, threshold) for p, b in zip(probabilities, bounds, strict=True)]
            f1 = span_prf_corpus(preds, trues, 0.5)["f1"]
            event = event_f1_corpus(preds, trues)["f1"]
            affiliation = affiliation_prf_corpus(preds, trues, lengths)["f1"]
            flagged = flagged_share(preds, lengths)
            print(
                f"{task:22s} {threshold:9.2f} {f1:7.3f} {event:8.3f} {affiliation:8.3f} {flagged:7.3f} "
                f"{len(examples):4d}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
