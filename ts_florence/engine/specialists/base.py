"""The specialist's contract: a callable on `values` `[channels x time]` that returns the annotations it produces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ...records import span
from ..phrases import describe_event
from .analysis import as_channels


class Specialist:
    """Base of all specialists: `specialist(values, timestamps=None) -> dict` of the keys in `produces`."""

    name: ClassVar[str] = "specialist"  # provenance `source` of everything it adds
    produces: ClassVar[tuple[str, ...]] = ()  # subset of ("spans", "segments", "change_points", "description")

    def __call__(self, values: np.ndarray, timestamps: Sequence[str] | None = None) -> dict[str, Any]:
        """Annotate `values` `[channels x time]` (NaN = missing); `timestamps`: one ISO 8601 string per sample."""
        raise NotImplementedError

    @staticmethod
    def _check(values: np.ndarray, timestamps: Sequence[str] | None) -> np.ndarray:
        array = as_channels(values)
        if timestamps is not None and len(timestamps) != array.shape[1]:
            raise ValueError(f"timestamps ({len(timestamps)}) != samples ({array.shape[1]})")
        return array

    @staticmethod
    def _channel(index: int, n_channels: int) -> int | None:
        # A univariate series' spans concern "every channel": no `<ch_0>` token in front of each of them.
        return None if n_channels == 1 else index

    def _span(
        self, start: int, end: int, label: str, kind: str, *, channel: int | None, magnitude: float | None, score: float
    ) -> dict[str, Any]:
        """A span this specialist found (`source` = its name), described in short ("spike of +4.1")."""
        description = describe_event(label, magnitude, end - start)
        return span(start, end, label, kind, channel=channel, description=description, score=score, source=self.name)
