"""Tiny in-memory models and processors for the tests; nothing is downloaded or read from disk."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import BartConfig  # noqa: E402

from ts_florence import (  # noqa: E402
    TSFlorenceConfig,
    TSFlorenceForConditionalGeneration,
    TSFlorenceProcessor,
    TSFlorenceSeriesConfig,
    TSFlorenceSeriesFeatureExtractor,
    generated_text_corpus,
    train_tokenizer,
)
from ts_florence.tokenization_ts_florence import SPECIAL_TOKEN_IDS  # noqa: E402

TINY_VOCAB = 1600


def tiny_config(**series_overrides) -> TSFlorenceConfig:
    series = dict(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        patch_length=4,
        num_patches=8,
        max_series_tokens=64,
        dropout=0.0,
    )
    series.update(series_overrides)
    text = BartConfig(
        vocab_size=TINY_VOCAB,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=256,
        pad_token_id=SPECIAL_TOKEN_IDS["<pad>"],
        bos_token_id=SPECIAL_TOKEN_IDS["<s>"],
        eos_token_id=SPECIAL_TOKEN_IDS["</s>"],
        decoder_start_token_id=SPECIAL_TOKEN_IDS["</s>"],
        forced_eos_token_id=None,
        dropout=0.0,
        attention_dropout=0.0,
    )
    return TSFlorenceConfig(series_config=TSFlorenceSeriesConfig(**series), text_config=text)


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(generated_text_corpus(300), vocab_size=TINY_VOCAB)


@pytest.fixture(scope="session")
def processor(tokenizer):
    series = tiny_config().series_config
    feature_extractor = TSFlorenceSeriesFeatureExtractor(
        patch_length=series.patch_length, num_patches=series.num_patches, max_series_tokens=series.max_series_tokens
    )
    return TSFlorenceProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TSFlorenceForConditionalGeneration(tiny_config()).eval()


@pytest.fixture(scope="session")
def burst_model(tmp_path_factory):
    """A small model that learned to find the burst in 8 series (tests/burst.py); about half a minute."""
    from burst import train_burst_model

    return train_burst_model(tmp_path_factory.mktemp("burst_model"))
