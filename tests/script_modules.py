"""The scripts of `scripts/` as modules, for the tests that call their `main` or helpers: loaded from their files
(as `tests/test_refine.py` loads run_rounds), not through `sys.path`. What scripts share lives in the library."""

import functools
import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@functools.cache
def load_script(name: str):
    """The module of `scripts/{name}.py`, loaded once per test session."""
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look their module up here
    spec.loader.exec_module(module)
    return module
