"""Registers ts-florence with transformers' Auto classes and `pipeline()`, when transformers loads them.

Registering needs the classes, and importing them costs seconds (torch and most of transformers). So that
`import ts_florence` and the `ts-florence` command start fast, each registration runs right after the
transformers module it registers with has been imported (at once for those imported already):
`AutoConfig.register` after `transformers.models.auto.configuration_auto`, the model classes after
`modeling_auto`, and so on. `import ts_florence` followed by `AutoModelForSeq2SeqLM.from_pretrained(path)` or
`pipeline("time-series-prompting", model=path)` therefore works as if everything were registered up front.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Callable


def _config() -> None:
    from transformers.models.auto.configuration_auto import AutoConfig

    from .configuration_ts_florence import TSFlorenceConfig, TSFlorenceSeriesConfig

    AutoConfig.register("ts_florence_series", TSFlorenceSeriesConfig, exist_ok=True)
    AutoConfig.register("ts_florence", TSFlorenceConfig, exist_ok=True)


def _feature_extractor() -> None:
    from transformers.models.auto.feature_extraction_auto import AutoFeatureExtractor

    from .configuration_ts_florence import TSFlorenceConfig
    from .processing_ts_florence import TSFlorenceSeriesFeatureExtractor

    AutoFeatureExtractor.register(TSFlorenceConfig, TSFlorenceSeriesFeatureExtractor, exist_ok=True)


def _processor() -> None:
    from transformers.models.auto.processing_auto import AutoProcessor

    from .configuration_ts_florence import TSFlorenceConfig
    from .processing_ts_florence import TSFlorenceProcessor

    AutoProcessor.register(TSFlorenceConfig, TSFlorenceProcessor, exist_ok=True)


def _models() -> None:
    from transformers.models.auto.modeling_auto import AutoModel, AutoModelForSeq2SeqLM

    from .configuration_ts_florence import TSFlorenceConfig
    from .modeling_ts_florence import TSFlorenceForConditionalGeneration, TSFlorenceModel

    AutoModel.register(TSFlorenceConfig, TSFlorenceModel, exist_ok=True)
    AutoModelForSeq2SeqLM.register(TSFlorenceConfig, TSFlorenceForConditionalGeneration, exist_ok=True)


def _pipeline() -> None:
    from transformers.models.auto.modeling_auto import AutoModelForSeq2SeqLM
    from transformers.pipelines import PIPELINE_REGISTRY

    from .pipeline import TimeSeriesPromptingPipeline

    PIPELINE_REGISTRY.register_pipeline(
        "time-series-prompting", pipeline_class=TimeSeriesPromptingPipeline, pt_model=AutoModelForSeq2SeqLM
    )


# transformers module -> the registration that runs once it is imported; in an order that works when all of
# them are imported already.
_AFTER: dict[str, Callable[[], None]] = {
    "transformers.models.auto.configuration_auto": _config,
    "transformers.models.auto.feature_extraction_auto": _feature_extractor,
    "transformers.models.auto.processing_auto": _processor,
    "transformers.models.auto.modeling_auto": _models,
    "transformers.pipelines": _pipeline,
}


class _RegisteringLoader(importlib.abc.Loader):
    """Loads a module with its own loader, then runs the registration that waited for it."""

    def __init__(self, loader: importlib.abc.Loader, register: Callable[[], None]):
        self.loader = loader
        self.register = register

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        self.register()


class _AfterImportFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of `_AFTER` with the other finders and hands out their spec with a registering loader."""

    def find_spec(self, fullname, path, target=None):
        register = _AFTER.get(fullname)
        if register is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RegisteringLoader(spec.loader, register)
                return spec
        return None


def register_with_transformers() -> None:
    """Registers now with the transformers modules imported already, and later with the others."""
    for name, register in _AFTER.items():
        if name in sys.modules:
            register()
    if not any(isinstance(finder, _AfterImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImportFinder())
