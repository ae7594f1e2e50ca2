"""The ts-florence tokenizer: a byte-level BPE trained with `tokenizers`, plus fixed special tokens.

Special tokens come first and in a fixed order, so their ids are the same for every trained tokenizer
(and the model config can name them before any tokenizer exists):

    0-3     <s> <pad> </s> <unk>           (BART's order)
    4       <series>                       (placeholder filled with series features)
    5-1004  <loc_0> ... <loc_999>          (time locations)
    ...     <ch_0> ... <ch_63>             (channels)
    ...     one token per task, in the order of `tasks.TASKS`
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from .tasks import CHANNEL_TOKENS, LOC_TOKENS, SERIES_TOKEN, TASKS
from .vocabulary import ANOMALY_LABELS, REGIME_LABELS

logger = logging.getLogger(__name__)

CONTROL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]
SPECIAL_TOKENS: list[str] = CONTROL_TOKENS + [SERIES_TOKEN] + LOC_TOKENS + CHANNEL_TOKENS + list(TASKS)
SPECIAL_TOKEN_IDS: dict[str, int] = {token: i for i, token in enumerate(SPECIAL_TOKENS)}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` and wrap it as a transformers fast tokenizer.

    `vocab_size` counts the special tokens too; a small corpus may yield fewer merges, so the result can
    be smaller than asked (never larger). Encoded text is wrapped as `<s> text </s>`, as in BART.
    """
    if vocab_size <= len(SPECIAL_TOKENS) + 256:
        raise ValueError(
            f"vocab_size ({vocab_size}) must exceed the {len(SPECIAL_TOKENS)} special tokens plus 256 bytes"
        )
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    bos, eos = SPECIAL_TOKEN_IDS["<s>"], SPECIAL_TOKEN_IDS["</s>"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    for token, expected in SPECIAL_TOKEN_IDS.items():
        if tokenizer.token_to_id(token) != expected:
            raise RuntimeError(f"special token {token} got id {tokenizer.token_to_id(token)}, expected {expected}")
    logger.info("trained a BPE tokenizer of %d tokens (%d asked)", tokenizer.get_vocab_size(), vocab_size)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=1024,
    )


_SHAPES = [
    *ANOMALY_LABELS,  # the generator's labels, then other words that name shapes
    "peak",
    "drop",
    "step",
    "outlier",
    "gap",
    "plateau",
    "surge",
]
_TRENDS = ["rises", "falls", "stays flat", "climbs steadily", "declines slowly", "drifts upward", "trends downward"]
_SEASONS = ["a daily cycle", "a weekly cycle", "a yearly cycle", "no clear seasonality", "a period of {p} samples"]
_NOISE = ["low noise", "moderate noise", "high noise", "heavy-tailed noise"]
_PLACES = ["at the start", "near the middle", "towards the end", "in the first quarter", "in the last third"]
_REGIMES = [label for labels in REGIME_LABELS.values() for label in labels]  # the segment labels, every axis


def generated_text_corpus(num_texts: int = 4000, seed: int = 0) -> list[str]:
    """A small synthetic corpus of caption-like sentences and labels, used to train the tokenizer of a
    model initialised from scratch before the data engine's own captions exist."""
    rng = random.Random(seed)
    texts = list(_SHAPES) + list(_REGIMES) + [spec.prompt for spec in TASKS.values()]
    for _ in range(num_texts):
        season = rng.choice(_SEASONS).format(p=rng.choice([7, 12, 24, 48, 52, 96, 168, 365]))
        texts.append(
            f"The series {rng.choice(_TRENDS)} with {season} and {rng.choice(_NOISE)}. "
            f"There {'is' if rng.random() < 0.5 else 'are'} {rng.randint(0, 9)} {rng.choice(_SHAPES)}s "
            f"{rng.choice(_PLACES)}, the largest of {rng.uniform(-1e3, 1e3):.{rng.randint(0, 3)}f}; "
            f"it moves from a {rng.choice(_REGIMES)} regime to a {rng.choice(_REGIMES)} one "
            f"after {rng.randint(2, 5000)} samples."
        )
    return texts


__all__ = ["SPECIAL_TOKENS", "SPECIAL_TOKEN_IDS", "train_tokenizer", "generated_text_corpus"]
