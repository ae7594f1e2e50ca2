"""`pipeline("time-series-prompting")`: series + task prompt(s) in, Florence-2-shaped results out."""

from __future__ import annotations

import copy
import logging
from dataclasses import fields
from typing import Any

import numpy as np
import torch
from transformers import Pipeline
from transformers.modeling_outputs import BaseModelOutput

from .calibration import calibrate_result
from .cell_decoding import CELL_LABEL_CHOICES, attributed, cell_answer, cell_spans, missing_spans, span_prefix
from .long_format import is_long_frame, predict_long
from .modeling_ts_florence import CACHE_NAME, CELL_LABELS, PointerKeys, TSFlorenceEncoderOutput
from .processing_ts_florence import SeriesInput, add_timestamps, as_series_list, decode_generation
from .tasks import get_task, task_prompts
from .windowing import drop_repeated_spans, merge_point_scores, merge_windows, window_starts

logger = logging.getLogger(__name__)

CELL_TARGETS = {"<ANOMALY_DETECTION>": CELL_LABELS.index("anomaly"), "<EVENT_DETECTION>": CELL_LABELS.index("event")}
"""The cell head's output (`modeling_ts_florence.CELL_LABELS`) that gives each task's `point_scores`."""


def positive_int(value: Any, name: str) -> int:
    """`value` when it is a whole number >= 1, else ValueError (TypeError for a non-number) naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


class TimeSeriesPromptingPipeline(Pipeline):
    """Runs one or several task prompts on one series or a batch.

    ```python
    pipe = pipeline("time-series-prompting", model=path)
    pipe(values, task="<ANOMALY_DETECTION>")
    # {"<ANOMALY_DETECTION>": {"spans": [[120, 131]], "labels": ["spike"], "channels": [None], "scores": [0.93]}}
    pipe(values, task=["<CAPTION>", "<REGIME_SEGMENTATION>"])  # the series is encoded once for both
    pipe([a, b, c], task="<CAPTION>", batch_size=8)             # a list of results
    pipe(long_values, task="<EVENT_DETECTION>", window=2048)   # overlapping windows, merged with 1-D NMS
    pipe(values, task="<CLASSIFICATION>", candidate_labels=["walk", "run"])
    # {"<CLASSIFICATION>": {"text": "run", "labels": ["run", "walk"], "scores": [0.91, 0.09]}}
    pipe(df, task="<ANOMALY_DETECTION>", id_column="item_id", timestamp_column="timestamp", target="target")
    # a DataFrame: one row per span found, with item_id, task, start, end, start_timestamp, end_timestamp, ...
    ```

    Args (call):
        series: one series or a batch (see `ts_florence.processing_ts_florence.as_series_list`); or a long DataFrame
            of many series when called with `id_column`, `timestamp_column`, `target` or `progress`
            (`ts_florence.long_format`: one row per sample of each item; the answer is a table,
            `long_format.TABLE_COLUMNS`, and `progress=True` shows a progress bar of the items).
        task: a task token or a list of them; a token may carry its input (`"<OPEN_VOCABULARY_DETECTION>dip"`).
        text: the input of a task that takes one (phrase, label, or `<loc_s><loc_e>`), for every task given.
        timestamps: one per sample (or a list per series); results then carry them too.
        window: run windows of this many samples (overlap `window_overlap`, a fraction) and merge results;
            `"whole"` reads every series whole (reduced to the model's cell grid). By default each task reads with
            the model's own window for it (`generation_config.windows`, task -> samples, chosen on dev data;
            whole where the model names none), so several tasks of one call may read in different windows.
        batch_size: series per forward pass.
        generate_kwargs: passed to `model.generate` (e.g. `num_beams`, `max_new_tokens`).
        candidate_labels: for text tasks (such as `<CLASSIFICATION>`), answer with the most likely of these
            instead of generating freely: every candidate is scored by the model's log-likelihood of it as the
            answer, and the result holds `"labels"` by decreasing probability and their `"scores"` (a softmax over
            the candidates), as in transformers' zero-shot classification.
        refine_boundaries: move each boundary onto the raw samples within one cell plus one bin
            (`ts_florence.boundaries`; default True); False gives the model's answer at its own resolution.
        cell_threshold: how `<ANOMALY_DETECTION>` and `<EVENT_DETECTION>` find their spans. By default the model's
            own choice (`generation_config.cell_thresholds`, task -> threshold, chosen on dev data): a task named
            there is *cell-decoded* (`ts_florence.cell_decoding`: the spans are the runs where the cell head's
            probability reaches the threshold, each labelled by the decoder's likelihood, written as the task's
            text); other tasks are generated. A number in (0, 1) cell-decodes both tasks at that threshold;
            `False` generates them freely.
        return_point_scores: for `<ANOMALY_DETECTION>` and `<EVENT_DETECTION>`, also return `"point_scores"`, one
            score in [0, 1] per sample of the series (the model's cell head: the probability that the sample lies
            inside an anomaly, or an event, the largest over channels; over windows, the largest of the windows
            that hold the sample), to threshold or rank yourself, e.g. for AUC-PR or VUS-PR.
        calibrate: whether the `scores` of spans and points are calibrated (default True): a task with a map in
            the model's `generation_config.calibration` (`ts_florence.calibration`, fitted by `scripts/calibrate.py`)
            gets each item's score through it, so a score of 0.7 means that about 70% of such items match the truth
            (a span at IoU >= 0.5, a change point within 1% of the length); `False` gives the model's raw scores
            (the geometric mean of the item's token probabilities). Calibration keeps the order of a task's scores
            (ties may appear); `point_scores` are never calibrated.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False

    def _sanitize_parameters(
        self,
        task=None,
        text=None,
        window=None,
        window_overlap=None,
        generate_kwargs=None,
        max_new_tokens=None,
        num_beams=None,
        candidate_labels=None,
        refine_boundaries=None,
        return_point_scores=None,
        cell_threshold=None,
        calibrate=None,
        **kwargs,
    ):
        preprocess = {}
        if candidate_labels is not None:
            candidate_labels = [candidate_labels] if isinstance(candidate_labels, str) else list(candidate_labels)
            if not candidate_labels or len(set(candidate_labels)) != len(candidate_labels):
                raise ValueError(f"candidate_labels must be distinct and not empty, got {candidate_labels}")
            preprocess["candidate_labels"] = candidate_labels
        if task is not None:
            preprocess["task"] = task
        if text is not None:
            preprocess["text"] = text
        if window is not None:
            preprocess["window"] = window
        if window_overlap is not None:
            preprocess["window_overlap"] = window_overlap
        forward = {
            "generate_kwargs": dict(generate_kwargs or {}),
            "candidate_labels": candidate_labels,
            "return_point_scores": bool(return_point_scores),
            "cell_threshold": cell_threshold,
        }
        if max_new_tokens is not None:
            forward["generate_kwargs"]["max_new_tokens"] = max_new_tokens
        if num_beams is not None:
            forward["generate_kwargs"]["num_beams"] = num_beams
        for name in ("num_beams", "max_new_tokens"):
            if name in forward["generate_kwargs"]:
                positive_int(forward["generate_kwargs"][name], name)
        postprocess = {} if refine_boundaries is None else {"refine_boundaries": bool(refine_boundaries)}
        if calibrate is not None:
            postprocess["calibrate"] = bool(calibrate)
        return preprocess, forward, postprocess

    def __call__(self, series: Any, timestamps: Any = None, batch_size: int = 1, **kwargs):
        positive_int(batch_size, "batch_size")
        if is_long_frame(series, kwargs):
            return predict_long(self, series, timestamps=timestamps, batch_size=batch_size, **kwargs)
        preprocess_params, forward_params, postprocess_params = self._sanitize_parameters(**kwargs)
        items, batched = as_series_list(series, timestamps)
        outputs: list[dict] = [{} for _ in items]
        for params in self._by_window(preprocess_params):
            for output, found in zip(outputs, self._run(items, batch_size, params, forward_params,
                                                        postprocess_params), strict=True):  # fmt: skip
                output.update(found)
        return outputs if batched else outputs[0]

    def _by_window(self, preprocess_params: dict) -> list[dict]:
        """The preprocessing parameters of each group of the prompts that read in one window: the window given
        (`"whole"`: none), else each task's own (`generation_config.windows`)."""
        window = preprocess_params.get("window")
        if window == "whole":
            return [{**preprocess_params, "window": None}]
        if window is not None:
            positive_int(window, "window")
            return [preprocess_params]
        own = getattr(self.model.generation_config, "windows", None) or {}
        groups: dict[int | None, list[str]] = {}
        for token, text_input in task_prompts(
            preprocess_params.get("task", "<CAPTION>"), preprocess_params.get("text")
        ):
            groups.setdefault(own.get(token), []).append(token + (text_input or ""))
        return [{**preprocess_params, "task": tasks, "text": None, "window": w} for w, tasks in groups.items()]

    def _run(self, items, batch_size: int, preprocess_params: dict, forward_params: dict, postprocess_params: dict):
        # Series of one channel count share a batch where they can: a batch is padded to its longest series in tokens
        # (a univariate series has num_patches tokens, a multivariate one up to max_series_tokens), and the text
        # encoder's cost follows the padded length. Results come back in the order given.
        order = sorted(range(len(items)), key=lambda i: (items[i].values.shape[0], i))
        outputs: list[dict | None] = [None] * len(items)
        for begin in range(0, len(items), batch_size):
            chosen = order[begin : begin + batch_size]
            model_inputs = self.preprocess([items[i] for i in chosen], **preprocess_params)
            results = self.postprocess(self.forward(model_inputs, **forward_params), **postprocess_params)
            for i, result in zip(chosen, results, strict=True):
                outputs[i] = result
        return outputs

    def preprocess(
        self,
        items: list[SeriesInput],
        task="<CAPTION>",
        text=None,
        window=None,
        window_overlap=0.25,
        candidate_labels=None,
    ):
        prompts = task_prompts(task, text)
        if candidate_labels is not None:
            located = [token for token, _ in prompts if get_task(token).output_kind != "text"]
            if located:
                raise ValueError(f"candidate_labels applies to text tasks such as <CLASSIFICATION>, not to {located}")
        if window is not None:
            text_tasks = [token for token, _ in prompts if get_task(token).output_kind == "text"]
            if text_tasks:
                raise ValueError(f"windowed inference applies to span and point tasks, not to {text_tasks}")
        windows = []  # (series index, window start, window length, SeriesInput)
        for s, item in enumerate(items):
            if window is None or item.length <= window:
                windows.append((s, 0, item.length, item))
                continue
            for start in window_starts(item.length, window, window_overlap):
                windows.append((s, start, window, SeriesInput(values=item.values[:, start : start + window])))
        features = self.processor.feature_extractor.encode([w[3] for w in windows], return_tensors="pt")
        n_tokens = [self.processor.feature_extractor.num_tokens(w[3].values.shape[0]) for w in windows]
        texts = [token + (text_input or "") for _ in windows for token, text_input in prompts]
        prompt_tokens = [n for n in n_tokens for _ in prompts]
        encoding = self.processor.tokenizer(
            self.processor.build_prompts(texts, prompt_tokens), padding=True, return_tensors="pt"
        )
        return {
            "encoding": dict(encoding),
            "features": dict(features),
            "num_prompts": len(prompts),
            "meta": {"items": items, "windows": [w[:3] for w in windows], "prompts": prompts, "window": window},
        }

    def _forward(
        self,
        model_inputs: dict,
        generate_kwargs: dict | None = None,
        candidate_labels=None,
        return_point_scores=False,
        cell_threshold=None,
    ) -> dict:
        generate_kwargs = dict(generate_kwargs or {})
        model = self.model
        features = model.get_series_features(**model_inputs["features"])  # [windows x tokens x d_model]
        repeat = model_inputs["num_prompts"]
        # One encoding of each series, shared by all its prompts.
        series_features = features.repeat_interleave(repeat, dim=0)
        series_mask = model_inputs["features"]["series_mask"].repeat_interleave(repeat, dim=0)
        # The location pointer (TSFlorenceConfig.location_pointer) reads which channel each series token is.
        channel_ids = model_inputs["features"]["series_channel_ids"].repeat_interleave(repeat, dim=0)
        if candidate_labels is not None:
            scores = self._candidate_log_likelihoods(
                model_inputs["encoding"], series_features, series_mask, candidate_labels, model_inputs["meta"]
            )
            return {"candidates": (candidate_labels, scores), "meta": model_inputs["meta"]}
        prompts = model_inputs["meta"]["prompts"]
        thresholds = self._cell_thresholds([token for token, _ in prompts], cell_threshold)
        if return_point_scores:
            unknown = [token for token, _ in prompts if token not in CELL_TARGETS]
            if unknown:
                raise ValueError(f"return_point_scores applies to {sorted(CELL_TARGETS)}, not to {unknown}")
        encoding = model_inputs["encoding"]
        encoded = None
        if return_point_scores or thresholds:  # the cell head reads the text encoder's output too: encoded once
            encoded = model.encode(**encoding, series_features=series_features, series_mask=series_mask)
        out = model.generate(
            **encoding,
            series_features=series_features,
            series_mask=series_mask,
            series_channel_ids=channel_ids,
            encoder_outputs=encoded,
            return_dict_in_generate=True,
            output_scores=True,
            **generate_kwargs,
        )
        decoded = decode_generation(model, self.processor, out)
        result = {"decoded": decoded, "meta": model_inputs["meta"]}
        if encoded is not None:
            result["cell_probabilities"] = self._cell_probabilities(encoding, encoded, series_mask, prompts)
            if thresholds:
                inputs = (encoding, encoded, series_mask, channel_ids)
                self._cell_decode(result, inputs, thresholds)
            if not return_point_scores:
                del result["cell_probabilities"]
        return result

    def _cell_thresholds(self, tokens: list[str], cell_threshold) -> dict[str, float]:
        """Task -> threshold of the tasks of `tokens` that are cell-decoded (see `__call__`'s `cell_threshold`)."""
        if cell_threshold is False:
            return {}
        if cell_threshold is None:
            own = getattr(self.model.generation_config, "cell_thresholds", None) or {}
            return {token: float(own[token]) for token in tokens if token in own}
        if isinstance(cell_threshold, bool) or not isinstance(cell_threshold, (int, float)):
            raise TypeError(f"cell_threshold must be a number in (0, 1), None or False, got {cell_threshold!r}")
        if not 0 < cell_threshold < 1:
            raise ValueError(f"cell_threshold must be in (0, 1), got {cell_threshold}")
        chosen = {token: float(cell_threshold) for token in tokens if token in CELL_LABEL_CHOICES}
        if chosen and getattr(self.model, "cell_head", None) is None:
            raise ValueError("cell_threshold needs a model with a cell head (TSFlorenceConfig.cell_head_weight)")
        return chosen

    def _cell_probabilities(self, encoding, encoded, series_mask, prompts) -> list:
        """Per (window, prompt) row, the cell head's probabilities `[tokens x patch_length]` of the prompt's target
        (`CELL_TARGETS`; the anomaly target for a task the cell head does not predict)."""
        model = self.model
        if getattr(model, "cell_head", None) is None:
            raise ValueError("return_point_scores needs a model with a cell head (TSFlorenceConfig.cell_head_weight)")
        logits, _ = model.read_cells(encoded.last_hidden_state, encoding["input_ids"], series_mask)
        targets = [CELL_TARGETS.get(token, 0) for _ in range(len(logits) // len(prompts)) for token, _ in prompts]
        rows = torch.arange(len(logits))
        return torch.sigmoid(logits[rows, ..., torch.tensor(targets)].float()).numpy()

    def _cell_decode(self, result: dict, inputs: tuple, thresholds: dict[str, float]) -> None:
        """Adds to the generated answer (text, character scores) of every row of a task in `thresholds` the cell
        head's spans that the answer does not overlap, in `result["decoded"]`, and on a multivariate series gives
        the answer's own spans the cell head's channel (`ts_florence.cell_decoding`)."""
        meta, probabilities, decoded = result["meta"], result["cell_probabilities"], result["decoded"]
        prompts, windows = meta["prompts"], meta["windows"]
        extractor = self.processor.feature_extractor
        found = {}  # row -> (spans the answer lacks, window length)
        for row in range(len(probabilities)):
            token = prompts[row % len(prompts)][0]
            if token in thresholds:
                length = windows[row // len(prompts)][2]
                text, char_scores = decoded[row]
                answer = self.processor.post_process_generation(text, token, length, char_scores=char_scores)[token]
                scores = self._point_scores(result, row, per_channel=True)
                if scores.shape[0] > 1:  # the answer written anew, each span with the cell head's channel
                    decoded[row] = cell_answer(*attributed(answer, scores, thresholds[token]), length)
                cells = extractor.patches_per_channel(scores.shape[0]) * extractor.patch_length
                # Runs closer than 3 cells are one span.
                spans = cell_spans(scores, thresholds[token], join_gap=-(-3 * length // cells))
                found[row] = (missing_spans(spans, answer["spans"]), length)
        queries = [
            (row, span_prefix(span, label, length))
            for row, (spans, length) in found.items()
            for span in spans
            for label in CELL_LABEL_CHOICES[prompts[row % len(prompts)][0]]
        ]
        likelihoods = iter(self._prefix_log_likelihoods(inputs, queries).tolist())
        for row, (spans, length) in found.items():
            choices = CELL_LABEL_CHOICES[prompts[row % len(prompts)][0]]
            labels = []
            for _ in spans:
                scored = [next(likelihoods) for _ in choices]
                labels.append(choices[int(np.argmax(scored))])
            text, char_scores = cell_answer(spans, labels, length)
            decoded[row] = (decoded[row][0] + text, list(decoded[row][1]) + char_scores)

    def _prefix_log_likelihoods(self, inputs: tuple, queries: list[tuple[int, str]], chunk: int = 256):
        """The decoder's log-likelihood of each `(row, text)` of `queries` as the start of row's answer (summed over
        the text's tokens, teacher-forced, with the location pointer).

        Every query of a row starts from the same decoder state: its first step (the distribution of the first
        token) and the cross-attention keys and values of the text encoder's output are computed once per row and
        shared by the row's queries, which run only their own few tokens on top (the cache, as beam search reuses
        it); the pointer's keys are computed once per row as well."""
        if not queries:
            return torch.zeros(0)
        encoding, encoded, series_mask, channel_ids = inputs
        model = self.model
        rows = sorted({row for row, _ in queries})
        at = torch.tensor(rows)
        hidden, attention_mask = encoded.last_hidden_state[at], encoding["attention_mask"][at]
        _, keys = model.read_cells(hidden, encoding["input_ids"][at], series_mask[at], channel_ids[at])
        start = torch.full((len(rows), 1), model.config.text_config.decoder_start_token_id)
        first = model(
            attention_mask=attention_mask,
            encoder_outputs=TSFlorenceEncoderOutput.with_keys(BaseModelOutput(last_hidden_state=hidden), keys),
            decoder_input_ids=start,
            use_cache=True,
        )
        first_log_probs = first.logits[:, -1].float().log_softmax(-1)  # [rows x vocab]
        slot = {row: i for i, row in enumerate(rows)}
        found = []
        for begin in range(0, len(queries), chunk):
            part = queries[begin : begin + chunk]
            index = torch.tensor([slot[row] for row, _ in part])
            target = self.processor.tokenizer(
                [text for _, text in part], padding=True, add_special_tokens=False, return_tensors="pt"
            )
            ids, real = target["input_ids"], target["attention_mask"].bool()  # [queries x tokens]
            total = first_log_probs[index, ids[:, 0]]
            if ids.shape[1] > 1:
                cache = copy.deepcopy(getattr(first, CACHE_NAME))
                cache.reorder_cache(index)
                selected = PointerKeys(**{f.name: getattr(keys, f.name)[index] for f in fields(PointerKeys)})
                logits = model(
                    attention_mask=attention_mask[index],
                    encoder_outputs=TSFlorenceEncoderOutput.with_keys(
                        BaseModelOutput(last_hidden_state=hidden[index]), selected
                    ),
                    decoder_input_ids=ids[:, :-1],
                    use_cache=True,
                    **{CACHE_NAME: cache},
                ).logits  # [queries x tokens - 1 x vocab]: step t predicts token t + 1
                picked = logits.float().log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
                total = total + (picked * real[:, 1:]).sum(-1)
            found.append(total)
        return torch.cat(found)

    def _candidate_log_likelihoods(self, encoding, series_features, series_mask, candidates, meta):
        """`[rows x candidates]`: the log-likelihood of each candidate as the answer of each (series, prompt) row,
        the sum over its target tokens (with `</s>`): the text encoder runs once per row, the decoder once per row
        and candidate, teacher-forced."""
        model = self.model
        rows, k = encoding["input_ids"].shape[0], len(candidates)
        tokens = [token for _ in meta["windows"] for token, _ in meta["prompts"]]
        targets = [get_task(token).format_target({"text": c}, 1) for token in tokens for c in candidates]
        target = self.processor.tokenizer(targets, padding=True, return_tensors="pt")
        labels = target["input_ids"].masked_fill(target["attention_mask"] == 0, -100)  # [rows*k x length]
        encoded = model.encode(**encoding, series_features=series_features, series_mask=series_mask)
        logits = model(
            attention_mask=encoding["attention_mask"].repeat_interleave(k, dim=0),
            encoder_outputs=(encoded.last_hidden_state.repeat_interleave(k, dim=0),),
            labels=labels,
        ).logits
        picked = logits.float().log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (picked * (labels != -100)).sum(-1).view(rows, k)

    def _point_scores(self, model_outputs: dict, row: int, per_channel: bool = False) -> np.ndarray:
        """Per-sample scores of one (window, prompt) row, in window indices (`[channels x length]` with
        `per_channel`)."""
        meta = model_outputs["meta"]
        series_index, start, length = meta["windows"][row // len(meta["prompts"])]
        channels = meta["items"][series_index].values.shape[0]
        extractor = self.processor.feature_extractor
        cells = extractor.patches_per_channel(channels) * extractor.patch_length
        # Tokens are channel-major: the first `channels * patches` rows are this series' cells, padding after.
        probabilities = model_outputs["cell_probabilities"][row].reshape(-1)[: channels * cells]
        return extractor.sample_scores(probabilities.reshape(channels, cells), length, per_channel=per_channel)

    def postprocess(self, model_outputs: dict, refine_boundaries: bool = True, calibrate: bool = True) -> list[dict]:
        meta = model_outputs["meta"]
        prompts, windows, items = meta["prompts"], meta["windows"], meta["items"]
        parsed = []  # one dict per (window, prompt), window indices
        if "candidates" in model_outputs:
            candidates, log_likelihoods = model_outputs["candidates"]
            for row in log_likelihoods:
                probabilities = row.softmax(-1)
                order = probabilities.argsort(descending=True).tolist()
                parsed.append(
                    {
                        "text": candidates[order[0]],
                        "labels": [candidates[i] for i in order],
                        "scores": [float(probabilities[i]) for i in order],
                    }
                )
        for row, (text, char_scores) in enumerate(model_outputs.get("decoded", [])):
            series_index, start, length = windows[row // len(prompts)]
            token, text_input = prompts[row % len(prompts)]
            # Each window is refined against its own samples, in window indices, before windows are merged.
            window = SeriesInput(values=items[series_index].values[:, start : start + length])
            parsed.append(
                self.processor.post_process_generation(
                    text,
                    token,
                    length,
                    text_input=text_input,
                    char_scores=char_scores,
                    series=window if refine_boundaries else None,
                )[token]
            )
            if "cell_probabilities" in model_outputs:
                parsed[-1]["point_scores"] = self._point_scores(model_outputs, row)
        results = []
        for s, item in enumerate(items):
            rows = [w for w, (series_index, _, _) in enumerate(windows) if series_index == s]
            result = {}
            for p, (token, _) in enumerate(prompts):
                per_window = [parsed[w * len(prompts) + p] for w in rows]
                point_scores = [found.pop("point_scores", None) for found in per_window]
                starts = [windows[w][1] for w in rows]
                if len(rows) == 1:
                    merged = per_window[0]
                else:
                    merged = merge_windows(token, per_window, starts, meta["window"], item.length)
                merged = add_timestamps(drop_repeated_spans(token, merged), item.timestamps)
                if calibrate:
                    merged = calibrate_result(merged, token, self.model.generation_config)
                if point_scores[0] is not None:
                    merged["point_scores"] = merge_point_scores(point_scores, starts, item.length)
                result[token] = merged
            results.append(result)
        return results


__all__ = ["TimeSeriesPromptingPipeline"]
