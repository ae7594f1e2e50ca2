"""The describer: what a caption may say about each channel, measured (`analysis.describe_channel`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..descriptions import SeriesDescription, sampling_from_timestamps
from .analysis import AnalysisConfig, analyse_all, describe_channel
from .base import Specialist


@dataclass
class RegimeDescriber(Specialist):
    """Describes each channel (`describe_channel`: trend, seasonal periods, noise level, levels and extremes, missing
    fraction) and the sampling of timestamped series. Events and segments are left to the detectors."""

    name: ClassVar[str] = "regime_describer"
    produces: ClassVar[tuple[str, ...]] = ("description",)

    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __call__(
        self, values: np.ndarray, timestamps: Sequence[str] | None = None, channel_names: Sequence[str] | None = None
    ) -> dict[str, Any]:
        return {"description": self.describe(values, timestamps, channel_names)}

    def describe(
        self, values: np.ndarray, timestamps: Sequence[str] | None = None, channel_names: Sequence[str] | None = None
    ) -> SeriesDescription:
        """The `SeriesDescription` of `values` `[channels x time]`; channels named "ch0", ... unless given."""
        array = self._check(values, timestamps)
        names = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(len(array))]
        if len(names) != len(array):
            raise ValueError(f"channel names ({len(names)}) != channels ({len(array)})")
        channels = [
            describe_channel(x, analysis, name)
            for x, analysis, name in zip(array, analyse_all(array, self.analysis), names, strict=True)
        ]
        return SeriesDescription(
            length=array.shape[1], channels=channels, sampling=sampling_from_timestamps(timestamps)
        )
