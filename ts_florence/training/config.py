"""The settings of a training run (`TrainConfig`: sections model, data, optim, run), read from YAML with
`section.key=value` overrides by the project's typed loader (`ts_florence.configs`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from .. import configs


@dataclass
class LoraArgs:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])


@dataclass
class ModelArgs:
    preset: str = "tiny"
    """A model preset of `TSFlorenceConfig.from_preset` for a new model (ignored with `init_from`)."""
    init_from: str | None = None
    """Folder of a saved model and processor to start from (fine-tuning)."""
    tokenizer_texts: int = 20000
    """For a new model: corpus records whose captions, labels and phrases train the tokenizer."""
    lora: LoraArgs | None = None
    """Train LoRA adapters (peft) instead of all weights; merged into the model at the end."""
    time_code_scale: float | None = None
    """`TSFlorenceConfig.time_code_scale` of the model (None: the preset's or the saved model's)."""
    location_pointer: bool | None = None
    """`TSFlorenceConfig.location_pointer` (None: the preset's or the saved model's)."""
    cell_head_weight: float | None = None
    """`TSFlorenceConfig.cell_head_weight` (None: the preset's or the saved model's)."""
    series_reconstruction_weight: float | None = None
    """`TSFlorenceConfig.series_reconstruction_weight` (None: the preset's or the saved model's)."""
    autocorrelation: bool | None = None
    """The cells' autocorrelation feature (`TSFlorenceSeriesConfig.autocorrelation` and the feature extractor's;
    None: the preset's or the saved model's). Turned on for a saved model without it, its embedding starts at
    zero: the model continues unchanged until training uses it. Probe (1,500 steps from the bundled 22,000-step
    model, captions weighted 4, seed 11; frozen split, 300 captions): brief-caption period precision 0.124 without
    it, 0.128 with it at the base learning rate (the embedding hardly moved: max |w| 0.0085), 0.145 with
    `optim.lr_scale` 40 on `model.series_tower.autocorrelation_embedding` (recall 0.105 / 0.118 / 0.137); detailed
    0.204 / 0.214 / 0.218. Small gains: not yet in the bundled model."""
    attn_implementation: str | None = None
    """Attention kernel of BART (`PreTrainedModel.set_attn_implementation`: "eager", "sdpa"; None: transformers'
    default, sdpa). On this CPU, at the tiny preset's shapes (16 series, 4 heads, ~70 tokens), eager attention's
    forward and backward take 2.3 ms in bfloat16 against sdpa's 9.0 (3.7 against 5.6 in float32)."""
    dropout: float | None = None
    """Dropout of the series encoder and of BART (`dropout`), replacing the saved or preset value. 0 fits few
    labelled series faster (UCR ArrowHead, 36 series, 400 steps: training loss 0.10 with the tiny preset's 0.1,
    0.02 with 0), but did not generalise better on UCR OSULeaf (test accuracy 0.529 vs 0.471 after 400 steps,
    0.512 vs 0.583 after 1500)."""


@dataclass
class AugmentArgs:
    """Random label-preserving changes of training series (`ts_florence.data.SeriesAugmentation`), for
    fine-tuning on few labelled series."""

    scale: float = 0.1
    """Standard deviation of the log amplitude factor."""
    jitter: float = 0.03
    """Gaussian noise, as a share of the series' standard deviation."""
    crop: float = 0.1
    """A random crop keeps at least `1 - crop` of the length."""
    tasks: list[str] = field(default_factory=lambda: ["<CLASSIFICATION>"])
    """Tasks augmented (only tasks whose targets hold no time location)."""


@dataclass
class DataArgs:
    path: str | None = None
    """An engine corpus folder, a Parquet/JSON Lines file of records, or a CSV/Parquet table of
    (series, label) for classification."""
    train_split: str = "train"
    eval_split: str | None = "eval"
    """Split of a corpus folder for evaluation; None for no evaluation."""
    eval_path: str | None = None
    """A separate file for evaluation (for file inputs; a corpus folder uses `eval_split`)."""
    tasks: list[str] | None = None
    """Tasks to train (default: every task with examples)."""
    task_weights: dict[str, float] = field(default_factory=dict)
    """Sampling weight per task (default 1): the mixture draws a task by weight, then one of its examples."""
    streaming: bool = False
    """Read the corpus as a stream (`datasets` streaming): one example per record, task drawn by weight."""
    shuffle_buffer: int = 2000
    exclude_sources: list[str] = field(default_factory=list)
    """Regular expressions; training records whose `source` matches one are left out (hold out the datasets a
    benchmark fine-tunes and tests on, e.g. the UCR sets of scripts/finetune_ucr.py)."""
    source_weights: dict[str, float | dict[str, float]] = field(default_factory=dict)
    """Regular expression -> factor: an example whose record's `source` matches a pattern (the first that does) is
    drawn that many times as often as the other examples of its task (e.g. the engine's injected defects,
    `{"^semi:(?!shape-regimes)": 3}`); the task mixture stays as `task_weights` says. A factor may be a mapping
    task -> factor, for those tasks' examples only (e.g. the engine-labelled anomalies of real series drawn a tenth
    as often: `{"^(?!semi:|synthetic)": {"<ANOMALY_DETECTION>": 0.1}}`). Not with `streaming`."""
    max_target_length: int = 256
    group_by_task: bool = False
    """Batches of one task each (the mixture draws a task per batch instead of per example): a detection batch is
    then not padded to a caption's length. Not with `streaming`."""
    group_by_channels: bool = False
    """With `group_by_task`: each batch also holds series of one channel-count class (`data.CHANNEL_CLASSES`), so
    that univariate series (one token per patch) are not padded to the token count of a multivariate series in
    the same batch (the encoders' cost follows the widest). Every example keeps its chance of being drawn."""
    eval_examples: int = 256
    """Pairs of the evaluation split scored by loss at every evaluation, spread over tasks."""
    num_proc: int | None = None
    """Processes for indexing the training pairs."""
    num_workers: int = 0
    """DataLoader worker processes that prepare the next batches (features, targets, collation) while the model
    trains on this one; 0 prepares them in the training process, between steps."""
    augment: AugmentArgs | None = None
    """Augment training series (not with `streaming`); none by default."""


@dataclass
class OptimArgs:
    max_steps: int = 1000
    per_device_batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    """Cosine decay ends at learning_rate * min_lr_ratio."""
    max_grad_norm: float = 1.0
    freeze: list[str] = field(default_factory=list)
    """Parameter-name prefixes held fixed for the first `freeze_steps` steps and trained after them: linear
    probing, then fine-tuning (LP-FT, Kumar et al. 2022), which spares pretrained features the updates of a label
    path that starts untrained. E.g. `["model.series_tower", "model.multi_modal_projector",
    "model.language_model.encoder"]` trains only BART's decoder and the shared embeddings at first."""
    freeze_steps: int | None = None
    """How many steps `freeze` holds; None for the whole run."""
    lr_scale: dict[str, float] = field(default_factory=dict)
    """Parameter-name prefix -> factor of the learning rate for those parameters (the first prefix that matches),
    e.g. `{"cell_head": 10}` for a layer new to a fine-tuned model, which starts at its initialisation while the
    rest has been trained: at the common rate it barely moves in a few hundred steps."""


@dataclass
class RunArgs:
    output_dir: str = "runs/tiny"
    seed: int = 0
    mixed_precision: str = "no"
    """"no", "bf16" or "fp16": bf16 runs everywhere (torch.autocast, on a CPU too), fp16 on CUDA only."""
    log_every: int = 20
    eval_every: int = 500
    save_every: int = 500
    save_total_limit: int = 2
    report_to: str = "tensorboard"
    """A tracker accelerate supports ("tensorboard", "wandb", ...) or "none"."""
    final_eval_limit: int = 50
    """Examples per task generated and scored (ts_florence.evaluation) at the end; 0 for none."""
    progress: bool = True


@dataclass
class TrainConfig:
    model: ModelArgs = field(default_factory=ModelArgs)
    data: DataArgs = field(default_factory=DataArgs)
    optim: OptimArgs = field(default_factory=OptimArgs)
    run: RunArgs = field(default_factory=RunArgs)


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] | None = None) -> TrainConfig:
    """The run settings of YAML file `path` (default: all defaults) with `overrides` ("section.key=value",
    the value read as YAML) applied. Raises ValueError on unknown keys or wrong types."""
    return configs.load(TrainConfig, path, overrides or (), what="run config")


def config_dict(config: TrainConfig) -> dict:
    """The nested mapping of `config`, as `run_config.yaml` holds it and `load_config` reads it back."""
    return configs.to_dict(config)
