"""The settings of one refinement round, and the tasks a model may annotate the corpus with."""

from __future__ import annotations

from dataclasses import dataclass

from ...tasks import TASKS

MODEL_TASKS = tuple(token for token, spec in TASKS.items() if spec.gate_metric is not None)
"""The tasks whose outputs are corpus annotations (captions and groundings are written from them afterwards): those
whose `TaskSpec` names a `gate_metric`."""


@dataclass
class RefineConfig:
    model_weight: float = 1.0
    """Weight of the model's votes in the merge (the specialists have 1 unless the build config says otherwise)."""
    guard_share: float = 0.5
    """A class whose count falls by more than this share from round 0 to round k+1 is flagged and its round-0
    specialist annotations are restored (against round 0, not round k: a class one round inflated and the next
    brought back is not lost, and a slow drift over rounds is; the audit also lists drops against round k)."""
    tasks: tuple[str, ...] = MODEL_TASKS
    batch_size: int = 16
    """Series per generation call."""
    chunk_size: int = 512
    """Records per pass-1 chunk: the unit of resuming."""
    limit: int | None = None
    """Refine at most this many series (the first ones without exact truth); the others are copied unchanged."""
    max_new_tokens: int | None = None
    """Longest model output per task (default: the model's generation config)."""
    window: int | None = None
    """Read series longer than this in overlapping windows (default: whole, as training read them)."""
    eval_limit: int = 50
    """Examples per task of the frozen split the round's model is scored on; 0 for none."""
    min_gain: float | None = 0.05
    """Skill gate: a task's model outputs join the merge only if the model's score on the frozen split
    (`TaskSpec.gate_metric`) beats the answer that reads nothing by this much; None lets every task in. Without
    frozen-split scores (`eval_limit` 0, or an annotator that is not a model) every task is let in, and the audit
    says so."""
    round: int | None = None
    """The round of the input corpus (default: `round` of its stats.json, or 0)."""

    def __post_init__(self) -> None:
        if self.model_weight < 0:
            raise ValueError(f"model_weight must be >= 0, got {self.model_weight}")
        if not 0 <= self.guard_share <= 1:
            raise ValueError(f"guard_share must be in [0, 1], got {self.guard_share}")
        if self.batch_size < 1 or self.chunk_size < 1:
            raise ValueError(f"batch_size and chunk_size must be >= 1, got {self.batch_size}, {self.chunk_size}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")
        if self.eval_limit < 0:
            raise ValueError(f"eval_limit must be >= 0, got {self.eval_limit}")
        unknown = [t for t in self.tasks if t not in MODEL_TASKS]
        if unknown:
            raise ValueError(f"tasks {unknown} give no corpus annotation; choose from {list(MODEL_TASKS)}")
        self.tasks = tuple(self.tasks)
