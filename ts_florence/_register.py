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

PIPELINE_TASK = "time-series-prompting"


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

    from .bundled import default_model_path
    from .pipeline import TimeSeriesPromptingPipeline

    bundled = default_model_path()  # `pipeline("time-series-prompting")` without a model loads the bundled one
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK,
        pipeline_class=TimeSeriesPromptingPipeline,
        pt_model=AutoModelForSeq2SeqLM,
        default=None if bundled is None else {"model": (str(bundled), None)},
    )
    _check_pipeline_folders()


def _check_pipeline_folders() -> None:
    """`pipeline("time-series-prompting", model=folder)` checks the folder first (`io.check_model_folder`): a folder
    without config.json, a damaged file or missing weights is named in this project's message, where transformers
    would say "Unrecognized model ... should have a `model_type` key". `pipeline()` reads the config first with
    `AutoConfig.from_pretrained(model, _from_pipeline=task)`, the one place it can be checked; every other call
    passes through unchanged."""
    import os

    from transformers.models.auto.configuration_auto import AutoConfig

    from .io import check_model_folder

    original = AutoConfig.from_pretrained.__func__
    if getattr(original, "_checks_pipeline_folders", False):
        return

    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        if kwargs.get("_from_pipeline") == PIPELINE_TASK and isinstance(
            pretrained_model_name_or_path, (str, os.PathLike)
        ):
            if os.path.isdir(pretrained_model_name_or_path):
                check_model_folder(pretrained_model_name_or_path)
        return original(cls, pretrained_model_name_or_path, **kwargs)

    from_pretrained._checks_pipeline_folders = True
    from_pretrained.__doc__ = original.__doc__
    AutoConfig.from_pretrained = classmethod(from_pretrained)


# registration -> the transformers module it registers with
_REGISTRATIONS: dict[Callable[[], None], str] = {
    _config: "transformers.models.auto.configuration_auto",
    _feature_extractor: "transformers.models.auto.feature_extraction_auto",
    _processor: "transformers.models.auto.processing_auto",
    _models: "transformers.models.auto.modeling_auto",
    _pipeline: "transformers.pipelines",
}
# Imports of these packages are watched: a registration imports modules of both, so it runs only when none of
# them is half-way through its import (transformers' modules import one another, and ours import transformers).
_WATCHED = ("transformers", "ts_florence")
_executing: set[str] = set()  # watched modules being imported right now
_registered: set[Callable[[], None]] = set()


def _try_registrations() -> None:
    """Runs the registrations not run yet whose transformers module is imported, once no watched import is under
    way; called at import and after every watched import."""
    if _executing:
        return
    for register, target in _REGISTRATIONS.items():
        if register not in _registered and target in sys.modules:
            _registered.add(register)
            register()


class _RegisteringLoader(importlib.abc.Loader):
    """Loads a watched module with its own loader, noting while it runs, then runs the registrations that wait."""

    def __init__(self, loader: importlib.abc.Loader, name: str):
        self.loader = loader
        self.name = name

    def __getattr__(self, attribute: str):
        return getattr(self.loader, attribute)  # get_source, get_resource_reader, is_package, ...

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        _executing.add(self.name)
        try:
            self.loader.exec_module(module)
        finally:
            _executing.discard(self.name)
        _try_registrations()


class _WatchingFinder(importlib.abc.MetaPathFinder):
    """Finds the watched modules with the other finders and hands out their spec with a registering loader."""

    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] not in _WATCHED or len(_registered) == len(_REGISTRATIONS):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisteringLoader(spec.loader, fullname)
                return spec
        return None


def register_with_transformers() -> None:
    """Registers now with the transformers modules imported already, and later with the others."""
    if not any(isinstance(finder, _WatchingFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WatchingFinder())
    _try_registrations()
