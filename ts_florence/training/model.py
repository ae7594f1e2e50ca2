"""The model of a run, its optimizer and learning-rate schedule, and the digests that check a run repeats."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch

from .config import OptimArgs, TrainConfig


def build_model(config: TrainConfig, train_records):
    """(model, processor): loaded from `model.init_from`, or new of `model.preset` with a tokenizer trained
    on the corpus texts."""
    from .. import TSFlorenceConfig, TSFlorenceForConditionalGeneration, TSFlorenceProcessor
    from ..tokenization_ts_florence import generated_text_corpus

    if config.model.init_from:
        source = Path(config.model.init_from)
        if not (source / "config.json").exists():
            raise FileNotFoundError(f"--init-from {source}: no saved model there (config.json missing)")
        model_config = TSFlorenceConfig.from_pretrained(source)
    else:
        model_config = TSFlorenceConfig.from_preset(config.model.preset)
    for name in ("time_code_scale", "location_pointer", "cell_head_weight", "series_reconstruction_weight"):
        if getattr(config.model, name) is not None:
            setattr(model_config, name, getattr(config.model, name))
    if config.model.autocorrelation is not None:
        model_config.series_config.autocorrelation = bool(config.model.autocorrelation)
    if config.model.dropout is not None:
        if not 0 <= config.model.dropout < 1:
            raise ValueError(f"model.dropout must be in [0, 1), got {config.model.dropout}")
        model_config.series_config.dropout = model_config.text_config.dropout = config.model.dropout
    if config.model.init_from:
        model = TSFlorenceForConditionalGeneration.from_pretrained(source, config=model_config)
        processor = TSFlorenceProcessor.from_pretrained(source)
    else:
        texts = generated_text_corpus()
        if train_records is not None:
            texts += tokenizer_texts(train_records, config.model.tokenizer_texts)
        processor = TSFlorenceProcessor.from_preset(config.model.preset, texts=texts)
        model = TSFlorenceForConditionalGeneration(model_config)
    processor.feature_extractor.autocorrelation = model_config.series_config.autocorrelation
    if config.model.attn_implementation is not None:
        model.model.language_model.set_attn_implementation(config.model.attn_implementation)  # BART's, not the series
    if config.model.lora is not None:
        from peft import LoraConfig, get_peft_model

        lora = config.model.lora
        model = get_peft_model(
            model,
            LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules),
        )
    return model, processor


def weights_digest(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def batch_digest(batch: dict) -> str:
    digest = hashlib.sha256()
    for key in ("input_ids", "labels", "series_patches"):
        digest.update(batch[key].detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def tokenizer_texts(records, limit: int) -> list[str]:
    """Captions, labels, span descriptions and phrases of up to `limit` records, for a new tokenizer."""
    texts = []
    columns = [c for c in ("captions", "label", "spans", "groundings") if c in records.column_names]
    for record in records.select_columns(columns).select(range(min(limit, len(records)))):
        captions = record.get("captions") or {}
        texts += [captions.get(k) for k in ("brief", "detailed", "more_detailed")]
        texts.append(record.get("label"))
        texts += [s.get("label") for s in record.get("spans") or []]
        texts += [s.get("description") for s in record.get("spans") or []]
        texts += [g.get("phrase") for g in record.get("groundings") or []]
    return [t for t in texts if isinstance(t, str) and t.strip()]


def make_optimizer(model, optim: OptimArgs) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only, and the learning rate of `optim.lr_scale`'s parameters scaled."""
    named = [(name, param) for name, param in model.named_parameters() if param.requires_grad]
    for prefix, scale in optim.lr_scale.items():
        if not scale > 0:
            raise ValueError(f"optim.lr_scale: the factor of {prefix!r} must be > 0, got {scale}")
        if not any(name.startswith(prefix) for name, _ in named):
            raise ValueError(f"optim.lr_scale: no trained parameter starts with {prefix!r}")
    groups: dict[tuple[bool, float], list[torch.nn.Parameter]] = {}
    for name, param in named:
        decay = not (param.ndim < 2 or "norm" in name.lower())
        scale = next((s for prefix, s in optim.lr_scale.items() if name.startswith(prefix)), 1.0)
        groups.setdefault((decay, scale), []).append(param)
    return torch.optim.AdamW(
        [
            {"params": params, "weight_decay": optim.weight_decay if decay else 0.0, "lr": optim.learning_rate * scale}
            for (decay, scale), params in groups.items()
        ],
        lr=optim.learning_rate,
        betas=tuple(optim.adam_betas),
    )


def frozen_parameters(model, prefixes: list[str]) -> list[torch.nn.Parameter]:
    """The parameters whose names start with one of `prefixes`; ValueError for a prefix that names none."""
    named = list(model.named_parameters())
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name, _ in named):
            tops = sorted({".".join(name.split(".")[:3]) for name, _ in named})
            raise ValueError(f"optim.freeze: no parameter starts with {prefix!r}; names start with {tops}")
    return [param for name, param in named if name.startswith(tuple(prefixes))]


def make_schedule(optimizer, optim: OptimArgs):
    def factor(step: int) -> float:
        if step < optim.warmup_steps:
            return (step + 1) / max(1, optim.warmup_steps)
        progress = min(1.0, (step - optim.warmup_steps) / max(1, optim.max_steps - optim.warmup_steps))
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


__all__ = [
    "batch_digest",
    "build_model",
    "frozen_parameters",
    "make_optimizer",
    "make_schedule",
    "tokenizer_texts",
    "weights_digest",
]
