"""The models shipped inside the package (`ts_florence/pretrained/<name>/`, put there by `scripts/bundle_model.py`):
what `ts-florence predict` and `pipeline("time-series-prompting")` use when no model is given, and what
`pretrained_path()` hands to the Auto classes, offline:

    from transformers import AutoModelForSeq2SeqLM, AutoProcessor
    import ts_florence

    model = AutoModelForSeq2SeqLM.from_pretrained(ts_florence.pretrained_path())
    processor = AutoProcessor.from_pretrained(ts_florence.pretrained_path())
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

BUNDLED_FOLDER = "pretrained"
"""Folder of the package that holds the bundled models, one subfolder each."""
DEFAULT_MODEL = "ts-florence-tiny"
"""The bundled model used when none is named."""
KEPT = ("trainer_log.jsonl", "train_results.json", "run_config.yaml")
"""Files of a bundled model's source folder copied beside it, when it has them: how it was trained."""
LIMIT_BYTES = 50_000_000
"""What a bundled model may weigh (weights, config and tokenizer)."""


def bundled_models() -> list[str]:
    """Names of the models this installation ships (folders of `pretrained/` that hold a config.json)."""
    root = Path(str(resources.files("ts_florence"))) / BUNDLED_FOLDER
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())


def pretrained_path(name: str = DEFAULT_MODEL) -> Path:
    """The folder of the bundled model `name`, for `from_pretrained`. ValueError naming the models there are when
    this installation does not ship it."""
    if name not in bundled_models():
        shipped = ", ".join(bundled_models()) or "none"
        raise ValueError(
            f"no bundled model {name!r} in this installation (bundled: {shipped}); give the folder of a saved "
            "model instead, or bundle one with scripts/bundle_model.py"
        )
    return Path(str(resources.files("ts_florence"))) / BUNDLED_FOLDER / name


def default_model_path() -> Path | None:
    """The default bundled model's folder, or None when this installation has none."""
    return pretrained_path() if DEFAULT_MODEL in bundled_models() else None


def bundle(source: Path, dest: Path, store_dtype: str = "float16", recipe: str = "", command: str = "") -> int:
    """Writes a bundled model folder at `dest` from the saved model `source`, weights stored in `store_dtype` while
    `config.json` says float32 (the model loads and runs in float32); the training log and the `recipe` (the
    commands that made it, then `command`) beside it. Built in a temporary folder, loaded and run once, then moved
    into place whole (`io.directory_in_place`). Returns its size in bytes (without the log); ValueError when over
    `LIMIT_BYTES`."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoProcessor, pipeline

    from .io import check_model_folder, directory_in_place

    check_model_folder(source)
    with directory_in_place(Path(dest)) as tmp:
        model = AutoModelForSeq2SeqLM.from_pretrained(source, dtype=torch.float32)
        model.to(getattr(torch, store_dtype)).save_pretrained(tmp)
        AutoProcessor.from_pretrained(source).save_pretrained(tmp)
        config = json.loads((tmp / "config.json").read_text())
        config["dtype"] = "float32"  # computed in float32 whatever the stored width
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        for name in KEPT:
            if (Path(source) / name).is_file():
                shutil.copy2(Path(source) / name, tmp / name)
        (tmp / "RECIPE.md").write_text(
            f"Made by:\n\n```bash\n{recipe.strip()}\n{command}\n```\n\nWeights stored in {store_dtype}, computed in "
            "float32.\n"
        )
        for path in tmp.iterdir():
            path.chmod(0o644)  # save_pretrained's temporary files are private to their owner
        size = sum(p.stat().st_size for p in tmp.iterdir() if p.name != "trainer_log.jsonl")
        if size > LIMIT_BYTES:
            raise ValueError(f"{size / 1e6:.1f} MB is more than a bundled model may weigh ({LIMIT_BYTES / 1e6:.0f} MB)")
        pipe = pipeline("time-series-prompting", model=str(tmp))  # loads and runs, or raises here
        pipe([0.0, 1.0, 0.0, 1.0] * 32, task="<CAPTION>", generate_kwargs={"max_new_tokens": 8})
    return size
