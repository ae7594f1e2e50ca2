"""Tiny in-memory models and processors for the tests; nothing is downloaded or read from disk."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from tiny import TINY_VOCAB, tiny_config  # noqa: E402

from ts_florence import (  # noqa: E402
    TSFlorenceForConditionalGeneration,
    TSFlorenceProcessor,
    TSFlorenceSeriesFeatureExtractor,
    generated_text_corpus,
    train_tokenizer,
)


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
