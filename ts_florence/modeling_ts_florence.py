"""ts-florence: a series encoder feeding a stock BART, mirroring transformers' Florence-2.

Tensor conventions (built by `TSFlorenceSeriesFeatureExtractor`, one row per series token; a token is one
patch of one channel, tokens of a series are channel-major, and a batch is right-padded in tokens):

    series_patches       [batch x tokens x patch_length x 4]  per cell: scaled mean, min, max (asinh of
                                                              robust z-scores) and observed fraction
    series_channel_ids   [batch x tokens]                     channel of each token
    series_position_ids  [batch x tokens]                     patch slot in [0, num_patches)
    series_scale         [batch x tokens x 2]                 asinh(location), log(scale) of the channel
    series_mask          [batch x tokens]                     1 for real tokens, 0 for padding

Every channel of a series has the same number of patches, so token i of a series with P patches per channel is
patch i % P of channel i // P; its patch covers times [p / P, (p + 1) / P) of the series (t in [0, 1)).

Training may add point-granularity targets (`TSFlorenceSeriesFeatureExtractor.cell_targets`):

    series_cell_labels   [batch x tokens x patch_length x 3]  per cell: inside an anomaly, inside an event,
                                                              holds a change point (`CELL_LABELS`), 0 or 1
    series_cell_weights  [batch x tokens x patch_length x 3]  weight of each target, 0 where unknown
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

import torch
from torch import nn
from transformers import AutoModel, GenerationConfig, GenerationMixin, LogitsProcessor, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from transformers.models.bart.modeling_bart import shift_tokens_right

from .configuration_ts_florence import TSFlorenceConfig, TSFlorenceSeriesConfig, cell_feature_count
from .io import check_saved_files
from .tasks import MAX_CHANNELS, NUM_LOC_BINS
from .tokenization_ts_florence import SPECIAL_TOKEN_IDS

SERIES_INPUT_NAMES = ("series_patches", "series_channel_ids", "series_position_ids", "series_scale", "series_mask")
CELL_LABELS = ("anomaly", "event", "change point")
"""What the cell head predicts for every cell, in the order of the last axis of `series_cell_labels`."""
LOC_TOKEN_OFFSET = SPECIAL_TOKEN_IDS["<loc_0>"]

CACHE_NAME = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"
"""The decoder cache's argument and output field: transformers 5.24 renamed `past_key_values` to `cache`, and
warns on every decoding step when given the old name. The forwards below pass the cache through under the name
`generate()` of the installed release uses."""


def default_generation_config(config: TSFlorenceConfig) -> dict:
    """Generation defaults saved with every model. `no_repeat_ngram_size` stays 0: location outputs repeat
    n-grams legitimately (two spikes share a label and nearby bins) and blocking them truncates span lists.
    `end_threshold` (None: greedy's own choice) and `end_thresholds` (`{task token: threshold}`, for the rows of
    those tasks when `end_threshold` is None) are read by `EndThresholdLogitsProcessor`, `constrain_locations` by
    `LocationGrammarLogitsProcessor`; `no_repeat_ngram_sizes` (`{task token: n}`, text tasks) by
    `TaskNoRepeatNGramLogitsProcessor`."""
    text = config.text_config
    return dict(
        constrain_locations=True,
        end_threshold=None,
        end_thresholds=None,
        max_new_tokens=256,
        num_beams=1,
        do_sample=False,
        no_repeat_ngram_size=0,
        decoder_start_token_id=text.decoder_start_token_id,
        bos_token_id=text.bos_token_id,
        eos_token_id=text.eos_token_id,
        pad_token_id=text.pad_token_id,
    )


def time_code(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Fixed sinusoidal code `[... x dim]` of continuous time `t` in [0, 1) (share of the series' length).

    Frequencies are geometric from 1/2 to 500 cycles per series: the code of two times 1/1000 apart (one location
    bin) differs, and codes of distant times are nearly orthogonal, so a dot product with it peaks at one time."""
    half = dim // 2
    cycles = torch.exp(torch.linspace(math.log(0.5), math.log(NUM_LOC_BINS / 2), half, device=t.device))
    angles = 2 * math.pi * t.float().unsqueeze(-1) * cycles  # [... x half]
    code = torch.cat([angles.sin(), angles.cos()], dim=-1)
    return nn.functional.pad(code, (0, dim - 2 * half))


def series_layout(series_mask: torch.Tensor, series_channel_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`(channels [batch], patches [batch], patch_index [batch x tokens])`: channels of each series, patches per
    channel, and each token's patch within its channel (tokens are channel-major, see the module docstring)."""
    mask = series_mask.bool()
    channels = torch.where(mask, series_channel_ids, -1).amax(1) + 1
    patches = (mask.sum(1) // channels.clamp(min=1)).clamp(min=1)
    positions = torch.arange(mask.shape[1], device=mask.device)
    return channels, patches, positions % patches[:, None]


def bin_times(device=None) -> torch.Tensor:
    """Centre time in [0, 1) of every location bin: `[NUM_LOC_BINS]`."""
    return (torch.arange(NUM_LOC_BINS, device=device, dtype=torch.float32) + 0.5) / NUM_LOC_BINS


def task_rows(encoder_input_ids: torch.LongTensor, token: str) -> torch.Tensor:
    """`[batch]` bool (on the CPU): the rows whose prompt (`encoder_input_ids`) holds the task token `token`."""
    return (encoder_input_ids == SPECIAL_TOKEN_IDS[token]).any(-1).cpu()


def expand_rows(per_row: torch.Tensor, batch: int) -> torch.Tensor:
    """`per_row [inputs]` for a decoding batch of `batch` rows: beam search and sampling with several sequences
    put the rows of each input together, so each value is repeated for them."""
    return per_row if per_row.numel() == batch else per_row.repeat_interleave(batch // per_row.numel())


class EndThresholdLogitsProcessor(LogitsProcessor):
    """Ends a sequence when, and only when, the probability of `</s>` reaches `threshold` (a float, or one per
    row `[batch]`, NaN for a row decoded as without it); otherwise `</s>` is banned and the most likely other token
    is chosen.

    Greedy decoding of a detection answer picks `</s>` whenever it is the single most likely token, even when the
    probability of "something is there" is larger but split between labels (spike 0.3, dip 0.3, end 0.4). With a
    threshold the decision to stop is taken against everything else at once; a threshold chosen on held-out
    series (`generation_config.end_threshold`) trades recall against precision. Scores of the chosen tokens are
    then the model's probabilities given that it goes on."""

    def __init__(self, eos_token_id: int, threshold: float | torch.Tensor):
        self.eos_token_id = eos_token_id
        self.threshold = threshold

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        threshold = torch.as_tensor(self.threshold, device=scores.device, dtype=torch.float32)
        if threshold.ndim == 1:
            threshold = expand_rows(threshold, scores.shape[0])
        end = scores.float().softmax(-1)[:, self.eos_token_id] >= threshold  # [batch]
        is_eos = torch.arange(scores.shape[-1], device=scores.device) == self.eos_token_id
        keep = torch.where(end[:, None], is_eos[None, :], ~is_eos[None, :]) | threshold.isnan().reshape(-1, 1)
        return scores.masked_fill(~keep, float("-inf"))

    @staticmethod
    def thresholds_of_tasks(thresholds: dict[str, float], encoder_input_ids: torch.LongTensor) -> torch.Tensor | None:
        """One threshold per row `[batch]` from `{task token: threshold}` (`generation_config.end_thresholds`), by
        the task token of each row's prompt; NaN for rows of other tasks, None when no row has one."""
        per_row = torch.full((encoder_input_ids.shape[0],), float("nan"))
        for token, value in thresholds.items():
            per_row[task_rows(encoder_input_ids, token)] = float(value)
        return None if per_row.isnan().all() else per_row


class TaskNoRepeatNGramLogitsProcessor(LogitsProcessor):
    """transformers' `NoRepeatNGramLogitsProcessor` on the rows of some tasks only, each with its own n-gram size
    (`generation_config.no_repeat_ngram_sizes`, `{task token: n}`, read from the task token of each row's prompt).

    A caption that repeats a sentence says nothing more; blocking repeated n-grams of text tasks stops the loops
    an undertrained decoder falls into ("... std about 0.00trough of -0.00trough of ..."), while location answers,
    whose n-grams repeat legitimately (two spikes share a label and nearby bins), are left alone."""

    def __init__(self, sizes: dict[str, int], encoder_input_ids: torch.LongTensor):
        from transformers import NoRepeatNGramLogitsProcessor

        self.groups = []  # (rows [batch] bool, processor)
        for token, n in sizes.items():
            rows = task_rows(encoder_input_ids, token)
            if int(n) > 0 and rows.any():
                self.groups.append((rows, NoRepeatNGramLogitsProcessor(int(n))))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for rows, processor in self.groups:
            at = expand_rows(rows, scores.shape[0]).nonzero().flatten().to(scores.device)
            scores[at] = processor(input_ids[at], scores[at])
        return scores


class LocationGrammarLogitsProcessor(LogitsProcessor):
    """Keeps generated locations within the grammar of the targets (`tasks.py`), as Pix2Seq constrains its
    coordinate tokens: a span's end bin is at or after its start bin and comes right after it; spans come in the
    order targets are written, each starting after the one before (or at its start on another channel); points are
    written once each, in increasing order. Without it an undertrained model can loop on one location until
    `max_new_tokens` (`<loc_54><loc_54><loc_54>...`), an answer no target has.

    The grammar of each row is that of its task, read from the task token of its prompt (`encoder_input_ids`);
    rows of text tasks are left alone."""

    LOC_IDS = (LOC_TOKEN_OFFSET, LOC_TOKEN_OFFSET + NUM_LOC_BINS)

    def __init__(self, encoder_input_ids: torch.LongTensor):
        from .tasks import TASKS

        kinds = {SPECIAL_TOKEN_IDS[token]: spec.output_kind for token, spec in TASKS.items()}
        self.kinds = []
        for row in encoder_input_ids.tolist():
            found = [kinds[i] for i in row if i in kinds]
            self.kinds.append(found[0] if found else "text")

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        first, stop = self.LOC_IDS
        rows = input_ids.shape[0]
        per_input = max(1, rows // len(self.kinds))  # beam search expands each input row
        banned = torch.zeros_like(scores, dtype=torch.bool)
        for row, ids in enumerate(input_ids.tolist()):
            kind = self.kinds[min(row // per_input, len(self.kinds) - 1)]
            if kind == "text":
                continue
            low, locations_only = self._lowest_bin(kind, ids, first, stop)
            banned[row, first : first + low] = True
            if locations_only:
                banned[row, :first] = True
                banned[row, stop:] = True
        return scores.masked_fill(banned, float("-inf"))

    @staticmethod
    def _lowest_bin(kind: str, ids: list[int], first: int, stop: int) -> tuple[int, bool]:
        """(lowest bin allowed next, whether only a location may come next) after the generated `ids`."""
        if kind == "points":
            points = [i - first for i in ids if first <= i < stop]
            return (min(points[-1] + 1, NUM_LOC_BINS - 1) if points else 0), False
        start = None  # the start bin of an open span
        last_start, channel = -1, None  # the last span's start; the channel a <ch_k> just named
        last_on: dict[int, int] = {}  # the last start of each named channel
        for i in ids:
            if first <= i < stop:
                if start is None:
                    start = i - first
                else:
                    last_start, start = start, None
                    if channel is not None:
                        last_on[channel] = last_start
                    channel = None
            else:
                start, channel = None, (i - stop if stop <= i < stop + MAX_CHANNELS else None)
        if start is not None:
            return start, True
        if last_start < 0:
            return 0, False
        # Spans start later and later (targets are sorted by start and never repeat a span of one channel); only
        # a channel with no span there yet (`<ch_k>` before it) may share the start. A model that repeats one
        # span on one channel (`trough<ch_3><loc_426><loc_426>` until max_new_tokens) must move on.
        low = last_start + 1 if channel is None else max(last_start, last_on.get(channel, -1) + 1)
        return min(low, NUM_LOC_BINS - 1), False


@dataclass
class PointerKeys:
    """What `TSFlorenceLocationPointer` scores a decoder state against, per series of the batch: `patch_keys [batch x
    tokens x pointer_dim]`, `cells [batch x tokens x patch_length x cell_dim]` (the cell head's features),
    `index [batch x 3 x channels x NUM_LOC_BINS]` (for every bin and channel: the tokens of the patch centres
    before and after it, and the flat cell `token * patch_length + cell` that holds it), `frac [batch x
    NUM_LOC_BINS]` (interpolation weight of the later centre) and `channel_mask [batch x channels]` (real
    channels)."""

    patch_keys: torch.Tensor
    cells: torch.Tensor
    index: torch.Tensor
    frac: torch.Tensor
    channel_mask: torch.Tensor


@dataclass
class TSFlorenceEncoderOutput(BaseModelOutput):
    """The text encoder's output plus the location pointer's `PointerKeys` (see
    `TSFlorenceConfig.location_pointer`), computed once per `generate()` call and kept as tensors with the batch
    first (`location_patch_keys`, ...), so that beam search expands them with the rest."""

    location_patch_keys: torch.Tensor | None = None
    location_cells: torch.Tensor | None = None
    location_index: torch.Tensor | None = None
    location_frac: torch.Tensor | None = None
    location_channel_mask: torch.Tensor | None = None

    @classmethod
    def with_keys(cls, encoded: BaseModelOutput, keys: PointerKeys) -> TSFlorenceEncoderOutput:
        located = {f"location_{f.name}": getattr(keys, f.name) for f in fields(PointerKeys)}
        return cls(
            last_hidden_state=encoded.last_hidden_state,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
            **located,
        )

    def pointer_keys(self) -> PointerKeys | None:
        if self.location_patch_keys is None:
            return None
        return PointerKeys(**{f.name: getattr(self, f"location_{f.name}") for f in fields(PointerKeys)})


@dataclass
class TSFlorenceSeq2SeqLMOutput(Seq2SeqLMOutput):
    """`Seq2SeqLMOutput` plus the projected series features `[batch x tokens x d_model]`, the cell head's logits
    `[batch x tokens x patch_length x 3]` (when the model has cell features and saw its series) and, in training,
    the auxiliary losses already included in `loss` (see `TSFlorenceConfig.series_reconstruction_weight` and
    `cell_head_weight`)."""

    series_hidden_states: torch.Tensor | None = None
    series_reconstruction_loss: torch.Tensor | None = None
    cell_logits: torch.Tensor | None = None
    cell_loss: torch.Tensor | None = None


@dataclass
class TSFlorenceSeq2SeqModelOutput(Seq2SeqModelOutput):
    """`Seq2SeqModelOutput` plus the projected series features `[batch x tokens x d_model]`."""

    series_hidden_states: torch.Tensor | None = None


class ZeroInitLinear(nn.Linear):
    """A linear layer whose weights `TSFlorencePreTrainedModel._init_weights` sets to zero: a new input added to a
    trained model's sum leaves its outputs unchanged until training moves it."""


class TSFlorenceSeriesEncoder(nn.Module):
    """Embeds patches of every channel and runs a transformer over all tokens of a series jointly, so
    channels can attend to each other. Any length and up to `max_channels` channels in; at most
    `max_series_tokens` tokens out."""

    def __init__(self, config: TSFlorenceSeriesConfig):
        super().__init__()
        self.config = config
        # 4 features per cell, plus 4 patch summaries (mean, min, max, observed) that keep extremes explicit
        self.patch_embedding = nn.Linear(config.patch_length * 4 + 4, config.hidden_size)
        self.scale_embedding = nn.Linear(2, config.hidden_size)
        # the cells' autocorrelation (TSFlorenceSeriesConfig.autocorrelation), one weight per cell of a patch
        self.autocorrelation_embedding = (
            ZeroInitLinear(config.patch_length, config.hidden_size, bias=False) if config.autocorrelation else None
        )
        self.position_embedding = nn.Embedding(config.num_patches, config.hidden_size)
        self.channel_embedding = nn.Embedding(config.max_channels, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=config.hidden_size,
            nhead=config.num_attention_heads,
            dim_feedforward=config.intermediate_size,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, config.num_hidden_layers, enable_nested_tensor=False)
        self.layer_norm = nn.LayerNorm(config.hidden_size)

    def forward(
        self,
        series_patches: torch.Tensor,
        series_channel_ids: torch.LongTensor,
        series_position_ids: torch.LongTensor,
        series_scale: torch.Tensor,
        series_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Returns `[batch x tokens x hidden_size]`; padded tokens hold unspecified values."""
        batch, tokens, patch_length, features = series_patches.shape
        if patch_length != self.config.patch_length:
            raise ValueError(
                f"patch length of the input ({patch_length}) != config.patch_length "
                f"({self.config.patch_length}): the processor and the model do not match"
            )
        expected = cell_feature_count(self.config.autocorrelation)
        if features != expected:
            raise ValueError(
                f"series_patches carry {features} features per cell, the model reads {expected} "
                f"(series_config.autocorrelation={self.config.autocorrelation}): the processor's feature extractor "
                "(autocorrelation) and the model do not match"
            )
        # The processor writes float32; a model loaded or cast to another dtype (`dtype=torch.bfloat16`) reads it so.
        dtype = self.patch_embedding.weight.dtype
        series_patches, series_scale = series_patches.to(dtype), series_scale.to(dtype)
        observed = series_patches[..., 3]  # [batch x tokens x patch_length]
        weight = observed.sum(-1).clamp(min=1e-6)
        summaries = torch.stack(
            [
                (series_patches[..., 0] * observed).sum(-1) / weight,
                series_patches[..., 1].min(-1).values,
                series_patches[..., 2].max(-1).values,
                observed.mean(-1),
            ],
            dim=-1,
        )  # [batch x tokens x 4]
        flat = series_patches[..., :4].reshape(batch, tokens, patch_length * 4)  # [batch x tokens x patch_length*4]
        hidden = (
            self.patch_embedding(torch.cat([flat, summaries], dim=-1))
            + self.scale_embedding(series_scale)
            + self.position_embedding(series_position_ids)
            + self.channel_embedding(series_channel_ids)
        )
        if self.autocorrelation_embedding is not None:
            hidden = hidden + self.autocorrelation_embedding(series_patches[..., 4])
        hidden = self.layers(self.dropout(hidden), src_key_padding_mask=~series_mask.bool())
        return self.layer_norm(hidden)


class TSFlorenceMultiModalProjector(nn.Module):
    """Maps series features to the language model's width."""

    def __init__(self, config: TSFlorenceConfig):
        super().__init__()
        self.linear = nn.Linear(config.series_config.hidden_size, config.text_config.d_model)
        self.layer_norm = nn.LayerNorm(config.text_config.d_model)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(self.linear(features))


class TSFlorenceCellHead(nn.Module):
    """Point granularity: one `cell_dim` vector per cell of every series token, read from the text encoder's output
    at that token, and a linear classifier of each cell (`CELL_LABELS`). The cell vectors also give the location
    pointer its resolution within a patch."""

    def __init__(self, config: TSFlorenceConfig):
        super().__init__()
        self.patch_length, self.cell_dim = config.series_config.patch_length, config.cell_dim
        self.cell_features = nn.Linear(config.text_config.d_model, self.patch_length * self.cell_dim)
        self.classifier = nn.Linear(self.cell_dim, len(CELL_LABELS))

    def forward(self, series_outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`series_outputs [batch x tokens x d_model]` -> (cell features `[batch x tokens x patch_length x
        cell_dim]`, cell logits `[batch x tokens x patch_length x 3]`)."""
        batch, tokens, _ = series_outputs.shape
        features = nn.functional.gelu(self.cell_features(series_outputs)).view(
            batch, tokens, self.patch_length, self.cell_dim
        )
        return features, self.classifier(features)


class TSFlorenceLocationPointer(nn.Module):
    """A pointer logit for every `<loc_b>` (see `TSFlorenceConfig.location_pointer`): query = the decoder state,
    key of bin b = the text encoder's series outputs interpolated linearly between patch centres at the bin's time,
    plus the cell features of the cell that holds it; per channel, combined over channels by log-sum-exp.

    The keys of the 1,000 bins are never built: a score is linear in its key, so the query is scored against the
    patch keys and the cells, and the scores are interpolated and gathered to the bins. That is the same logit for
    a fraction of the memory and time (the bins' keys are `channels x 1000 x pointer_dim` floats a series)."""

    def __init__(self, config: TSFlorenceConfig):
        super().__init__()
        d_model, dim = config.text_config.d_model, config.pointer_dim
        self.query = nn.Linear(d_model, dim)
        self.series_key = nn.Linear(d_model, dim)
        self.cell_key = nn.Linear(config.cell_dim, dim)

    def keys(
        self,
        series_outputs: torch.Tensor,
        cell_features: torch.Tensor,
        series_mask: torch.Tensor,
        series_channel_ids: torch.Tensor,
    ) -> PointerKeys:
        """What the pointer scores the decoder's states against (`PointerKeys`), from `series_outputs [batch x
        tokens x d_model]` and `cell_features [batch x tokens x patch_length x cell_dim]`."""
        batch, tokens, patch_length, _ = cell_features.shape
        channels, patches, _ = series_layout(series_mask, series_channel_ids)
        n_channels = int(channels.max().clamp(min=1))
        t = bin_times(series_outputs.device)  # [bins]
        # Linear interpolation between patch centres (p + 0.5) / P, held flat before the first and after the last.
        u = t[None, :] * patches[:, None] - 0.5  # [batch x bins]
        low = u.floor().clamp(min=0)
        low = torch.minimum(low, (patches[:, None] - 1).float())
        frac = (u - low).clamp(0, 1)  # [batch x bins]
        high = torch.minimum(low + 1, (patches[:, None] - 1).float())
        cell = (t[None, :] * patches[:, None] * patch_length).floor().long()  # [batch x bins] cell within channel
        first = torch.arange(n_channels, device=t.device)[None, :, None] * patches[:, None, None]  # [batch x ch x 1]

        def token(index: torch.Tensor) -> torch.Tensor:  # [batch x bins] patch -> [batch x ch x bins] token
            return (first + index[:, None, :].long()).clamp(max=tokens - 1)

        cell_index = token(cell // patch_length) * patch_length + (cell % patch_length)[:, None, :]
        return PointerKeys(
            patch_keys=self.series_key(series_outputs),
            cells=cell_features,
            index=torch.stack([token(low), token(high), cell_index], dim=1),
            frac=frac,
            channel_mask=torch.arange(n_channels, device=t.device)[None, :] < channels[:, None],
        )

    def forward(self, hidden: torch.Tensor, keys: PointerKeys) -> torch.Tensor:
        """Pointer logits `[batch x steps x NUM_LOC_BINS]` of decoder states `hidden [batch x steps x d_model]`."""
        batch, steps, _ = hidden.shape
        query = self.query(hidden)  # [batch x steps x dim]
        patch_scores = torch.einsum("bsd,btd->bst", query, keys.patch_keys.to(query.dtype))
        # query . cell_key(c) = (query W) . c + query . bias
        cell_query = query @ self.cell_key.weight.to(query.dtype)  # [batch x steps x cell_dim]
        cell_scores = torch.einsum("bsc,btlc->bstl", cell_query, keys.cells.to(query.dtype)).flatten(2)
        cell_scores = cell_scores + (query @ self.cell_key.bias.to(query.dtype))[..., None]
        n_channels = keys.channel_mask.shape[1]

        def at(scores: torch.Tensor, index: torch.Tensor) -> torch.Tensor:  # [b x s x n], [b x ch x bins]
            gathered = scores.gather(2, index.reshape(batch, 1, -1).expand(batch, steps, -1))
            return gathered.view(batch, steps, n_channels, -1)

        low, high, cell = keys.index.unbind(1)
        frac = keys.frac[:, None, None, :].to(query.dtype)
        scores = at(patch_scores, low) * (1 - frac) + at(patch_scores, high) * frac + at(cell_scores, cell)
        scores = scores / math.sqrt(query.shape[-1])  # [batch x steps x ch x bins]
        scores = scores.masked_fill(~keys.channel_mask[:, None, :, None], float("-inf"))
        return scores.logsumexp(dim=2)


class TSFlorencePreTrainedModel(PreTrainedModel):
    config: TSFlorenceConfig
    config_class = TSFlorenceConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    input_modalities = ("time", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["TSFlorenceSeriesEncoder", "BartEncoderLayer", "BartDecoderLayer"]

    def _init_weights(self, module):
        if isinstance(module, ZeroInitLinear):
            init.zeros_(module.weight)
            return
        super()._init_weights(module)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a local folder is checked first, so that a damaged file (weights cut
        short, JSON that does not parse) is named in a ValueError rather than failing deep inside the loader."""
        if pretrained_model_name_or_path is not None:
            check_saved_files(os.path.join(pretrained_model_name_or_path, kwargs.get("subfolder") or ""), "model")
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)


class TSFlorenceModel(TSFlorencePreTrainedModel):
    def __init__(self, config: TSFlorenceConfig):
        super().__init__(config)
        self.series_tower = TSFlorenceSeriesEncoder(config.series_config)
        self.multi_modal_projector = TSFlorenceMultiModalProjector(config)
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_encoder(self, modality=None):
        return self.language_model.get_encoder()

    def get_decoder(self):
        return self.language_model.get_decoder()

    def get_series_features(self, **series_inputs: torch.Tensor) -> torch.Tensor:
        """Series tokens projected to the language model width: `[batch x tokens x d_model]`.

        Takes the `series_*` tensors of the processor. Compute once and pass as `series_features` to run
        several prompts on the same series without re-encoding it."""
        missing = [name for name in SERIES_INPUT_NAMES if series_inputs.get(name) is None]
        if missing:
            raise ValueError(f"series inputs missing: {missing}; pass the processor's output unchanged")
        features = self.multi_modal_projector(self.series_tower(**{n: series_inputs[n] for n in SERIES_INPUT_NAMES}))
        if self.config.time_code_scale > 0:
            _, patches, patch_index = series_layout(series_inputs["series_mask"], series_inputs["series_channel_ids"])
            centre = (patch_index + 0.5) / patches[:, None]  # [batch x tokens] patch centre, share of the length
            features = features + self.config.time_code_scale * time_code(centre, features.shape[-1]).to(features)
        return features

    def merge_series_features(
        self,
        input_ids: torch.LongTensor,
        inputs_embeds: torch.Tensor,
        series_features: torch.Tensor,
        series_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Writes the real (unpadded) series features, in order, into the `<series>` placeholders."""
        placeholder = input_ids == self.config.series_token_id  # [batch x text_len]
        features = series_features[series_mask.bool()].to(inputs_embeds.dtype)  # [real_tokens x d_model]
        n_tokens, n_features = int(placeholder.sum()), features.shape[0]
        if n_tokens != n_features:
            raise ValueError(
                f"series tokens in input_ids ({n_tokens}) != series features ({n_features}); build the inputs "
                "with TSFlorenceProcessor, which writes one <series> token per series feature"
            )
        return inputs_embeds.masked_scatter(placeholder.unsqueeze(-1), features)

    def embed_inputs(
        self,
        input_ids: torch.LongTensor,
        series_features: torch.Tensor | None = None,
        series_mask: torch.Tensor | None = None,
        **series_inputs: torch.Tensor,
    ) -> torch.Tensor:
        """Token embeddings of `input_ids` with series features in the placeholders: `[batch x len x d_model]`."""
        limit = self.config.text_config.max_position_embeddings
        if input_ids.shape[-1] > limit:
            raise ValueError(
                f"the encoder input is {input_ids.shape[-1]} tokens (series tokens + prompt) but the model takes at "
                f"most {limit}; shorten the text input of the prompt"
            )
        inputs_embeds = self.get_input_embeddings()(input_ids)
        if series_features is None and series_inputs.get("series_patches") is None:
            if (input_ids == self.config.series_token_id).any():
                raise ValueError("input_ids hold <series> tokens but no series was given")
            return inputs_embeds
        if series_mask is None:
            raise ValueError("series_mask is required with series inputs")
        if series_features is None:
            series_features = self.get_series_features(series_mask=series_mask, **series_inputs)
        return self.merge_series_features(input_ids, inputs_embeds, series_features, series_mask)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        series_patches: torch.Tensor | None = None,
        series_channel_ids: torch.LongTensor | None = None,
        series_position_ids: torch.LongTensor | None = None,
        series_scale: torch.Tensor | None = None,
        series_mask: torch.Tensor | None = None,
        series_features: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> TSFlorenceSeq2SeqModelOutput:
        """`kwargs` may hold the decoder cache (see `CACHE_NAME`) and output flags such as `output_attentions`."""
        kwargs.pop("return_dict", None)  # outputs are always dataclasses
        cache = {name: kwargs.pop(name) for name in ("cache", "past_key_values") if kwargs.get(name) is not None}
        if encoder_outputs is None:
            if inputs_embeds is None:
                if input_ids is None:
                    raise ValueError("pass input_ids (with series inputs), inputs_embeds or encoder_outputs")
                if series_features is None and series_patches is not None:
                    series_features = self.get_series_features(
                        series_patches=series_patches,
                        series_channel_ids=series_channel_ids,
                        series_position_ids=series_position_ids,
                        series_scale=series_scale,
                        series_mask=series_mask,
                    )
                inputs_embeds = self.embed_inputs(input_ids, series_features=series_features, series_mask=series_mask)
            encoder_outputs = self.language_model.encoder(
                attention_mask=attention_mask, inputs_embeds=inputs_embeds, **kwargs
            )
        elif isinstance(encoder_outputs, tuple):
            encoder_outputs = BaseModelOutput(*encoder_outputs)

        if decoder_input_ids is None and decoder_inputs_embeds is None:
            batch = encoder_outputs.last_hidden_state.shape[0]
            start = self.config.text_config.decoder_start_token_id
            decoder_input_ids = torch.full(
                (batch, 1), start, dtype=torch.long, device=encoder_outputs.last_hidden_state.device
            )

        decoder_outputs = self.language_model.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask,
            inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **cache,
            **kwargs,
        )
        return TSFlorenceSeq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
            series_hidden_states=series_features,
            **{CACHE_NAME: getattr(decoder_outputs, CACHE_NAME)},
        )


class TSFlorenceForConditionalGeneration(TSFlorencePreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.weight": "model.language_model.shared.weight"}

    def __init__(self, config: TSFlorenceConfig):
        super().__init__(config)
        self.model = TSFlorenceModel(config)
        self.lm_head = nn.Linear(config.text_config.d_model, config.text_config.vocab_size, bias=False)
        # Training aid only: recovers each patch's cells (mean, min, max) from the text encoder's output at the
        # series placeholders (see TSFlorenceConfig.series_reconstruction_weight).
        self.series_reconstruction_head = nn.Linear(config.text_config.d_model, config.series_config.patch_length * 3)
        # Point granularity and the location pointer (TSFlorenceConfig.cell_head_weight, location_pointer).
        self.cell_head = TSFlorenceCellHead(config) if config.cell_head_weight > 0 or config.location_pointer else None
        self.location_pointer = TSFlorenceLocationPointer(config) if config.location_pointer else None
        self.post_init()
        if config.time_code_scale > 0:
            self._init_location_embeddings()
        self.generation_config = GenerationConfig(**default_generation_config(config))

    def _init_location_embeddings(self) -> None:
        """The `<loc_b>` rows of the (tied) token embeddings start as the time code of their bin
        (`TSFlorenceConfig.time_code_scale`), at the norm of the other rows (a code entry has RMS 1/sqrt(2));
        `from_pretrained` then loads the trained rows over them."""
        weight = self.get_input_embeddings().weight
        text = self.config.text_config
        code = time_code(bin_times(weight.device), text.d_model) * (math.sqrt(2) * (text.init_std or 0.02))
        with torch.no_grad():
            weight[LOC_TOKEN_OFFSET : LOC_TOKEN_OFFSET + NUM_LOC_BINS] = code.to(weight.dtype)

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def get_encoder(self, modality=None):
        return self.model.get_encoder()

    def get_decoder(self):
        return self.model.get_decoder()

    def get_series_features(self, **series_inputs: torch.Tensor) -> torch.Tensor:
        return self.model.get_series_features(**series_inputs)

    def encode(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None, **series_inputs):
        """The text encoder's output (`BaseModelOutput`) for prompts with their series in the `<series>`
        placeholders: what the decoder reads. `series_inputs` are the processor's series tensors or
        `series_features` with `series_mask`."""
        inputs_embeds = self.model.embed_inputs(input_ids, **series_inputs)
        return self.get_encoder()(attention_mask=attention_mask, inputs_embeds=inputs_embeds)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        series_patches: torch.Tensor | None = None,
        series_channel_ids: torch.LongTensor | None = None,
        series_position_ids: torch.LongTensor | None = None,
        series_scale: torch.Tensor | None = None,
        series_mask: torch.Tensor | None = None,
        series_features: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        series_cell_labels: torch.Tensor | None = None,
        series_cell_weights: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> TSFlorenceSeq2SeqLMOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch, target_len)`): target token ids, -100 where ignored;
            the decoder input is `labels` shifted right behind `decoder_start_token_id`, as in BART.
        series_cell_labels, series_cell_weights (`[batch x tokens x patch_length x 3]`): targets of the cell head
            and their weights (module docstring); used with `labels` when `config.cell_head_weight > 0`.
        """
        text_config = self.config.text_config
        if labels is not None:
            use_cache = False
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = shift_tokens_right(
                    labels, text_config.pad_token_id, text_config.decoder_start_token_id
                )

        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            series_patches=series_patches,
            series_channel_ids=series_channel_ids,
            series_position_ids=series_position_ids,
            series_scale=series_scale,
            series_mask=series_mask,
            series_features=series_features,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        logits = self.lm_head(outputs.last_hidden_state)
        cell_logits = None
        keys = encoder_outputs.pointer_keys() if isinstance(encoder_outputs, TSFlorenceEncoderOutput) else None
        if self.cell_head is not None and input_ids is not None and series_mask is not None:
            cell_logits, located = self.read_cells(
                outputs.encoder_last_hidden_state, input_ids, series_mask, series_channel_ids
            )
            keys = located if keys is None else keys
        if self.location_pointer is not None and keys is not None:
            pointer = self.location_pointer(outputs.last_hidden_state, keys)  # [batch x steps x bins]
            loc = slice(LOC_TOKEN_OFFSET, LOC_TOKEN_OFFSET + NUM_LOC_BINS)
            logits = torch.cat(
                [logits[..., : loc.start], logits[..., loc] + pointer.to(logits), logits[..., loc.stop :]], dim=-1
            )
        loss = reconstruction = cell_loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, text_config.vocab_size).float(), labels.reshape(-1), ignore_index=-100
            )
            weight = self.config.series_reconstruction_weight
            if weight > 0 and series_patches is not None and input_ids is not None:
                # What the decoder reads of the series: the text encoder's output at the <series> placeholders,
                # in the order of the real series tokens (as `merge_series_features` wrote them).
                placeholder = input_ids == self.config.series_token_id
                reconstruction = self.series_reconstruction_loss(
                    outputs.encoder_last_hidden_state[placeholder], series_patches[series_mask.bool()]
                )
                loss = loss + weight * reconstruction
            if self.config.cell_head_weight > 0 and cell_logits is not None and series_cell_labels is not None:
                cell_loss = self.cell_loss(cell_logits, series_cell_labels, series_cell_weights)
                loss = loss + self.config.cell_head_weight * cell_loss
        return TSFlorenceSeq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_NAME: getattr(outputs, CACHE_NAME)},
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
            series_hidden_states=outputs.series_hidden_states,
            series_reconstruction_loss=reconstruction,
            cell_logits=cell_logits,
            cell_loss=cell_loss,
        )

    def read_cells(
        self,
        encoder_hidden: torch.Tensor,
        input_ids: torch.LongTensor,
        series_mask: torch.Tensor,
        series_channel_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, PointerKeys | None]:
        """What the text encoder made of the series, at point granularity: the cell head's logits `[batch x tokens
        x patch_length x 3]` and the location pointer's `PointerKeys` (None without a pointer or without
        `series_channel_ids`). `encoder_hidden` is the text encoder's output for `input_ids`."""
        placeholder = input_ids == self.config.series_token_id
        series_outputs = encoder_hidden.new_zeros(*series_mask.shape, encoder_hidden.shape[-1])
        series_outputs[series_mask.bool()] = encoder_hidden[placeholder]  # [batch x tokens x d_model], as the tokens
        cell_features, cell_logits = self.cell_head(series_outputs)
        if self.location_pointer is None or series_channel_ids is None:
            return cell_logits, None
        return cell_logits, self.location_pointer.keys(series_outputs, cell_features, series_mask, series_channel_ids)

    @staticmethod
    def cell_loss(cell_logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """Weighted binary cross-entropy of the cell head, averaged over the weight."""
        weights = torch.ones_like(labels) if weights is None else weights.to(cell_logits.dtype)
        loss = nn.functional.binary_cross_entropy_with_logits(cell_logits.float(), labels.float(), reduction="none")
        return (loss * weights).sum() / weights.sum().clamp(min=1.0)

    def series_reconstruction_loss(self, features: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the cells (mean, min, max; observed cells only) of `patches` `[tokens x
        patch_length x 4]` that `series_reconstruction_head` recovers from `features` `[tokens x d_model]`, one
        row per real series token."""
        predicted = self.series_reconstruction_head(features.float()).view(*patches.shape[:2], 3)
        observed = (patches[..., 3] > 0).float()  # [tokens x patch_length]
        error = (predicted - patches[..., :3].float()).pow(2).mean(-1)
        return (error * observed).sum() / observed.sum().clamp(min=1.0)

    def _get_logits_processor(self, generation_config: GenerationConfig, *args, **kwargs):
        processors = super()._get_logits_processor(generation_config, *args, **kwargs)
        threshold = getattr(generation_config, "end_threshold", None)
        by_task = getattr(generation_config, "end_thresholds", None)
        encoder_input_ids = kwargs.get("encoder_input_ids", args[1] if len(args) > 1 else None)
        if threshold is None and by_task and encoder_input_ids is not None:
            threshold = EndThresholdLogitsProcessor.thresholds_of_tasks(by_task, encoder_input_ids)
        if getattr(generation_config, "constrain_locations", True) and encoder_input_ids is not None:
            processors.append(LocationGrammarLogitsProcessor(encoder_input_ids))
        sizes = getattr(generation_config, "no_repeat_ngram_sizes", None)
        if sizes and encoder_input_ids is not None:
            processors.append(TaskNoRepeatNGramLogitsProcessor(sizes, encoder_input_ids))
        if threshold is not None:
            eos = generation_config.eos_token_id
            processors.append(EndThresholdLogitsProcessor(eos[0] if isinstance(eos, list) else eos, threshold))
        return processors

    def _maybe_prepare_encoder_kwargs_for_generation(
        self, inputs_tensor: torch.Tensor, model_kwargs: dict, model_input_name: str | None, generation_config
    ) -> dict:
        # Series features go into the <series> placeholders before the text encoder runs, once per
        # generate() call; the decoding steps then only see `encoder_outputs`.
        # `encoder_outputs` given (`encode`'s, e.g. by a caller that reads them too): the text encoder does not run
        # again, and the pointer's keys are still added.
        series_inputs = {name: model_kwargs.pop(name, None) for name in (*SERIES_INPUT_NAMES, "series_features")}
        given = model_kwargs.get("encoder_outputs")
        if isinstance(given, TSFlorenceEncoderOutput) and given.location_patch_keys is not None:
            return model_kwargs
        if given is None:
            inputs_embeds = model_kwargs.pop("inputs_embeds", None)
            if inputs_embeds is None:
                inputs_embeds = self.model.embed_inputs(inputs_tensor, **series_inputs)
            model_kwargs["inputs_embeds"] = inputs_embeds
            model_kwargs = self._prepare_text_encoder_decoder_kwargs_for_generation(
                inputs_tensor=None,
                model_kwargs=model_kwargs,
                model_input_name=model_input_name,
                generation_config=generation_config,
            )
            model_kwargs.pop("inputs_embeds", None)
        if self.location_pointer is not None:
            # The pointer's keys depend on the series only: computed once here, read at every decoding step.
            if series_inputs["series_channel_ids"] is None or series_inputs["series_mask"] is None:
                raise ValueError(
                    "this model points at locations in its series: pass series_channel_ids and series_mask with "
                    "series_features (the processor's output holds both)"
                )
            encoded = model_kwargs["encoder_outputs"]
            _, keys = self.read_cells(
                encoded.last_hidden_state,
                inputs_tensor,
                series_inputs["series_mask"],
                series_inputs["series_channel_ids"],
            )
            model_kwargs["encoder_outputs"] = TSFlorenceEncoderOutput.with_keys(encoded, keys)
        return model_kwargs


__all__ = [
    "CELL_LABELS",
    "EndThresholdLogitsProcessor",
    "LocationGrammarLogitsProcessor",
    "TaskNoRepeatNGramLogitsProcessor",
    "default_generation_config",
    "time_code",
    "TSFlorenceSeriesEncoder",
    "TSFlorencePreTrainedModel",
    "TSFlorenceModel",
    "TSFlorenceForConditionalGeneration",
]
