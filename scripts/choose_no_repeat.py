"""Chooses the no-repeat n-gram size of the caption tasks (`generation_config.no_repeat_ngram_sizes`) on training
series with exact truth, never the frozen split: for each size given, the bundled model (or `--model`) writes the
captions of the first `--series` training series with truth (`records.truth_order`, seed 3), at most `--limit` per
task, and the fact precision and recall, attribute accuracy, ROUGE-L and the share of outputs without a repeated
sentence are printed (`ts-florence evaluate`'s scores). Size 0 is the decoder's own answer.

    python scripts/choose_no_repeat.py --corpus corpus --sizes 0 3 4 6
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402

import torch  # noqa: E402
from transformers import AutoModelForSeq2SeqLM, AutoProcessor  # noqa: E402

import ts_florence  # noqa: E402
from ts_florence.evaluation.runner import evaluate_model  # noqa: E402
from ts_florence.records import load_split, truth_order  # noqa: E402

TASKS = ["<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>"]
SHOWN = ("fact_precision", "fact_recall", "no_repeat_rate", "attribute_accuracy", "rouge_l")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ts_florence.pretrained_path()))
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 3, 4, 6])
    parser.add_argument("--series", type=int, default=400, help="training series with exact truth to read")
    parser.add_argument("--limit", type=int, default=120, help="examples per task")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    records = load_split(args.corpus, "train")
    chosen = [records[int(i)] for i in truth_order(records, seed=3)[: args.series]]
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model)
    processor = AutoProcessor.from_pretrained(args.model)
    found = {}
    for n in args.sizes:
        model.generation_config.no_repeat_ngram_sizes = {task: n for task in TASKS}
        report = evaluate_model(model, processor, chosen, TASKS, limit=args.limit, progress=False)
        found[n] = {t: {k: round(v, 3) for k, v in report["scores"][t].items() if k in SHOWN} for t in TASKS}
        print(f"no_repeat_ngram_size {n}: {json.dumps(found[n])}", flush=True)
    return found


if __name__ == "__main__":
    main()
