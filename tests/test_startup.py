"""`import ts_florence` and the command start without torch or transformers; the Auto classes and `pipeline()`
still know ts-florence once transformers loads them. Each check runs in a fresh interpreter."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "datasets", "matplotlib", "pandas", "scipy")


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_loads_none_of_the_heavy_libraries():
    loaded = run_python(f"import sys, ts_florence; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert loaded.strip() == "[]"


def test_the_tasks_name_their_scorers_without_importing_the_evaluation_layer():
    code = "import sys, ts_florence.tasks; print(sorted(m for m in sys.modules if m.startswith('ts_florence.e')))"
    assert run_python(code).strip() == "[]"


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["tasks"],
        ["predict", "s.csv", "--task", "<CAPTION>", "--num-beams", "0"],
        ["predict", "s.csv", "--task", "CAPTION"],
    ],
)
def test_help_tasks_and_usage_errors_load_neither_torch_nor_transformers(argv):
    code = "\n".join(
        [
            "import sys",
            "from ts_florence import cli",
            "try:",
            f"    cli.main({argv!r})",
            "except SystemExit:",
            "    pass",
            "print([m for m in ('torch', 'transformers') if m in sys.modules], file=sys.stderr)",
        ]
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


@pytest.mark.parametrize(
    "first",
    [
        "import ts_florence",
        "import transformers.pipelines, ts_florence",  # transformers' Auto classes loaded before ts-florence
        # ts-florence's own modules import transformers' Auto classes, and are not imported half-way by the
        # registration that waits for those
        "from ts_florence import TSFlorenceForConditionalGeneration",
        "from ts_florence import TSFlorenceConfig",
        "from ts_florence.pipeline import TimeSeriesPromptingPipeline",
        "from ts_florence.tokenization_ts_florence import train_tokenizer",
    ],
)
def test_auto_classes_and_pipeline_know_ts_florence_whatever_is_imported_first(first):
    code = "\n".join(
        [
            first,
            "from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoProcessor",
            "from transformers.pipelines import PIPELINE_REGISTRY",
            "config = AutoConfig.for_model('ts_florence')",
            "print(type(config).__name__)",
            "print(AutoModelForSeq2SeqLM._model_mapping[type(config)].__name__)",
            "from transformers.models.auto.processing_auto import PROCESSOR_MAPPING",
            "print(PROCESSOR_MAPPING[type(config)].__name__)",
            "print('time-series-prompting' in PIPELINE_REGISTRY.get_supported_tasks())",
        ]
    )
    assert run_python(code).split() == [
        "TSFlorenceConfig",
        "TSFlorenceForConditionalGeneration",
        "TSFlorenceProcessor",
        "True",
    ]
