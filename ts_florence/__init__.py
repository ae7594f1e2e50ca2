"""ts-florence: Florence-2 for time series.

Importing the package registers its classes with the transformers Auto classes and the
`"time-series-prompting"` pipeline, so `AutoModelForSeq2SeqLM`, `AutoProcessor` and `pipeline` load
ts-florence checkpoints. Nothing heavy is imported up front: the names below load their module on first use,
and each registration runs when transformers loads the Auto class it registers with (`ts_florence._register`),
so `import ts_florence` and the `ts-florence` command start in well under a second.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from ._register import register_with_transformers

__version__ = "0.1.0"

# name -> module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "PRESETS": ".configuration_ts_florence",
    "TSFlorenceConfig": ".configuration_ts_florence",
    "TSFlorenceSeriesConfig": ".configuration_ts_florence",
    "TSFlorenceForConditionalGeneration": ".modeling_ts_florence",
    "TSFlorenceModel": ".modeling_ts_florence",
    "TSFlorencePreTrainedModel": ".modeling_ts_florence",
    "TSFlorenceSeriesEncoder": ".modeling_ts_florence",
    "TimeSeriesPromptingPipeline": ".pipeline",
    "TSFlorenceProcessor": ".processing_ts_florence",
    "TSFlorenceSeriesFeatureExtractor": ".processing_ts_florence",
    "TASKS": ".tasks",
    "pretrained_path": ".bundled",
    "TaskSpec": ".tasks",
    "get_task": ".tasks",
    "generated_text_corpus": ".tokenization_ts_florence",
    "train_tokenizer": ".tokenization_ts_florence",
}

if TYPE_CHECKING:
    from .bundled import pretrained_path
    from .configuration_ts_florence import PRESETS, TSFlorenceConfig, TSFlorenceSeriesConfig
    from .modeling_ts_florence import (
        TSFlorenceForConditionalGeneration,
        TSFlorenceModel,
        TSFlorencePreTrainedModel,
        TSFlorenceSeriesEncoder,
    )
    from .pipeline import TimeSeriesPromptingPipeline
    from .processing_ts_florence import TSFlorenceProcessor, TSFlorenceSeriesFeatureExtractor
    from .tasks import TASKS, TaskSpec, get_task
    from .tokenization_ts_florence import generated_text_corpus, train_tokenizer


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


register_with_transformers()

__all__ = [
    "PRESETS",
    "TASKS",
    "TSFlorenceConfig",
    "TSFlorenceForConditionalGeneration",
    "TSFlorenceModel",
    "TSFlorencePreTrainedModel",
    "TSFlorenceProcessor",
    "TSFlorenceSeriesConfig",
    "TSFlorenceSeriesEncoder",
    "TSFlorenceSeriesFeatureExtractor",
    "TaskSpec",
    "TimeSeriesPromptingPipeline",
    "generated_text_corpus",
    "get_task",
    "pretrained_path",
    "train_tokenizer",
]
