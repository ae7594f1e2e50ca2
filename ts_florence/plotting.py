"""Draw a series with a post-processed ts-florence result on it: spans, regime segments, points and text; and the
reliability diagram of a model's item scores (`plot_reliability`).

matplotlib is imported only when `plot_result` runs, so the library imports without it. Figures are
built as `matplotlib.figure.Figure` objects on an Agg canvas and never touch pyplot's global state, so
the user's backend and open figures are left alone.
"""

from __future__ import annotations

import logging
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .io import file_in_place

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

MAX_CHANNELS = 64  # the vocabulary has channel tokens <ch_0> ... <ch_63>
_COMPACT_ABOVE = 8  # more channels than this get short rows without y ticks
_SEGMENTATION_TASK = "<REGIME_SEGMENTATION>"
_CHANGE_POINT_LABEL = "change point"
_DEFAULT_SPAN_LABEL = "span"
_SERIES_COLOUR = "#303030"  # neutral, so that no span colour is mistaken for the series
_FIGURE_WIDTH = 12.0  # inches
_MAX_LABEL_CHARS = 40  # longer labels (dense span captions) are cut short in the legend and on spans
_WRAP_CHARS = 120  # caption line length that fits the figure width at the caption font size


@dataclass
class _Span:
    start: int  # sample index, inclusive
    end: int  # sample index, exclusive
    label: str
    channel: int | None  # None: all channels
    score: float | None


def plot_result(
    values: Any,
    result: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    path: str | os.PathLike | None = None,
    *,
    timestamps: Any = None,
    channel_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Draws the series with the result on it, one row per channel, and saves the figure when `path` is given.

    Args:
        values: the series, array-like of shape `(time,)` or `(time, channels)`, at most 64 channels. A
            pandas Series or DataFrame with a `DatetimeIndex` gives the timestamps, and a DataFrame's columns
            the channel names, unless those are passed.
        result: a post-processed result, `{"<TASK>": {...}}`, as returned by
            `processor.post_process_generation` or the pipeline; or a list of them (several tasks on one
            series). The inner dict may hold `spans` (`[[start, end], ...]`, half-open, in samples),
            `labels`, `channels` (int, or None for all channels), `scores` (float or None), `points`
            (sample indices) and `text`; a list of such dicts, or a plain string (as text), is accepted too.
            `scores` belong to the spans when there are spans, else to the points.
        path: where to save the figure; the extension picks the format (`.png`, `.svg`, `.pdf`, ...). The
            file is written next to its final place and renamed into it, so it is never half-written.
        timestamps: one timestamp per sample; the x axis then shows time instead of the sample index.
            Timezone-aware timestamps are drawn at their local wall-clock time.
        channel_names: one name per channel, shown on the y axes.
        title: the figure title; default: the task names.

    Returns:
        The `matplotlib.figure.Figure`, with one `Axes` per channel.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: `values` has the wrong shape or too many channels, `timestamps` or `channel_names` have
            the wrong length, or `path` has an extension matplotlib cannot write.
    """
    try:
        import matplotlib  # noqa: F401  (first: a submodule imported before is found even when matplotlib is not)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from err

    save_format = None if path is None else check_plot_path(path)
    data, index_timestamps, column_names = _as_2d(values)
    n_time, n_channels = data.shape
    if timestamps is None:
        timestamps = index_timestamps
    if channel_names is None:
        channel_names = column_names
    x = np.arange(n_time, dtype=np.float64) if timestamps is None else _as_datetimes(timestamps, n_time)
    edges = _sample_edges(x)
    names = _channel_names(channel_names, n_channels)
    items = _result_items(result)

    compact = n_channels > _COMPACT_ABOVE
    row_height = 0.55 if compact else 2.0
    figure = Figure(figsize=(_FIGURE_WIDTH, 1.2 + row_height * n_channels), layout="constrained")
    FigureCanvasAgg(figure)
    if compact:
        figure.get_layout_engine().set(h_pad=0.01, hspace=0.0)
    axes = _draw_series(figure, data, x, edges, names, compact)
    handles, texts = _draw_results(axes, items, x, edges, text_size=6 if compact else 8)
    _label_figure(figure, axes, items, handles, texts, title, with_time=timestamps is not None)
    if path is not None:
        _save_atomically(figure, Path(path), save_format)
    return figure


def plot_reliability(
    diagrams: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    path: str | os.PathLike | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Draws reliability diagrams, one panel per entry of `diagrams` (e.g. a task), and saves the figure when
    `path` is given (written beside its place and renamed into it, as `plot_result` does).

    `diagrams[panel][curve]` is a list of bins, each `{"lower", "upper", "count", "mean_score", "accuracy"}` (scores
    and accuracy in [0, 1], as `ts_florence.evaluation.metrics.reliability_bins` gives): each curve (e.g. "raw",
    "calibrated") is drawn as the accuracy of its non-empty bins against their mean score, a marker's area growing
    with the bin's count, beside the diagonal of calibrated scores; the curve's name is its legend entry.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    save_format = None if path is None else check_plot_path(path)
    if not diagrams:
        raise ValueError("plot_reliability needs at least one diagram")
    figure = Figure(figsize=(4.0 * len(diagrams), 4.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(diagrams), squeeze=False)[0]
    for ax, (panel, curves) in zip(axes, diagrams.items(), strict=True):
        ax.plot([0, 1], [0, 1], color=_SERIES_COLOUR, linestyle="--", linewidth=0.8, label="calibrated scores")
        for name, bins in curves.items():
            shown = [b for b in bins if b["count"]]
            total = max(sum(b["count"] for b in shown), 1)
            x, y = [b["mean_score"] for b in shown], [b["accuracy"] for b in shown]
            (line,) = ax.plot(x, y, linewidth=1.2, label=name)
            ax.scatter(x, y, s=[12 + 300 * b["count"] / total for b in shown], color=line.get_color(), alpha=0.6)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("mean score of the bin")
        ax.legend(fontsize=7, loc="lower right", frameon=False)
    axes[0].set_ylabel("fraction of the bin's items that are right")
    if title:
        figure.suptitle(title, fontsize=11)
    if path is not None:
        _save_atomically(figure, Path(path), save_format)
    return figure


def _draw_series(
    figure: Figure, data: np.ndarray, x: np.ndarray, edges: np.ndarray, names: list[str], compact: bool
) -> list[Axes]:
    """One row of axes per channel, sharing the x axis, each with its channel drawn and named."""
    n_time, n_channels = data.shape
    axes = list(figure.subplots(n_channels, 1, sharex=True, squeeze=False)[:, 0])
    for ax, name, column in zip(axes, names, data.T, strict=True):
        # One sample makes a line of no length: draw it as a dot, in the width of its sample.
        marker = "o" if n_time == 1 else None
        ax.plot(x, column, color=_SERIES_COLOUR, linewidth=0.6 if compact else 0.9, marker=marker, zorder=2)
        ax.margins(x=0)
        if n_time == 1:
            ax.set_xlim(edges[0], edges[-1])
        if compact:
            ax.tick_params(left=False, labelleft=False)
            ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
        else:
            ax.set_ylabel(name, fontsize=9)
    return axes


def _draw_results(
    axes: list[Axes], items: list[tuple[str, Mapping]], x: np.ndarray, edges: np.ndarray, text_size: int
) -> tuple[list[Artist], list[str]]:
    """Draws the spans, segments and points of every task's result; returns the legend's handles (a colour per
    span label, the change-point line) and the texts of the results, each after its task's name."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n_time, n_channels = len(x), len(axes)
    span_lists = [(task, _spans(item, task, n_time, n_channels)) for task, item in items]
    span_labels = list(
        dict.fromkeys(s.label for task, spans in span_lists if task != _SEGMENTATION_TASK for s in spans)
    )
    palette = colormaps["tab10" if len(span_labels) <= 10 else "tab20"].colors
    colours = {label: palette[i % len(palette)] for i, label in enumerate(span_labels)}
    handles: list[Artist] = [Patch(facecolor=colours[label], alpha=0.4, label=_shorten(label)) for label in span_labels]

    texts = []
    has_points = False
    for (task, item), (_, spans) in zip(items, span_lists, strict=True):
        if task == _SEGMENTATION_TASK:
            _draw_segments(axes, spans, edges, text_size)
        else:
            _draw_spans(axes, spans, edges, colours, text_size)
        has_points |= _draw_points(axes, item, x, text_size)
        if item.get("text"):
            texts.append(f"{_task_name(task)}: {item['text']}")
    if has_points:
        handles.append(Line2D([], [], color=_SERIES_COLOUR, linestyle="--", label=_CHANGE_POINT_LABEL))
    return handles, texts


def _label_figure(
    figure: Figure,
    axes: list[Axes],
    items: list[tuple[str, Mapping]],
    handles: list[Artist],
    texts: list[str],
    title: str | None,
    with_time: bool,
) -> None:
    """The legend, the title (default: the task names), the results' texts above the first row and the x axis:
    sample index, or dates when the series has timestamps."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    if handles:
        figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    heading = title if title is not None else " + ".join(dict.fromkeys(_task_name(task) for task, _ in items))
    if heading:
        figure.suptitle(heading, fontsize=11)
    if texts:
        wrapped = "\n".join(textwrap.fill(text, _WRAP_CHARS) for text in texts)
        axes[0].set_title(wrapped, loc="left", fontsize=9)
    if not with_time:
        axes[-1].set_xlabel("sample index")
    else:
        locator = AutoDateLocator()
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
        axes[-1].set_xlabel("time")


def check_plot_path(path: str | os.PathLike) -> str:
    """The format a plot saved to `path` gets (from its extension); ValueError when matplotlib cannot write that
    format or the folder of `path` does not exist, so callers can check before the work that the plot shows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    supported = FigureCanvasAgg.get_supported_filetypes()
    save_format = path.suffix.lower().lstrip(".")
    if save_format not in supported:
        raise ValueError(
            f"cannot save a plot as {path.name!r}: the extension picks the format, one of {sorted(supported)}"
        )
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"cannot save the plot to {path}: the folder {folder} does not exist")
    return save_format


def _save_atomically(figure: Figure, path: Path, save_format: str) -> None:
    with file_in_place(path) as tmp, open(tmp, "xb") as handle:
        figure.savefig(handle, format=save_format)
        handle.flush()
        os.fsync(handle.fileno())
    logger.info("plot written to %s", path)


def _as_2d(values: Any) -> tuple[np.ndarray, pd.DatetimeIndex | None, list[str] | None]:
    """The series as float64 `[time x channels]`, with timestamps and channel names when pandas gave them."""
    index = getattr(values, "index", None)
    timestamps = index if isinstance(index, pd.DatetimeIndex) else None
    names = [str(name) for name in values.columns] if isinstance(values, pd.DataFrame) else None
    data = np.asarray(values, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise ValueError(f"values must have shape (time,) or (time, channels), got {data.shape}")
    if data.shape[0] == 0:
        raise ValueError("values holds no samples")
    if data.shape[1] > MAX_CHANNELS:
        raise ValueError(f"plot_result draws up to {MAX_CHANNELS} channels, got {data.shape[1]}")
    return data, timestamps, names


def _as_datetimes(timestamps: Any, n_time: int) -> np.ndarray:
    index = pd.DatetimeIndex(pd.to_datetime(timestamps))
    if len(index) != n_time:
        raise ValueError(f"timestamps ({len(index)}) != samples in values ({n_time})")
    if index.tz is not None:
        index = index.tz_localize(None)
    return index.to_numpy()


def _sample_edges(x: np.ndarray) -> np.ndarray:
    """`n + 1` edges halfway between samples: span `[s, e)` is drawn from `edges[s]` to `edges[e]`.

    Drawing a span from its first to its last sample would give a one-sample span no width at all.
    """
    if len(x) == 1:
        half = np.timedelta64(500, "ms") if np.issubdtype(x.dtype, np.datetime64) else 0.5
        return np.array([x[0] - half, x[0] + half])
    steps = np.diff(x)
    inner = x[:-1] + steps / 2
    return np.concatenate([[x[0] - steps[0] / 2], inner, [x[-1] + steps[-1] / 2]])


def _channel_names(channel_names: Sequence[str] | None, n_channels: int) -> list[str]:
    if channel_names is None:
        return [""] if n_channels == 1 else [f"ch {i}" for i in range(n_channels)]
    names = [str(name) for name in channel_names]
    if len(names) != n_channels:
        raise ValueError(f"channel_names ({len(names)}) != channels in values ({n_channels})")
    return names


def _result_items(result: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[tuple[str, Mapping]]:
    """Flattens a result, or a list of results, into `(task token, inner dict)` pairs."""
    results = [result] if isinstance(result, Mapping) else list(result)
    items = []
    for one in results:
        if not isinstance(one, Mapping):
            raise TypeError(f"a result must be a dict like {{'<TASK>': {{...}}}}, got {type(one).__name__}")
        for task, value in one.items():
            # Florence-2 returns text tasks as {"<CAPTION>": "..."}
            inner = {"text": value} if isinstance(value, str) else value
            items.extend((task, each) for each in ([inner] if isinstance(inner, Mapping) else inner))
    return items


def _spans(item: Mapping, task: str, n_time: int, n_channels: int) -> list[_Span]:
    """The item's spans, clipped to the series; spans that cannot be drawn are dropped with a warning."""
    raw = _as_list(item.get("spans"))
    labels, channels, scores = (_as_list(item.get(key)) for key in ("labels", "channels", "scores"))
    spans = []
    for i, pair in enumerate(raw):
        try:
            start, end = (int(bound) for bound in pair)
        except (TypeError, ValueError):
            logger.warning("%s: skipping span %r, which is not a [start, end] pair", task, pair)
            continue
        clipped_start, clipped_end = max(start, 0), min(end, n_time)
        if clipped_end <= clipped_start:
            logger.warning("%s: skipping span [%d, %d), empty within %d samples", task, start, end, n_time)
            continue
        if (clipped_start, clipped_end) != (start, end):
            logger.warning("%s: span [%d, %d) clipped to the series' %d samples", task, start, end, n_time)
        channel = _at(channels, i)
        if channel is not None and not 0 <= int(channel) < n_channels:
            logger.warning("%s: skipping span on channel %s; the series has %d", task, channel, n_channels)
            continue
        score = _at(scores, i)
        spans.append(
            _Span(
                start=clipped_start,
                end=clipped_end,
                label=str(_at(labels, i) or _DEFAULT_SPAN_LABEL),
                channel=None if channel is None else int(channel),
                score=None if score is None else float(score),
            )
        )
    return spans


def _draw_spans(
    axes: list[Axes],
    spans: list[_Span],
    edges: np.ndarray,
    colours: dict[str, tuple[float, ...]],
    text_size: int,
) -> None:
    for span in spans:
        targets = axes if span.channel is None else [axes[span.channel]]
        colour = colours[span.label]
        for ax in targets:
            ax.axvspan(edges[span.start], edges[span.end], color=colour, alpha=0.25, linewidth=0, zorder=1)
        text = _shorten(span.label) if span.score is None else f"{_shorten(span.label)} {span.score:.2f}"
        # One caption per span, on its top row, keeps many-channel figures readable.
        targets[0].text(
            edges[span.start],
            0.97,
            text,
            transform=targets[0].get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=text_size,
            color=colour,
            clip_on=True,
            zorder=3,
        )


def _draw_segments(axes: list[Axes], spans: list[_Span], edges: np.ndarray, text_size: int) -> None:
    for number, span in enumerate(spans):
        targets = axes if span.channel is None else [axes[span.channel]]
        alpha = 0.22 if number % 2 == 0 else 0.08
        for ax in targets:
            ax.axvspan(edges[span.start], edges[span.end], color="0.45", alpha=alpha, linewidth=0, zorder=0)
        text = _shorten(span.label) if span.score is None else f"{_shorten(span.label)} {span.score:.2f}"
        middle = edges[span.start] + (edges[span.end] - edges[span.start]) / 2
        targets[0].text(
            middle,
            0.97,
            text,
            transform=targets[0].get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=text_size,
            color="0.15",
            clip_on=True,
            zorder=3,
        )


def _draw_points(axes: list[Axes], item: Mapping, x: np.ndarray, text_size: int) -> bool:
    """Draws the item's points as dashed lines on every channel; returns whether it drew any."""
    scores = [] if _as_list(item.get("spans")) else _as_list(item.get("scores"))
    drawn = False
    for i, point in enumerate(_as_list(item.get("points"))):
        index = int(point)
        if not 0 <= index < len(x):
            logger.warning("skipping point %d, outside the %d samples of the series", index, len(x))
            continue
        for ax in axes:
            ax.axvline(x[index], color=_SERIES_COLOUR, linestyle="--", linewidth=1.0, zorder=3)
        score = _at(scores, i)
        if score is not None:
            axes[0].text(
                x[index],
                0.03,
                f" {float(score):.2f}",
                transform=axes[0].get_xaxis_transform(),
                ha="left",
                va="bottom",
                fontsize=text_size,
                clip_on=True,
            )
        drawn = True
    return drawn


def _as_list(value: Any) -> list:
    return [] if value is None else list(value)


def _at(values: list, i: int) -> Any:
    return values[i] if i < len(values) else None


def _shorten(label: str) -> str:
    return label if len(label) <= _MAX_LABEL_CHARS else label[: _MAX_LABEL_CHARS - 1] + "…"


def _task_name(task: str) -> str:
    return task.strip("<>")
