"""Input conversion, series feature extraction, prompt building and post-processing.

`TSFlorenceSeriesFeatureExtractor` turns series of any length (NaN = missing) into fixed-size patch
tokens; `TSFlorenceProcessor` adds the prompt of a task (`tasks.TASKS`) behind one `<series>` placeholder per
series token, and parses generated text back into spans, points and labels in the user's sample indices.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from transformers import BatchFeature, FeatureExtractionMixin, ProcessorMixin

from .configuration_ts_florence import cell_feature_count
from .io import check_saved_files
from .tasks import MAX_CHANNELS, SERIES_TOKEN, get_task, split_task

logger = logging.getLogger(__name__)

PERIOD_CHECKED_TASKS = ("<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>")
"""Caption tasks whose period statements `post_process_generation` checks against the series (`caption_check`)."""


@dataclass
class SeriesInput:
    """One series as the library holds it: `values [channels x time]` float64, NaN = missing."""

    values: np.ndarray
    timestamps: Any | None = None  # a sequence of `time` timestamps, or None
    channel_names: list[str] | None = None

    @property
    def length(self) -> int:
        return self.values.shape[1]


def _is_single_series(series: Any) -> bool:
    """A list/tuple of numbers is one series; a list of arrays, lists, tensors or pandas objects is a batch.

    NumPy scalars and 0-D arrays or tensors (what `list(array)` gives) count as numbers."""
    if isinstance(series, (list, tuple)):
        return len(series) == 0 or not any(
            isinstance(x, (list, tuple)) or len(getattr(x, "shape", ())) > 0 for x in series
        )
    return True


def _is_number_text(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _to_series_input(series: Any, timestamps: Any | None, index: int) -> SeriesInput:
    where = f"series {index}"
    channel_names = None
    if hasattr(series, "detach"):  # torch tensor
        series = series.detach().cpu().numpy()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency, but keep the library importable
        pd = None
    if pd is not None and isinstance(series, (pd.Series, pd.DataFrame)):
        if timestamps is None and isinstance(series.index, pd.DatetimeIndex):
            timestamps = series.index
        if isinstance(series, pd.DataFrame):
            channel_names = [str(c) for c in series.columns]
            non_numeric = [c for c in series.columns if not pd.api.types.is_numeric_dtype(series[c])]
            if non_numeric:
                raise ValueError(f"{where}: non-numeric values in column(s) {non_numeric}")
        elif series.name is not None:
            channel_names = [str(series.name)]
        series = series.to_numpy()
    array = np.asarray(series)
    if array.dtype.kind in "US" and array.size:
        # NumPy turns [1, "a", 3] into strings; cite the one that is not even a number written as text.
        bad = next((v for v in array.ravel() if not _is_number_text(v)), array.ravel()[0])
        raise ValueError(f"{where}: non-numeric values (e.g. {str(bad)!r}); expected numbers")
    if array.dtype.kind == "O":
        # Objects may mix numbers and None (missing); strings and anything else are rejected.
        bad = next((v for v in array.ravel() if v is not None and not isinstance(v, (int, float, np.number))), None)
        if bad is not None:
            raise ValueError(f"{where}: non-numeric values (e.g. {bad!r}); expected numbers")
        array = np.where(np.equal(array, None), np.nan, array)
    elif array.dtype.kind not in "biuf":
        raise ValueError(f"{where}: values of dtype {array.dtype} are not numbers")
    array = array.astype(np.float64)
    if array.ndim == 1:
        array = array[None, :]  # [1 x time]
    elif array.ndim == 2:
        array = array.T  # (time, channels) -> [channels x time]
    else:
        raise ValueError(
            f"{where}: expected shape (time,) or (time, channels), got {array.ndim}-D shape {tuple(array.shape)}"
        )
    channels, length = array.shape
    if length == 0 or channels == 0:
        raise ValueError(f"{where}: empty series (shape (time={length}, channels={channels}))")
    if channels > MAX_CHANNELS:
        raise ValueError(
            f"{where}: {channels} channels, more than the {MAX_CHANNELS} supported; is the array transposed? "
            "expected (time, channels)"
        )
    infinite = np.isinf(array)
    if infinite.any():
        ch, t = np.argwhere(infinite)[0]
        raise ValueError(f"{where}: infinite value at channel {ch}, time {t}; use NaN for missing values")
    empty = np.where(np.isnan(array).all(axis=1))[0]
    if len(empty):
        raise ValueError(f"{where}: channel(s) {empty.tolist()} have no observed value (all NaN)")
    if timestamps is not None and len(timestamps) != length:
        raise ValueError(f"{where}: {len(timestamps)} timestamps for a series of length {length}")
    if channel_names is not None and len(channel_names) != channels:
        channel_names = None
    return SeriesInput(values=array, timestamps=timestamps, channel_names=channel_names)


def as_series_list(series: Any, timestamps: Any | None = None) -> tuple[list[SeriesInput], bool]:
    """Converts any supported input into a list of validated `SeriesInput`.

    Accepted: a list of numbers, a NumPy array `(time,)` or `(time, channels)`, a pandas Series or DataFrame
    (a DatetimeIndex gives timestamps), a torch tensor, or a list of such (a batch; lengths may differ).
    `timestamps` is one sequence for a single series or a list of them for a batch.
    Returns the list and whether the input was a batch.
    """
    if series is None:
        raise ValueError("no series given")
    if _is_single_series(series):
        return [_to_series_input(series, timestamps, 0)], False
    if len(series) == 0:
        raise ValueError("empty batch: no series given")
    if timestamps is not None and len(timestamps) != len(series):
        raise ValueError(f"{len(timestamps)} timestamp sequences for a batch of {len(series)} series")
    return [_to_series_input(s, None if timestamps is None else timestamps[i], i) for i, s in enumerate(series)], True


def autocorrelation(z: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Each channel's autocorrelation at every lag: `[channels x time]`. `z [channels x time]` are the values (any
    value where missing), `observed` their mask. The estimate is the usual biased one (products of the observed,
    centred values summed over each lag's pairs, over the sum of squares), by FFT; it lies in [-1, 1], 1 at lag 0,
    and 0 for a constant channel."""
    length = z.shape[1]
    mean = (z * observed).sum(1, keepdims=True) / np.maximum(observed.sum(1, keepdims=True), 1)
    x = np.where(observed, z - mean, 0.0)
    size = 1 << int(2 * length - 1).bit_length()
    spectrum = np.fft.rfft(x, n=size, axis=1)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=1)[:, :length]  # [channels x lags]
    energy = acf[:, :1]
    return np.clip(np.where(energy > 1e-12, acf / np.where(energy > 1e-12, energy, 1.0), 0.0), -1.0, 1.0)


def autocorrelation_cells(z: np.ndarray, observed: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each channel's `autocorrelation` at the lags of the cells: `[channels x cells]`, cell j holding the largest
    over the lags `[starts[j], starts[j+1])` (the one lag `starts[j]` when that range is empty), so a peak between
    two cells' first lags survives the reduction."""
    acf = autocorrelation(z, observed)
    return np.maximum.reduceat(acf, np.minimum(starts, z.shape[1] - 1), axis=1)


class TSFlorenceSeriesFeatureExtractor(FeatureExtractionMixin):
    r"""
    Reduces (or stretches) each channel to `num_patches * patch_length` cells and cuts them into patches.

    Each channel is scaled with its observed values only (median and IQR, falling back to the standard
    deviation), the robust z-scores are aggregated per cell into mean, minimum and maximum (so a one-sample
    spike survives any reduction) and compressed with `asinh`; the observed fraction of each cell is kept
    as a fourth feature. A series with `C` channels gets `min(num_patches, max_series_tokens // C)` patches
    per channel.

    With `autocorrelation`, a fifth feature per cell is the channel's autocorrelation at the lag of the cell's
    place (`autocorrelation_cells`): the cell at sample `k` carries how alike the series is to itself shifted by
    `k` samples, so a seasonal period is a peak the model reads at the place of that many samples, the way it
    reads a spike, and writes as a location token (captions write periods as the bin of that many samples,
    `TaskSpec.text_locations`). TimesNet finds periods with the FFT for the same reason.

    Args:
        patch_length (`int`): cells per patch.
        num_patches (`int`): patches per channel of a univariate series.
        max_series_tokens (`int`): token budget of one series over all channels.
        autocorrelation (`bool`): add the autocorrelation feature (the model's
            `TSFlorenceSeriesConfig.autocorrelation` must match).
    """

    model_input_names = ["series_patches", "series_channel_ids", "series_position_ids", "series_scale", "series_mask"]

    def __init__(
        self,
        patch_length: int = 16,
        num_patches: int = 64,
        max_series_tokens: int = 256,
        autocorrelation: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.patch_length = patch_length
        self.num_patches = num_patches
        self.max_series_tokens = max_series_tokens
        self.autocorrelation = bool(autocorrelation)

    @property
    def cell_feature_count(self) -> int:
        """Features per cell in `series_patches` (`configuration_ts_florence.cell_feature_count`)."""
        return cell_feature_count(self.autocorrelation)

    def patches_per_channel(self, channels: int) -> int:
        return max(1, min(self.num_patches, self.max_series_tokens // channels))

    def num_tokens(self, channels: int) -> int:
        """Series tokens (and `<series>` placeholders) of one series with `channels` channels."""
        return channels * self.patches_per_channel(channels)

    def cell_bounds(self, length: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """`(starts, ends)` in samples of every cell of one channel: cell j covers samples
        `[floor(j * n / cells), floor((j + 1) * n / cells))`, or the one sample at its start when that range is
        empty (a series shorter than the cell grid repeats samples)."""
        cells = self.patches_per_channel(channels) * self.patch_length
        starts = (np.arange(cells) * length) // cells
        return starts, np.maximum(np.append(starts[1:], length), starts + 1)

    def sample_scores(self, cell_scores: np.ndarray, length: int, per_channel: bool = False) -> np.ndarray:
        """Per-sample scores `[length]` from per-cell scores `[channels x cells]` of one series (e.g. the cell head's
        probabilities): each sample takes the largest score over the channels and over the cells that cover it
        (`cell_bounds`; in a series shorter than the grid several cells cover one sample). With `per_channel`,
        `[channels x length]`: the largest over the cells only."""
        cell_scores = np.asarray(cell_scores, dtype=np.float64)
        if cell_scores.ndim != 2:
            raise ValueError(f"cell scores must be [channels x cells], got shape {cell_scores.shape}")
        starts, ends = self.cell_bounds(length, cell_scores.shape[0])
        if cell_scores.shape[1] != len(starts):
            raise ValueError(
                f"cell scores have {cell_scores.shape[1]} cells, a series of {length} samples has {len(starts)}"
            )
        rows = cell_scores if per_channel else cell_scores.max(0, keepdims=True)
        if length >= len(starts):  # the cells cut the samples into consecutive runs, one cell per sample
            out = np.repeat(rows, ends - starts, axis=1)
        else:  # each cell holds one sample, a sample one or more consecutive cells
            out = np.full((len(rows), length), -np.inf)
            np.maximum.at(out, (slice(None), starts), rows)
        return out if per_channel else out[0]

    def cell_targets(
        self,
        length: int,
        channels: int,
        spans: Sequence[tuple[int, int, int | None, int, float]],
        points: Sequence[tuple[int, float]],
        known: Sequence[bool],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Targets of the model's cell head for one series (`modeling_ts_florence.CELL_LABELS`): `(labels,
        weights)`, each `[channels*patches x patch_length x 3]` float32, laid out like `series_patches`.

        `spans`: `(start, end, channel or None for all channels, target 0 (anomaly) or 1 (event), weight)`, samples
        half-open; `points`: `(index, weight)` change points, marking the cell that holds the sample; `known`: for
        each of the 3 targets whether the series' annotations are complete for it. A cell inside a span gets label 1
        and the span's weight; other cells of a known target label 0 and weight 1; unknown targets weight 0 but
        where a span or point marks them."""
        patches = self.patches_per_channel(channels)
        starts, ends = self.cell_bounds(length, channels)
        labels = np.zeros((channels, len(starts), 3), np.float32)
        weights = np.zeros_like(labels)
        weights[:, :, [k for k in range(3) if known[k]]] = 1.0
        for start, end, channel, target, weight in spans:
            inside = (starts < end) & (ends > start)
            rows = slice(None) if channel is None else slice(channel, channel + 1)
            labels[rows, inside, target] = 1.0
            weights[rows, inside, target] = weight
        for index, weight in points:
            inside = (starts <= index) & (ends > index)
            labels[:, inside, 2] = 1.0
            weights[:, inside, 2] = weight
        shape = (channels * patches, self.patch_length, 3)
        return labels.reshape(shape), weights.reshape(shape)

    def _encode_one(self, values: np.ndarray) -> dict[str, np.ndarray]:
        channels, length = values.shape
        patches = self.patches_per_channel(channels)
        observed = ~np.isnan(values)
        loc = np.nanmedian(values, axis=1, keepdims=True)  # [channels x 1]
        q75, q25 = np.nanpercentile(values, [75, 25], axis=1, keepdims=True)
        scale = (q75 - q25) / 1.349
        eps = 1e-12 * np.maximum(1.0, np.abs(loc))
        std = np.nanstd(values, axis=1, keepdims=True)
        scale = np.where(scale > eps, scale, np.where(std > eps, std, 1.0))
        z = np.where(observed, (values - loc) / scale, 0.0)  # [channels x time]
        # Cell j covers samples [floor(j*n/cells), floor((j+1)*n/cells)); when n < cells a cell repeats the
        # nearest sample (np.*.reduceat returns a[start] for an empty range).
        starts, _ = self.cell_bounds(length, channels)
        count = np.add.reduceat(observed, starts, axis=1)  # [channels x cells]
        total = np.maximum(np.diff(np.append(starts, length)), 1)
        mean = np.add.reduceat(z, starts, axis=1) / np.maximum(count, 1)
        low = np.minimum.reduceat(np.where(observed, z, np.inf), starts, axis=1)
        high = np.maximum.reduceat(np.where(observed, z, -np.inf), starts, axis=1)
        seen = count > 0
        features = [
            np.arcsinh(mean),
            np.where(seen, np.arcsinh(np.where(seen, low, 0.0)), 0.0),
            np.where(seen, np.arcsinh(np.where(seen, high, 0.0)), 0.0),
            np.minimum(count / total, 1.0),
        ]
        if self.autocorrelation:
            features.append(autocorrelation_cells(z, observed, starts))
        cell_features = np.stack(features, axis=-1)  # [channels x cells x cell_feature_count]
        scale_features = np.concatenate([np.arcsinh(loc) / 10.0, np.log(scale) / 10.0], axis=1)  # [channels x 2]
        return {
            # [channels*patches x patch_length x 4]
            "series_patches": cell_features.reshape(channels * patches, self.patch_length, self.cell_feature_count),
            "series_channel_ids": np.repeat(np.arange(channels), patches),
            "series_position_ids": np.tile((np.arange(patches) * self.num_patches) // patches, channels),
            "series_scale": np.repeat(scale_features, patches, axis=0),
        }

    def __call__(self, series: Any, timestamps: Any | None = None, return_tensors: str | None = "pt") -> BatchFeature:
        """Features of one series or a batch (see `as_series_list`), right-padded to the longest in tokens."""
        items, _ = as_series_list(series, timestamps)
        return self.encode(items, return_tensors=return_tensors)

    def encode(self, items: Sequence[SeriesInput], return_tensors: str | None = "pt") -> BatchFeature:
        encoded = [self._encode_one(item.values) for item in items]
        width = max(len(e["series_channel_ids"]) for e in encoded)
        batch = {
            "series_patches": np.zeros((len(items), width, self.patch_length, self.cell_feature_count), np.float32),
            "series_channel_ids": np.zeros((len(items), width), np.int64),
            "series_position_ids": np.zeros((len(items), width), np.int64),
            "series_scale": np.zeros((len(items), width, 2), np.float32),
            "series_mask": np.zeros((len(items), width), np.int64),
        }
        for i, e in enumerate(encoded):
            n = len(e["series_channel_ids"])
            for key, value in e.items():
                batch[key][i, :n] = value
            batch["series_mask"][i, :n] = 1
        return BatchFeature(batch, tensor_type=return_tensors)


def add_timestamps(result: dict, timestamps: Sequence | None) -> dict:
    """Adds `"timestamps"` to a parsed result: `[first, last]` sample timestamps of each span (inclusive),
    or the timestamp of each point. Returns `result` unchanged when `timestamps` is None."""
    if timestamps is None:
        return result
    if "spans" in result:
        result["timestamps"] = [[timestamps[s], timestamps[e - 1]] for s, e in result["spans"]]
    elif "points" in result:
        result["timestamps"] = [timestamps[p] for p in result["points"]]
    return result


def decode_generation(model, processor: TSFlorenceProcessor, output) -> list[tuple[str, list[float]]]:
    """`(text, one probability per character)` for each sequence of `model.generate(...,
    return_dict_in_generate=True, output_scores=True)`: the model's own token probabilities (greedy or beam),
    without the decoder start token and padding, ready for `post_process_generation(..., char_scores=...)`."""
    import torch

    beams = output.get("beam_indices")
    if beams is None:
        # What `compute_transition_scores(..., normalize_logits=True)` gives, without writing out the normalised
        # `[batch x steps x vocab]` scores (a third of its time), and in float32 for a model in bfloat16.
        scores = torch.stack(output.scores, dim=1).float()  # [batch x generated x vocab]
        chosen = output.sequences[:, -scores.shape[1] :, None]
        transition = scores.gather(2, chosen).squeeze(-1) - scores.logsumexp(-1)
    else:
        transition = model.compute_transition_scores(output.sequences, output.scores, beams)
    # [batch x generated] log-probabilities
    sequences = output.sequences[:, 1:].tolist()  # without the decoder start token
    probabilities = transition.exp().clamp(0, 1).tolist()
    pad = processor.tokenizer.pad_token_id
    decoded = []
    for ids, probs in zip(sequences, probabilities, strict=True):
        keep = [k for k, i in enumerate(ids) if i != pad]
        decoded.append(processor.decode_with_scores([ids[k] for k in keep], [probs[k] for k in keep]))
    return decoded


class TSFlorenceProcessor(ProcessorMixin):
    r"""
    Builds model inputs from series and task prompts and turns generated text into results.

    `processor(series=values, text="<ANOMALY_DETECTION>")` returns `input_ids`, `attention_mask` and the
    `series_*` tensors of [`TSFlorenceSeriesFeatureExtractor`]. A prompt is a task token, followed by the
    task's input when it takes one (`"<CAPTION_TO_PHRASE_GROUNDING>a spike near the end"`).

    Args:
        feature_extractor ([`TSFlorenceSeriesFeatureExtractor`]): series features.
        tokenizer ([`PreTrainedTokenizerFast`]): the ts-florence tokenizer.
    """

    def __init__(self, feature_extractor=None, tokenizer=None, **kwargs):
        super().__init__(feature_extractor, tokenizer, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`ProcessorMixin.from_pretrained`; the JSON files of a local folder are checked first, so that a damaged
        one is named in a ValueError rather than failing as a bare JSONDecodeError."""
        check_saved_files(os.path.join(pretrained_model_name_or_path, kwargs.get("subfolder") or ""), "processor")
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    def build_prompts(self, texts: Sequence[str], num_series_tokens: Sequence[int]) -> list[str]:
        """Encoder texts: one `<series>` per series token, then the task token and its prompt."""
        prompts = []
        for text, n_tokens in zip(texts, num_series_tokens, strict=True):
            token, text_input = split_task(text)
            prompts.append(SERIES_TOKEN * n_tokens + get_task(token).build_prompt(text_input))
        return prompts

    def __call__(
        self,
        series: Any = None,
        text: str | Sequence[str] | None = None,
        timestamps: Any | None = None,
        text_target: str | Sequence[str] | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            series: one series or a batch (see `as_series_list`); one series is shared by all prompts.
            text: a prompt or one prompt per series; one prompt is shared by all series.
            timestamps: accepted for symmetry with the pipeline; results carry them via
                `post_process_generation(..., timestamps=...)`.
            text_target: target text(s) for training; returned as `labels`, padding set to -100.
        """
        if text is None:
            raise ValueError("no prompt given: pass text='<TASK>' (e.g. '<CAPTION>'), see ts_florence.TASKS")
        items, _ = as_series_list(series, timestamps)
        texts = [text] if isinstance(text, str) else list(text)
        if len(items) == 1 and len(texts) > 1:
            items = items * len(texts)
        elif len(texts) == 1 and len(items) > 1:
            texts = texts * len(items)
        if len(items) != len(texts):
            raise ValueError(f"{len(items)} series but {len(texts)} prompts; give one prompt per series")
        features = self.feature_extractor.encode(items, return_tensors=return_tensors)
        n_tokens = [self.feature_extractor.num_tokens(item.values.shape[0]) for item in items]
        encoding = self.tokenizer(
            self.build_prompts(texts, n_tokens), padding=True, return_tensors=return_tensors, **kwargs
        )
        data = {**encoding, **features}
        if text_target is not None:
            targets = [text_target] if isinstance(text_target, str) else list(text_target)
            if len(targets) != len(texts):
                raise ValueError(f"{len(targets)} targets for {len(texts)} prompts")
            labels = self.tokenizer(targets, padding=True, return_tensors=return_tensors)
            data["labels"] = labels["input_ids"].masked_fill(labels["attention_mask"] == 0, -100)
        return BatchFeature(data)

    def decode_with_scores(
        self, token_ids: Sequence[int], token_probs: Sequence[float] | None = None
    ) -> tuple[str, list[float] | None]:
        """Decodes generated ids keeping special tokens, with one probability per character when
        `token_probs` (one per id) is given, so that parsed items can be scored."""
        ids = [int(i) for i in token_ids]
        # Ids past the trained vocabulary (the embedding matrix is larger) decode to nothing rather than failing.
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        pieces = [self.tokenizer.convert_tokens_to_string([t]) if t is not None else "" for t in tokens]
        text = "".join(pieces)
        if token_probs is None:
            return text, None
        char_probs: list[float] = []
        for piece, prob in zip(pieces, token_probs, strict=True):
            char_probs.extend([float(prob)] * len(piece))
        return text, char_probs

    def post_process_generation(
        self,
        text: str,
        task: str,
        series_length: int,
        text_input: str | None = None,
        timestamps: Sequence | None = None,
        char_scores: Sequence[float] | None = None,
        series: Any | None = None,
    ) -> dict[str, dict]:
        """Parses generated text (decoded with `skip_special_tokens=False`) into
        `{task: {"spans": [[start, end], ...], "labels": [...], "channels": [...], "scores": [...]}}` (keys by
        task, see `tasks.py`). Spans are half-open sample indices of the series as given; with `timestamps`
        (one per sample) the result also holds `"timestamps"`: `[first, last]` sample timestamps of each span
        (inclusive), or the timestamp of each point. Scores need `char_scores` (see `decode_with_scores`).

        With `series`, the values the text was generated from, boundaries are refined against the raw samples
        within one cell plus one bin of this processor's feature extractor (`ts_florence.boundaries`): the model
        sees only `patches * patch_length` cells per channel. `series` is a `SeriesInput`, a 2-D array
        `[channels x time]` (read so when its first axis is not `series_length` long, else as `(time, channels)`),
        or one series in any other form `as_series_list` takes. With `series`, a caption's period statements that
        the series does not repeat at are also removed, and a caption that then states none is given the period the
        series repeats at, if any (`ts_florence.caption_check`)."""
        token, inline_input = split_task(task)
        result = get_task(token).parse(
            text, series_length, text_input=text_input or inline_input, char_scores=char_scores
        )
        if timestamps is not None and len(timestamps) != series_length:
            raise ValueError(f"{len(timestamps)} timestamps for a series of length {series_length}")
        if series is not None:
            from .boundaries import refine_result, refinement_radius

            if isinstance(series, SeriesInput):
                values = series.values
            elif isinstance(series, np.ndarray) and series.ndim == 2 and series.shape[0] != series_length:
                values = series  # [channels x time]
            else:
                items, batched = as_series_list(series)
                if batched:
                    raise ValueError(f"series: expected the one series the text was generated from, got {len(items)}")
                values = items[0].values
            if values.shape[-1] != series_length:
                raise ValueError(f"series of {values.shape[-1]} samples for series_length {series_length}")
            extractor = self.feature_extractor
            cells = extractor.patches_per_channel(values.shape[0]) * extractor.patch_length
            result = refine_result(token, result, values, refinement_radius(series_length, cells))
            if "text" in result and token in PERIOD_CHECKED_TASKS:
                from .caption_check import check_periods, state_period

                text = check_periods(result["text"], values)
                result = {**result, "text": state_period(text, values, brief=token == "<CAPTION>")}
        return {token: add_timestamps(result, timestamps)}

    @classmethod
    def from_preset(cls, name: str, texts: Sequence[str] | None = None) -> TSFlorenceProcessor:
        """A processor for a new model of preset `name`: the feature extractor sized like the preset's series
        encoder and a tokenizer trained on `texts` (default: `generated_text_corpus()`)."""
        from .configuration_ts_florence import PRESETS
        from .tokenization_ts_florence import generated_text_corpus, train_tokenizer

        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        series = PRESETS[name]["series"]
        feature_extractor = TSFlorenceSeriesFeatureExtractor(
            patch_length=series["patch_length"],
            num_patches=series["num_patches"],
            max_series_tokens=series["max_series_tokens"],
        )
        tokenizer = train_tokenizer(
            texts if texts is not None else generated_text_corpus(), PRESETS[name]["text"]["vocab_size"]
        )
        return cls(feature_extractor=feature_extractor, tokenizer=tokenizer)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", *self.feature_extractor.model_input_names]


__all__ = [
    "TSFlorenceSeriesFeatureExtractor",
    "TSFlorenceProcessor",
    "SeriesInput",
    "add_timestamps",
    "as_series_list",
    "split_task",
]
