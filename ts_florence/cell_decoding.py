"""Cell decoding: the decoder's answer, plus what the cell head sees and the answer leaves out.

The model's cell head (`TSFlorenceConfig.cell_head_weight`) predicts for every cell of every channel whether it
lies inside an anomaly (or an event). Read whole, it finds more of the anomalies of real series than the decoder
writes: on NAB's 47 real series (the bundled model, whole series) the decoder's answer scores event-wise F1
0.182 / affiliation F1 0.364, the cell head's runs above 0.3 alone 0.419 / 0.715; but on the frozen split its
runs are loose (F1@0.5 0.21 against the answer's 0.54), and the decoder's boundaries are the better ones where it
answers. Cell decoding keeps both halves of the model in one answer:

1. the decoder generates its answer as usual;
2. spans: the runs of samples whose cell-head probability (the largest over channels) reaches the task's
   threshold (`generation_config.cell_thresholds`, chosen on the dev sets by `scripts/choose_windows.py`), runs
   less than three cells apart joined. Those that overlap a span of the answer are dropped: the answer already
   has them;
3. channels, by the cell head (`span_channel`): a span concerns the channel whose mean probability inside it is
   highest, or every channel (None) when all reach the threshold there (univariate series: None). This holds for
   the spans of the answer too, whose written `<ch_k>` it replaces on a multivariate series: the decoder's channel
   token is near chance. On 300 multivariate training series with exact truth (`scripts/channel_accuracy.py`), of
   the bundled model's spans matched to a true span at IoU 0.5, 0.570 named its channel when the answer's spans kept
   their `<ch_k>`, 0.976 when they took the cell head's, and 0.543 when they took the channel whose
   `label<ch_k><loc_a><loc_b>` the decoder finds most likely;
4. labels: the decoder's, by its own likelihood: for each added span, the label `L` of the task's vocabulary that
   maximises the probability of writing `L<ch_k><loc_a><loc_b>` as the answer's first item (teacher-forced, the
   location pointer included), i.e. the label the decoder would give that span;
5. text: the answer followed by `L<ch_k><loc_a><loc_b>` for each added span, in the task's grammar
   (`tasks.span_to_text`; `<ch_k>` only for a channel), parsed back by the processor like any generated answer,
   with the added span's score (its mean probability) on every character of it. On a multivariate series the
   answer's own items are written anew the same way with their channel (`attributed`), each keeping its label
   and, on every character, its score.

This module holds the model-free parts (spans from scores, the added text); the pipeline runs the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .tasks import span_to_text
from .vocabulary import ANOMALY_LABELS, EVENT_LABELS

CELL_LABEL_CHOICES: dict[str, tuple[str, ...]] = {
    "<ANOMALY_DETECTION>": ANOMALY_LABELS,
    "<EVENT_DETECTION>": EVENT_LABELS,
}
"""The labels the decoder chooses from for a cell-decoded span of each task."""


class CellSpan(NamedTuple):
    start: int
    end: int  # exclusive
    channel: int | None
    score: float  # mean over the span of the probability (the largest over channels); an answer's span: its own


def runs_above(scores: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Half-open runs `[start, end)` of consecutive samples whose score reaches `threshold`."""
    on = np.concatenate([[False], np.asarray(scores) >= threshold, [False]])
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def cell_spans(per_channel: np.ndarray, threshold: float, join_gap: int = 0) -> list[CellSpan]:
    """Spans of per-sample scores `[channels x length]` (see the module docstring, step 1); runs less than
    `join_gap` samples apart are one span (a probability that dips below the threshold for a cell or two inside
    one defect does not cut it in pieces)."""
    per_channel = np.asarray(per_channel, dtype=np.float64)
    if per_channel.ndim != 2:
        raise ValueError(f"scores must be [channels x length], got shape {per_channel.shape}")
    if not 0 < threshold < 1:
        raise ValueError(f"a cell threshold is a probability in (0, 1), got {threshold}")
    top = per_channel.max(0)
    runs: list[tuple[int, int]] = []
    for start, end in runs_above(top, threshold):
        if runs and start - runs[-1][1] < join_gap:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return [
        CellSpan(start, end, span_channel(per_channel, start, end, threshold), float(top[start:end].mean()))
        for start, end in runs
    ]


def span_channel(per_channel: np.ndarray, start: int, end: int, threshold: float) -> int | None:
    """The channel the span `[start, end)` (samples) concerns by per-sample scores `[channels x length]`: the one
    whose mean score inside it is highest, or None (every channel) when every channel's mean reaches `threshold`
    or the series has one channel."""
    if len(per_channel) == 1:
        return None
    means = np.asarray(per_channel, dtype=np.float64)[:, start:end].mean(1)
    return None if (means >= threshold).all() else int(means.argmax())


def attributed(
    result: Mapping[str, Any], per_channel: np.ndarray, threshold: float
) -> tuple[list[CellSpan], list[str]]:
    """The spans of a parsed answer (`{"spans", "labels", "scores"}`, samples) with the channel `span_channel`
    gives each, as `CellSpan`s keeping their scores, and their labels: what `cell_answer` writes anew."""
    spans = [
        CellSpan(start, end, span_channel(per_channel, start, end, threshold), score)
        for (start, end), score in zip(result["spans"], result["scores"], strict=True)
    ]
    return spans, list(result["labels"])


def missing_spans(spans: Sequence[CellSpan], written: Sequence[Sequence[int]]) -> list[CellSpan]:
    """The cell spans that overlap none of the `written` spans (`[start, end)`, the decoder's answer)."""
    return [s for s in spans if not any(s.start < end and start < s.end for start, end in written)]


def cell_answer(spans: Sequence[CellSpan], labels: Sequence[str], length: int) -> tuple[str, list[float]]:
    """`(text, one score per character)` of the answer that gives each span its label: what
    `TSFlorenceProcessor.post_process_generation` reads (`char_scores`), so each parsed span's score is its own."""
    if len(spans) != len(labels):
        raise ValueError(f"{len(spans)} spans and {len(labels)} labels")
    pieces, scores = [], []
    for span, label in zip(spans, labels, strict=True):
        piece = span_prefix(span, label, length)
        pieces.append(piece)
        scores += [round(span.score, 4)] * len(piece)
    return "".join(pieces), scores


def span_prefix(span: CellSpan, label: str, length: int) -> str:
    """The first item of an answer that gives `span` the label `label` (what the decoder's likelihood scores)."""
    return label + span_to_text(span.start, span.end, length, span.channel)


__all__ = [
    "CELL_LABEL_CHOICES",
    "CellSpan",
    "attributed",
    "cell_answer",
    "cell_spans",
    "missing_spans",
    "runs_above",
    "span_channel",
    "span_prefix",
]
