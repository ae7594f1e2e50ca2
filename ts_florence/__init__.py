"""ts-florence: Florence-2 for time series.

Importing the package registers its classes with the transformers Auto classes and the
`"time-series-prompting"` pipeline, so `AutoModelForSeq2SeqLM`, `AutoProcessor` and `pipeline` load
ts-florence checkpoints.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForSeq2SeqLM,
    AutoProcessor,
)
from transformers.pipelines import PIPELINE_REGISTRY

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

__version__ = "0.1.0"

AutoConfig.register("ts_florence_series", TSFlorenceSeriesConfig, exist_ok=True)
AutoConfig.register("ts_florence", TSFlorenceConfig, exist_ok=True)
AutoModel.register(TSFlorenceConfig, TSFlorenceModel, exist_ok=True)
AutoModelForSeq2SeqLM.register(TSFlorenceConfig, TSFlorenceForConditionalGeneration, exist_ok=True)
AutoFeatureExtractor.register(TSFlorenceConfig, TSFlorenceSeriesFeatureExtractor, exist_ok=True)
AutoProcessor.register(TSFlorenceConfig, TSFlorenceProcessor, exist_ok=True)
PIPELINE_REGISTRY.register_pipeline(
    "time-series-prompting", pipeline_class=TimeSeriesPromptingPipeline, pt_model=AutoModelForSeq2SeqLM
)

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
    "train_tokenizer",
]
