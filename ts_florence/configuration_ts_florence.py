"""Configuration classes of ts-florence: the series encoder and the whole encoder-decoder."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, BartConfig
from transformers.configuration_utils import PreTrainedConfig, SubConfigSpec

from .tokenization_ts_florence import SPECIAL_TOKEN_IDS

# Sizes of the presets. `tiny` runs on a laptop core; `base` and `large` match Florence-2 base (0.23B)
# and large (0.77B) in parameter count.
PRESETS: dict[str, dict[str, dict]] = {
    "tiny": {
        "series": dict(
            hidden_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=512,
            patch_length=32,
            num_patches=32,
            max_series_tokens=256,
        ),
        "text": dict(
            vocab_size=4096,
            d_model=256,
            encoder_layers=3,
            decoder_layers=3,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=1024,
            decoder_ffn_dim=1024,
            max_position_embeddings=512,
        ),
    },
    "base": {
        "series": dict(
            hidden_size=768,
            num_hidden_layers=16,
            num_attention_heads=12,
            intermediate_size=3072,
            patch_length=16,
            num_patches=128,
            max_series_tokens=512,
        ),
        "text": dict(
            vocab_size=16384,
            d_model=768,
            encoder_layers=6,
            decoder_layers=6,
            encoder_attention_heads=12,
            decoder_attention_heads=12,
            encoder_ffn_dim=3072,
            decoder_ffn_dim=3072,
            max_position_embeddings=1024,
        ),
    },
    "large": {
        "series": dict(
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            intermediate_size=4096,
            patch_length=16,
            num_patches=128,
            max_series_tokens=768,
        ),
        "text": dict(
            vocab_size=32768,
            d_model=1024,
            encoder_layers=14,
            decoder_layers=14,
            encoder_attention_heads=16,
            decoder_attention_heads=16,
            encoder_ffn_dim=4096,
            decoder_ffn_dim=4096,
            max_position_embeddings=1024,
        ),
    },
}


# How new models point at time (TSFlorenceConfig fields; DESIGN.md section 2.1). Chosen with
# scripts/probe_localisation.py: on <ANOMALY_DETECTION> of unseen synthetic series, F1@0.5 after 3,000 steps went
# from 0.043 (none of them) to 0.391 (all three). Configs built directly keep them off, so that a saved model
# without these fields loads as it was trained.
LOCATION_DEFAULTS: dict[str, float | bool] = dict(time_code_scale=1.0, location_pointer=True, cell_head_weight=1.0)


def cell_feature_count(autocorrelation: bool) -> int:
    """Features per cell of `series_patches`: mean, minimum, maximum, observed share, and with `autocorrelation` the
    autocorrelation at the cell's lag (the feature extractor writes them, the series encoder reads them)."""
    return 5 if autocorrelation else 4


@strict
class TSFlorenceSeriesConfig(PreTrainedConfig):
    r"""
    Configuration of the series encoder (the time-series counterpart of Florence-2's vision tower).

    Every channel of a series is reduced (or stretched) by the feature extractor to a grid of
    `num_patches * patch_length` cells, each cell carrying the mean, minimum and maximum of the samples
    it covers and their observed fraction, so that a spike survives any reduction. A patch of
    `patch_length` cells becomes one series token.

    Args:
        patch_length (`int`): cells per patch (one patch = one series token).
        num_patches (`int`): patches per channel for a univariate series (the model's time resolution is
            `num_patches * patch_length` cells).
        max_series_tokens (`int`): token budget of one series over all its channels; a series with many
            channels gets `min(num_patches, max_series_tokens // channels)` patches per channel.
        max_channels (`int`): largest number of channels (one channel embedding each).
        hidden_size (`int`): width of the series transformer.
        num_hidden_layers (`int`): layers of the series transformer.
        num_attention_heads (`int`): attention heads of the series transformer.
        intermediate_size (`int`): feed-forward width of the series transformer.
        dropout (`float`): dropout in the series transformer.
        initializer_range (`float`): standard deviation of the weight initialisation.
        autocorrelation (`bool`): each cell also carries the channel's autocorrelation at the lag of its place (the
            feature extractor's `autocorrelation`); its embedding starts at zero, so a model trained without it
            continues unchanged until training uses it.
    """

    model_type = "ts_florence_series"
    base_config_key = "series_config"

    patch_length: int = 16
    num_patches: int = 64
    max_series_tokens: int = 256
    max_channels: int = 64
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 512
    dropout: float = 0.1
    initializer_range: float = 0.02
    autocorrelation: bool = False

    def validate_architecture(self):
        super().validate_architecture()
        if self.max_series_tokens < self.max_channels:
            raise ValueError(
                f"max_series_tokens ({self.max_series_tokens}) must be >= max_channels ({self.max_channels}) "
                "so that every channel gets at least one token"
            )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )


@strict
class TSFlorenceConfig(PreTrainedConfig):
    r"""
    Configuration of [`TSFlorenceForConditionalGeneration`]: a series encoder, a projector and a stock BART
    built from `text_config`, as Florence-2 composes its vision tower with BART.

    Args:
        series_config (`TSFlorenceSeriesConfig` or `dict`): the series encoder.
        text_config (`BartConfig` or `dict`): the language model.
        series_token_id (`int`): id of the `<series>` placeholder token filled with series features.
        series_reconstruction_weight (`float`): weight of an auxiliary training loss (added to the token loss when
            `labels` and series inputs are given): a linear head must recover each patch's cells (mean, min, max)
            from the text encoder's output at the series placeholders, i.e. from what the decoder reads of the
            series. Without it a freshly initialised model collapses early in training: while the decoder cannot
            yet use the series, the cheapest way to lower the loss is to make every series position the same
            vector, after which the decoder never learns to read the series (measured on the tiny preset: the
            text encoder's output at series positions differed by 8% between series after 200 steps, and the
            evaluation loss did not change when the series were swapped).
        time_code_scale (`float`): weight of a fixed sinusoidal code of continuous time t in [0, 1) (`time_code`)
            added to every projected series feature at its patch centre; the `<loc_b>` embeddings are initialised
            with the same code at t = (b + 0.5) / 1000, so that "write the time of the series token I attend to" is
            close to linear for the decoder from the first step. 0 turns both off.
        location_pointer (`bool`): add a pointer logit to every `<loc_b>` logit: the decoder state (projected to
            `pointer_dim`) against a key of bin b built from what the text encoder made of the series there (its
            series outputs interpolated at the bin's time, plus the cell features of the bin's cell), combined over
            channels by log-sum-exp. Location then follows content: the decoder asks "where is the thing" and the
            series answers, instead of learning 1,000 unrelated output embeddings.
        pointer_dim (`int`): width of the pointer's queries and keys.
        cell_dim (`int`): width of the per-cell features (one vector per cell of each series token, from the text
            encoder's output at that token), used by the pointer keys and the cell head.
        cell_head_weight (`float`): weight of an auxiliary loss at point granularity (Florence-2's pixel level): a
            head on the cell features predicts, for every cell, inside an anomaly / inside an event / holds a change
            point (binary cross-entropy against `series_cell_labels`, weighted by `series_cell_weights`). 0 turns
            the loss off; the cell features exist when this is above 0 or `location_pointer` is on.
    """

    model_type = "ts_florence"
    sub_configs_defaults = {
        "series_config": TSFlorenceSeriesConfig,
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="bart"),
    }

    series_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    series_token_id: int = SPECIAL_TOKEN_IDS["<series>"]
    is_encoder_decoder: bool = True
    tie_word_embeddings: bool = True
    series_reconstruction_weight: float = 1.0
    time_code_scale: float = 0.0
    location_pointer: bool = False
    pointer_dim: int = 64
    cell_dim: int = 16
    cell_head_weight: float = 0.0

    @classmethod
    def from_preset(cls, name: str, **text_overrides) -> TSFlorenceConfig:
        """A configuration for a new, untrained model: `"tiny"` (a few million parameters, CPU),
        `"base"` (~0.23B) or `"large"` (~0.77B), with the location aids of `LOCATION_DEFAULTS`. Keyword arguments
        override fields of the BART sub-config (for example `vocab_size=len(tokenizer)`)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[name]
        text = dict(
            preset["text"],
            pad_token_id=SPECIAL_TOKEN_IDS["<pad>"],
            bos_token_id=SPECIAL_TOKEN_IDS["<s>"],
            eos_token_id=SPECIAL_TOKEN_IDS["</s>"],
            decoder_start_token_id=SPECIAL_TOKEN_IDS["</s>"],
            forced_eos_token_id=SPECIAL_TOKEN_IDS["</s>"],
            scale_embedding=True,
        )
        text.update(text_overrides)
        return cls(
            series_config=TSFlorenceSeriesConfig(**preset["series"]),
            text_config=BartConfig(**text),
            **LOCATION_DEFAULTS,
        )


__all__ = ["TSFlorenceConfig", "TSFlorenceSeriesConfig", "PRESETS", "LOCATION_DEFAULTS"]
