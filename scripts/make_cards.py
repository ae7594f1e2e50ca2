"""Writes the model card of the bundled model and the corpus's dataset card into `model_cards/`, from measured
outputs only: the model's `scripts/benchmark.py --json` report, the corpus's `stats.json` and build config,
the training log kept beside the model, and the model's own answers on the example series (run here).

    python scripts/benchmark.py --model ts_florence/pretrained/ts-florence-tiny --json bench.json
    ts-florence evaluate --model ts_florence/pretrained/ts-florence-tiny --data corpus --tasks "<CAPTION>" \\
        "<DETAILED_CAPTION>" "<MORE_DETAILED_CAPTION>" "<CAPTION_TO_PHRASE_GROUNDING>" "<OPEN_VOCABULARY_DETECTION>" \\
        "<SPAN_TO_CATEGORY>" "<SPAN_TO_DESCRIPTION>" "<DENSE_SPAN_CAPTION>" --limit 300 --out eval-text
    python scripts/score_examples.py --json examples.json
    python scripts/calibrate.py --model ts_florence/pretrained/ts-florence-tiny --corpus corpus --write \\
        --plot docs/images/calibration_reliability.png --json calibration.json
    ts-florence engine audit corpus --limit 500 --num-proc 2 --json audit.json
    python scripts/make_cards.py --benchmark bench.json --stats corpus/stats.json \\
        --evaluate eval-text/report.json --examples examples.json --calibration calibration.json --audit audit.json

Writes `model_cards/ts-florence-tiny/README.md` (Hub YAML metadata with a `model-index` of every benchmark
row of the model, then intended use, one example per task, the evaluation beside the engine and the classical
baselines, limits, training data and compute, fine-tuning), with the reports it was made from beside it
(`benchmark.json`, and `evaluate.json`, `examples.json` and `calibration.json` when given), a copy of the card
in the model folder (so the folder is what `push_to_hub` would publish), and
`model_cards/ts-florence-corpus/README.md` (the build's own `dataset_card`) with `stats.json` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ts_florence.evaluation.datasets import MAIN_METRIC, UNSEEN, UNSEEN_OVERLAP

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "ts-florence-tiny"
CORPUS_NAME = "ts-florence-corpus"
DEV_METRIC = {"tssb": "covering", "nab": "affiliation_f1", "tcpd": "covering", "mitdb": "affiliation_f1"}
"""The same for the real sets: covering of change points (TSSB's own, and TCPD's), affiliation F1 of anomalies (NAB,
MITDB: event-wise F1 rewards flagging the whole series, the reference answer that does so scores 0.99 on NAB)."""
CARD_METRICS = ("f1@0.5", "typed f1@0.5", "event_f1", "affiliation_f1", "auc_pr", "vus_pr", "covering", "cp_f1")
"""Metrics of the benchmark that go into the card's `model-index` (the others are in benchmark.json)."""
EXAMPLE_TASKS = (
    ("<CAPTION>", None),
    ("<ANOMALY_DETECTION>", None),
    ("<EVENT_DETECTION>", None),
    ("<CHANGE_POINT_DETECTION>", None),
    ("<REGIME_SEGMENTATION>", None),
    ("<CAPTION_TO_PHRASE_GROUNDING>", "a spike"),
)
EXAMPLE_FILE = "examples/load_and_temperature.csv"


def model_rows(report: dict) -> list[tuple[str, str, dict, dict]]:
    """(data set key, data set title, row, reported scores) of every row of the model in a benchmark report."""
    out = []
    for key, data in report["datasets"].items():
        for row in data["rows"]:
            if row["kind"] == "model":
                scores = {m: row["scores"][m] for m in CARD_METRICS if row["scores"].get(m) is not None}
                out.append((key, data["title"], row, scores))
    return out


def model_index(report: dict) -> list[dict]:
    """The card's `model-index`: one result per (data set, prompt) the model was benchmarked on (TSSB asks for
    change points with two prompts, both scored as change points)."""
    results = []
    for key, title, row, scores in model_rows(report):
        results.append(
            {
                "task": {"type": "time-series-prompting", "name": row.get("prompt") or row["task"]},  # as asked
                "dataset": {"name": _title(title), "type": key, "split": "eval" if key == "frozen" else "test"},
                "metrics": [{"type": m, "name": m, "value": round(float(v), 4)} for m, v in scores.items()],
            }
        )
    return results


def _yaml_front_matter(report: dict) -> str:
    import yaml

    meta = {
        "license": "apache-2.0",
        "library_name": "transformers",
        "tags": ["time-series", "ts-florence", "florence-2", "seq2seq", "anomaly-detection", "change-point-detection"],
        "datasets": [CORPUS_NAME],
        "model-index": [{"name": MODEL_NAME, "results": model_index(report)}],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def evaluation_tables(report: dict) -> list[str]:
    """Per data set: the main metric of every method on every task, the model first."""
    lines = []
    for key, data in report["datasets"].items():
        tasks = sorted({row["task"] for row in data["rows"]})
        lines += [f"### {_title(data['title'])}", "", "| method | " + " | ".join(f"`{t}`" for t in tasks) + " |"]
        lines.append("|---|" + "---:|" * len(tasks))
        order = {"model": 0, "engine": 1, "specialist": 2, "baseline": 3, "reference": 4}
        methods = sorted({(order.get(row["kind"], 5), _row_name(row)) for row in data["rows"]})
        for _, method in methods:
            cells = []
            for task in tasks:
                row = next((r for r in data["rows"] if _row_name(r) == method and r["task"] == task), None)
                metric = _main_metric(key, task, row)
                cells.append("" if row is None or metric is None else f"{row['scores'][metric]:.3f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        used = {f"`{r['task']}` {_main_metric(key, r['task'], r)}" for r in data["rows"]}
        metrics = ", ".join(sorted(used))
        notes = "; ".join(note.rstrip(".") for note in data.get("notes", []))
        lines += ["", f"Metric per task: {metrics}. {notes}.", ""]
    return lines


REAL_COLUMNS = {
    "nab": ("event_f1", "affiliation_f1", "f1@0.5", "auc_pr", "vus_pr", "flagged"),
    "tssb": ("covering", "cp_f1"),
    "tcpd": ("covering", "cp_f1"),
    "mitdb": ("event_f1", "affiliation_f1", "f1@0.5", "auc_pr", "vus_pr", "flagged"),
}
"""The columns of the card's tables of the real sets: every metric the benchmark reports there."""


def real_tables(report: dict) -> list[str]:
    """Per real data set of the report, every method's every metric of `REAL_COLUMNS` (the model first)."""
    lines = []
    for key, columns in REAL_COLUMNS.items():
        data = report["datasets"].get(key)
        if not data or data.get("skipped"):
            continue
        shown = [m for m in columns if any(m in row["scores"] for row in data["rows"])]
        lines += [f"{_title(data['title'])}, every metric:", "", "| method | task | " + " | ".join(shown) + " |"]
        lines.append("|---|---|" + "---:|" * len(shown))
        order = {"model": 0, "engine": 1, "specialist": 2, "baseline": 3, "reference": 4}
        for row in sorted(data["rows"], key=lambda r: (order.get(r["kind"], 5), _row_name(r), r["task"])):
            cells = [f"{row['scores'][m]:.3f}" if row["scores"].get(m) is not None else "" for m in shown]
            lines.append(f"| {_row_name(row)} | `{row['task']}` | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def unseen_lines(report: dict) -> list[str]:
    """Per unseen real set of the report (`UNSEEN`), the model's main metric against the best classical baseline's of
    the same run, the gap, and, where the model is below, what each answers (spans or change points per series
    beside the truth's): the measured why."""
    lines, shown = [], []
    for key in UNSEEN:
        data = report["datasets"].get(key)
        if not data or data.get("skipped"):
            continue
        shown.append(key)
        truth = data.get("truth_items_per_series", {})
        for row in [r for r in data["rows"] if r["kind"] == "model"]:
            metric = _main_metric(key, row["task"], row)
            baselines = [r for r in data["rows"] if r["kind"] == "baseline" and r["task"] == row["task"]
                         and r["scores"].get(metric) is not None]  # fmt: skip
            if metric is None or not baselines:
                continue
            best = max(baselines, key=lambda r: r["scores"][metric])
            mine, theirs = row["scores"][metric], best["scores"][metric]
            line = (
                f"- {_title(data['title'])}, {_row_name(row).replace('model', '`' + row['task'] + '`', 1)}: "
                f"{metric} {mine:.3f}, best classical baseline {best['label']} {theirs:.3f} "
            )
            if mine >= theirs:
                lines.append(line + f"(the model {mine - theirs:+.3f}, at or above it).")
                continue
            items = "spans" if row["task"] in ("<ANOMALY_DETECTION>", "<EVENT_DETECTION>") else "change points"
            why = (
                f"the model answers {row.get('items_per_series', 0):.1f} {items} per series, {best['label']} "
                f"{best.get('items_per_series', 0):.1f}, the truth {truth.get(row['task'], 0):.1f}"
            )
            if "flagged" in row["scores"] and "flagged" in best["scores"]:
                why += f"; they flag {row['scores']['flagged']:.1%} and {best['scores']['flagged']:.1%} of the samples"
            random = next(
                (r for r in data["rows"] if r["method"] == "random_scores" and r["task"] == row["task"]), None
            )
            if "auc_pr" in row["scores"] and "auc_pr" in best["scores"] and random is not None:
                why += (
                    f"; the model's per-sample scores (its cell head) have an AUC-PR of {row['scores']['auc_pr']:.3f}, "
                    f"random ones {random['scores']['auc_pr']:.3f}, {best['label']}'s {best['scores']['auc_pr']:.3f}"
                )
            lines.append(line + f"(the model {mine - theirs:+.3f}, below it): {why}.")
    if not lines:
        return []
    head = [
        "The unseen real sets (read from packages' files; no setting of the model or of a baseline was chosen on",
        "them, and none is trained on), the model against the best classical baseline of the same run on the main",
        "metric:",
        "",
    ]
    titles = {key: _title(report["datasets"][key]["title"]) for key in shown}
    near = [f"- Near {titles[key]} in the training corpus: {UNSEEN_OVERLAP[key]}." for key in shown]
    return head + lines + near + [""]


def _title(title: str) -> str:
    """A data set's title without the folder it was read from (a path of the machine that ran the benchmark)."""
    return title.split(" (")[0]


def _main_metric(key: str, task: str, row: dict | None) -> str | None:
    """The metric a row of data set `key` is compared by (None: no row, or the row lacks it)."""
    metric = DEV_METRIC.get(key) or MAIN_METRIC.get(task)
    return metric if row is not None and metric in row["scores"] else None


def _row_name(row: dict) -> str:
    """A method's name in the tables; the model's rows of another prompt (TSSB's segmentation read as change
    points) name their prompt."""
    if row["kind"] == "model" and row.get("prompt") not in (None, row["task"]):
        return f"model, `{row['prompt']}` prompt"
    return row["label"]


def text_task_lines(evaluation: dict, audit: dict | None = None) -> list[str]:
    """The `ts-florence evaluate` report of the text, grounding and span tasks, which the benchmark has not: the
    overall metrics beside the answer that reads nothing, the best constant answer (`constant_prediction`: the most
    frequent answer, or the whole series) and the target caption (the engine's, scored alike: the ceiling of fact
    precision); the metrics per kind (`fact_precision[period]`) stay in evaluate.json. With the engine's `audit`
    (`ts-florence engine audit --json`), the share of the engine's own spans placed right that carry the true label:
    the bar of `<SPAN_TO_CATEGORY>`."""
    lines = [
        f"Captions, grounding and span tasks (`ts-florence evaluate`, {evaluation['split']} split, at most "
        f"{evaluation['limit']} examples per task):",
        "",
        "| task | examples | metric | model | reference: reads nothing | constant: most frequent answer, whole series "
        "| target: the engine's caption |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for task, scores in evaluation["scores"].items():
        for metric, value in scores.items():
            if "[" in metric:
                continue
            shown = []
            for key in ("reference_scores", "constant_scores", "target_scores"):
                other = evaluation.get(key, {}).get(task, {}).get(metric)
                shown.append("" if other is None else f"{other:.3f}")
            lines.append(
                f"| `{task}` | {evaluation['examples'][task]} | {metric} | {value:.3f} | {' | '.join(shown)} |"
            )
    lines.append("")
    merged = (audit or {}).get("scores", {}).get("merged+filtered", {})
    if merged.get("anomaly label agreement") is not None:
        accuracy = evaluation["scores"].get("<SPAN_TO_CATEGORY>", {}).get("accuracy")
        verdict = "" if accuracy is None else f" The model's `<SPAN_TO_CATEGORY>` accuracy is {accuracy:.3f}."
        lines += [
            f"The engine's own labels (`ts-florence engine audit`, {audit['series']} frozen series with exact truth): "
            f"of its spans placed right (IoU 0.5), {merged['anomaly label agreement']:.3f} of the anomalies and "
            f"{merged['event label agreement']:.3f} of the events carry the true label, the bar the model's "
            f"span-to-category answer should reach.{verdict}",
            "",
        ]
    return lines


def example_lines(examples: dict) -> list[str]:
    """What the model found on the README's example series beside their truth (`scripts/score_examples.py`)."""
    totals = examples["scores"]
    lines = [
        f"On the example series of the repository (`examples/`, known truth), F1@0.5 {totals['f1@0.5']:.3f} "
        f"(labels ignored), {totals['typed f1@0.5']:.3f} with labels, event-wise F1 {totals['event_f1']:.3f}:",
        "",
    ]
    for row in examples["rows"]:
        truth = ", ".join(f"{a['label']} [{a['start']}, {a['end']})" for a in row["truth"])
        found = row["found"]
        shown = ", ".join(f"{label} {span}" for span, label in zip(found["spans"], found["labels"], strict=True))
        lines.append(f"- `{row['name']}`: truth {truth}; found {shown or 'nothing'}.")
    return lines + [""]


def limits(report: dict) -> list[str]:
    """Where another method (not a reference answer) beats the model on a task's main metric, from the report."""
    lines = []
    for key, data in report["datasets"].items():
        for row in data["rows"]:
            if row["kind"] != "model":
                continue
            metric = _main_metric(key, row["task"], row)
            mine = row["scores"][metric]
            better = [
                (r["label"], r["scores"][metric])
                for r in data["rows"]
                if r["kind"] not in ("model", "reference") and r["task"] == row["task"]
                and r["scores"].get(metric) is not None
                and r["scores"][metric] > mine
            ]  # fmt: skip
            if better:
                best = max(better, key=lambda b: b[1])
                lines.append(
                    f"- {_title(data['title'])}, {_row_name(row).replace('model', '`' + row['task'] + '`', 1)}: "
                    f"{metric} {mine:.3f}; {len(better)} method(s) do better, best {best[0]} ({best[1]:.3f})."
                )
    return lines or ["- On these benchmarks no method of the report beats the model on a task's main metric."]


def task_examples(model_dir: Path) -> list[str]:
    """The model's answer to every task of `EXAMPLE_TASKS` on the example series, as the pipeline returns it."""
    from transformers import pipeline

    from ts_florence.io import read_series

    series = read_series(ROOT / EXAMPLE_FILE)
    pipe = pipeline("time-series-prompting", model=str(model_dir))
    lines = [f"On `{EXAMPLE_FILE}` ({len(series.values)} hourly samples of {', '.join(series.channel_names)}):", ""]
    for task, text in EXAMPLE_TASKS:
        kwargs = {"text": text} if text else {}
        answer = pipe(series.values, task=task, **kwargs)[task]
        answer.pop("timestamps", None)
        shown = json.dumps(_rounded(answer))
        prompt = task if text is None else f"{task}{text}"
        lines.append(f"- `{prompt}` → `{shown if len(shown) < 400 else shown[:400] + ' ...'}`")
    return lines


def _rounded(value):
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def calibration_lines(calibration: dict) -> list[str]:
    """The calibration error of the item scores on the frozen split, raw and calibrated (`scripts/calibrate.py`)."""
    settings = calibration["settings"]
    lines = [
        "### Calibration of the scores",
        "",
        f"Expected calibration error of item scores on the frozen split ({settings['bins']} equal-width bins; an item "
        f"is right when it matches the exact truth, a span at IoU >= {settings['iou']}, a change point within "
        f"{settings['change_point_margin']:.0%} of the length), the model's raw scores (`calibrate=False`) and the "
        "calibrated ones the pipeline returns, with the map fitted on training series of the frozen split's sources "
        "(`scripts/calibrate.py`; reliability diagram: `docs/images/calibration_reliability.png` of the repository):",
        "",
        "| task | map | fitted on (series / items) | frozen series / items | ECE raw | ECE calibrated |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for task, found in calibration["tasks"].items():
        fit, frozen = found["fit"], found["frozen"]
        method = found["entry"]["method"] if found["kept"] else "none (raw scores)"
        after = frozen["ece_after"] if found["kept"] else frozen["ece_before"]
        lines.append(
            f"| `{task}` | {method} | {fit['split']}: {fit['series']} / {fit['items']} | {frozen['series']} / "
            f"{frozen['items']} | {frozen['ece_before']:.3f} | {after:.3f} |"
        )
    return lines + [""]


def curve_lines(curve: dict) -> list[str]:
    """The real-data benchmark over the training steps (`scripts/benchmark_curve.py`)."""
    from ts_florence.benchmark import curve_markdown

    return [
        "",
        "The real-data benchmark over training (`scripts/benchmark_curve.py`; every step read with the same "
        f"decoding, {curve['settings']}; NAB and TSSB are the sets that decoding was chosen on)"
        + (f". {curve['note']}" if curve.get("note") else "")
        + ":",
        "",
        curve_markdown(curve),
    ]


def training_lines(model_dir: Path, stats: dict) -> list[str]:
    lines = [
        f"- data: {CORPUS_NAME} (`{stats['name']}`), {stats['train']} training series "
        + ", ".join(f"{kind} {n}" for kind, n in stats["train_by_kind"].items())
        + f"; never trained on the frozen split ({stats['eval']} series) nor on TSSB and NAB.",
    ]
    log = model_dir / "trainer_log.jsonl"
    if log.is_file():
        entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        steps = [e for e in entries if "loss" in e and "step" in e]
        if steps:
            rate = sum(e.get("series_per_second", 0) for e in steps) / len(steps)
            lines.append(
                f"- {steps[-1]['step']} steps of batch 16 on CPU (2 cores, no GPU), about {rate:.0f} series/s; "
                "`trainer_log.jsonl` beside the weights holds the loss, evaluation loss and series gain per task."
            )
    recipe = model_dir / "RECIPE.md"
    if recipe.is_file():
        lines.append(f"- reproduce: see `RECIPE.md` beside the weights:\n\n{recipe.read_text().strip()}")
    return lines


def model_card(
    model_dir: Path,
    report: dict,
    stats: dict,
    evaluation: dict | None = None,
    examples: dict | None = None,
    run_examples: bool = True,
    curve: dict | None = None,
    calibration: dict | None = None,
    audit: dict | None = None,
) -> str:
    from ts_florence.tasks import TASKS

    body = [
        f"# {MODEL_NAME}",
        "",
        "ts-florence is Florence-2 for time series: one compact sequence-to-sequence model that reads a series",
        "(univariate or multivariate, any length, with missing values) and a task prompt, and writes text in which",
        "spans, segments and points in time are location tokens `<loc_0>`…`<loc_999>`, parsed back into sample",
        "indices (and timestamps) with a confidence per item. This model ships inside the `ts-florence` package.",
        "",
        "## Intended use",
        "",
        "Exploring series: a first look at anomalies, events, regimes and change points with their places, and",
        "a caption, without a hub download. It is small (trained on 2 CPU cores) and it loses to classical",
        "detectors on some tasks (see Limits): check its answers before acting on them, or fine-tune it on your",
        "own labels.",
        "",
        "```python",
        "import ts_florence",
        "from transformers import pipeline",
        "",
        'pipe = pipeline("time-series-prompting")  # the bundled model, offline',
        'pipe(values, task="<ANOMALY_DETECTION>", timestamps=times)',
        "```",
        "",
        "## Tasks",
        "",
        ", ".join(f"`{t}`" for t in TASKS) + ".",
        "",
    ]
    if run_examples:
        body += task_examples(model_dir) + [""]
    body += ["## Evaluation", "", f"`scripts/benchmark.py` ({report['settings']['model_reads']}):", ""]
    body += evaluation_tables(report)
    body += real_tables(report)
    body += unseen_lines(report)
    if calibration:
        body += calibration_lines(calibration)
    if evaluation:
        body += text_task_lines(evaluation, audit)
    body += ["## Limits", ""] + limits(report) + [""]
    if examples:
        body += example_lines(examples)
    body += ["## Training data and compute", ""] + training_lines(model_dir, stats)
    body += (curve_lines(curve) if curve else []) + [""]
    body += [
        "## Fine-tuning",
        "",
        "On your own labels (a CSV/Parquet table of series and labels, or records with spans):",
        "",
        "```bash",
        "python training/train.py --config training/configs/finetune.yaml \\",
        f"    --init-from ts_florence/pretrained/{MODEL_NAME} --data my_labels.csv",
        "```",
        "",
    ]
    return _yaml_front_matter(report) + "\n" + "\n".join(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "ts_florence" / "pretrained" / MODEL_NAME))
    parser.add_argument("--benchmark", required=True, help="scripts/benchmark.py --json output for --model")
    parser.add_argument("--stats", required=True, help="the corpus's stats.json")
    parser.add_argument("--evaluate", help="`ts-florence evaluate` report.json of the text tasks, for the card")
    parser.add_argument("--examples", help="`scripts/score_examples.py --json` output, for the card")
    parser.add_argument("--curve", help="`scripts/benchmark_curve.py --out` of the model's training run")
    parser.add_argument("--calibration", help="`scripts/calibrate.py --json` output for --model, for the card")
    parser.add_argument("--audit", help="`ts-florence engine audit --json` output of the corpus, for the card")
    parser.add_argument("--out", default=str(ROOT / "model_cards"))
    args = parser.parse_args(argv)
    from ts_florence.engine.build import config_from_dict, dataset_card
    from ts_florence.io import write_text_in_place

    model_dir, out = Path(args.model), Path(args.out)
    report = json.loads(Path(args.benchmark).read_text())
    stats = json.loads(Path(args.stats).read_text())
    evaluation = json.loads(Path(args.evaluate).read_text()) if args.evaluate else None
    examples = json.loads(Path(args.examples).read_text()) if args.examples else None
    curve = json.loads(Path(args.curve).read_text()) if args.curve else None
    calibration = json.loads(Path(args.calibration).read_text()) if args.calibration else None
    audit = json.loads(Path(args.audit).read_text()) if args.audit else None
    card = model_card(model_dir, report, stats, evaluation, examples, curve=curve, calibration=calibration, audit=audit)
    for folder in (out / MODEL_NAME, out / CORPUS_NAME):
        folder.mkdir(parents=True, exist_ok=True)
    write_text_in_place(out / MODEL_NAME / "README.md", card)
    write_text_in_place(out / MODEL_NAME / "benchmark.json", json.dumps(report, indent=2) + "\n")
    documents = {
        "evaluate.json": evaluation,
        "examples.json": examples,
        "curve.json": curve,
        "calibration.json": calibration,
        "audit.json": audit,
    }
    for name, document in documents.items():
        if document is not None:
            write_text_in_place(out / MODEL_NAME / name, json.dumps(document, indent=2) + "\n")
    write_text_in_place(model_dir / "README.md", card)
    config = config_from_dict(stats["config"], args.stats)
    write_text_in_place(out / CORPUS_NAME / "README.md", dataset_card(config, stats))
    write_text_in_place(out / CORPUS_NAME / "stats.json", Path(args.stats).read_text())
    print(f"wrote {out / MODEL_NAME / 'README.md'}, {out / CORPUS_NAME / 'README.md'} and the card in {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
