"""Configurations of tiny models for the tests: built in memory, never downloaded."""

from transformers import BartConfig

from ts_florence import TSFlorenceConfig, TSFlorenceSeriesConfig
from ts_florence.tokenization_ts_florence import SPECIAL_TOKEN_IDS

TINY_VOCAB = 1600


def tiny_config(width: int = 16, layers: int = 1, heads: int = 2, num_patches: int = 8) -> TSFlorenceConfig:
    """Series encoder and BART of `width` channels and `layers` layers; patches of 4 cells."""
    ids = SPECIAL_TOKEN_IDS
    series = TSFlorenceSeriesConfig(
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * width,
        patch_length=4,
        num_patches=num_patches,
        max_series_tokens=64,
        dropout=0.0,
    )
    text = BartConfig(
        vocab_size=TINY_VOCAB,
        d_model=width,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=2 * width,
        decoder_ffn_dim=2 * width,
        max_position_embeddings=256,
        pad_token_id=ids["<pad>"],
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        decoder_start_token_id=ids["</s>"],
        forced_eos_token_id=None,
        dropout=0.0,
        attention_dropout=0.0,
    )
    return TSFlorenceConfig(series_config=series, text_config=text)
