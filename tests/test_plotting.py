import importlib
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from ts_florence import plotting
from ts_florence.plotting import plot_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def series(n=200, channels=1):
    t = np.arange(n)
    values = np.stack([np.sin(t / (8 + c)) + 0.1 * c for c in range(channels)], axis=1)
    return values[:, 0] if channels == 1 else values


def assert_png(path: Path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000
    assert os.listdir(path.parent) == [path.name], "a temporary file was left behind"


def legend_texts(figure):
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def axes_texts(ax):
    return [text.get_text() for text in ax.texts]


def test_anomaly_result_is_drawn_with_one_legend_entry_per_label_and_scores_on_spans(tmp_path):
    result = {
        "<ANOMALY_DETECTION>": {
            "spans": [[20, 21], [60, 80], [150, 160]],
            "labels": ["spike", "level_shift", "spike"],
            "channels": [None, None, None],
            "scores": [0.93, 0.71, None],
        }
    }
    out = tmp_path / "anomaly.png"
    figure = plot_result(series(), result, out)
    assert_png(out)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 1
    assert legend_texts(figure) == ["spike", "level_shift"]
    assert axes_texts(figure.axes[0]) == ["spike 0.93", "level_shift 0.71", "spike"]
    assert figure._suptitle.get_text() == "ANOMALY_DETECTION"


def test_one_sample_span_covers_its_sample(tmp_path):
    figure = plot_result(series(), {"<ANOMALY_DETECTION>": {"spans": [[20, 21]], "labels": ["spike"]}})
    patch = figure.axes[0].patches[0]
    x0, x1 = patch.get_x(), patch.get_x() + patch.get_width()
    assert (x0, x1) == pytest.approx((19.5, 20.5))


def test_segmentation_is_drawn_as_alternating_bands_labelled_inside(tmp_path):
    result = {
        "<REGIME_SEGMENTATION>": {
            "spans": [[0, 70], [70, 140], [140, 200]],
            "labels": ["calm", "trending up", "noisy"],
        }
    }
    out = tmp_path / "segments.png"
    figure = plot_result(series(), result, out, title="segments")
    assert_png(out)
    ax = figure.axes[0]
    assert axes_texts(ax) == ["calm", "trending up", "noisy"]
    alphas = [patch.get_alpha() for patch in ax.patches]
    assert len(alphas) == 3 and alphas[0] == alphas[2] != alphas[1]
    assert figure.legends == []
    assert figure._suptitle.get_text() == "segments"


def test_change_points_are_dashed_lines_on_every_channel(tmp_path):
    result = {"<CHANGE_POINT_DETECTION>": {"points": [50, 120], "scores": [0.8, None]}}
    out = tmp_path / "points.png"
    figure = plot_result(series(channels=2), result, out)
    assert_png(out)
    assert len(figure.axes) == 2
    for ax in figure.axes:
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert [line.get_xdata()[0] for line in dashed] == [50, 120]
    assert legend_texts(figure) == ["change point"]
    assert axes_texts(figure.axes[0]) == [" 0.80"]


def test_multichannel_spans_with_timestamps_go_on_their_channel_at_the_sample_times(tmp_path):
    n = 96
    timestamps = pd.date_range("2024-05-01", periods=n, freq="h")
    result = {
        "<EVENT_DETECTION>": {
            "spans": [[10, 20], [40, 41], [70, 90]],
            "labels": ["peak", "dip", "flat line"],
            "channels": [1, 2, None],
            "scores": [0.9, 0.6, 0.75],
        }
    }
    out = tmp_path / "multi.png"
    figure = plot_result(
        series(n, channels=3), result, out, timestamps=timestamps, channel_names=["temp", "rh", "wind"]
    )
    assert_png(out)
    top, middle, bottom = figure.axes
    assert [ax.get_ylabel() for ax in figure.axes] == ["temp", "rh", "wind"]
    assert len(top.patches) == 1 and len(middle.patches) == 2 and len(bottom.patches) == 2
    assert set(legend_texts(figure)) == {"peak", "dip", "flat line"}
    peak = middle.patches[0]
    half_step = pd.Timedelta(minutes=30)
    expected = date2num([timestamps[10] - half_step, timestamps[19] + half_step])
    assert (peak.get_x(), peak.get_x() + peak.get_width()) == pytest.approx(tuple(expected))
    assert axes_texts(middle) == ["peak 0.90"]
    assert axes_texts(top) == ["flat line 0.75"]


def test_several_tasks_are_drawn_together_and_text_becomes_the_subtitle(tmp_path):
    results = [
        {"<CAPTION>": {"text": "A slow sine wave with a spike near sample twenty."}},
        {"<ANOMALY_DETECTION>": {"spans": [[20, 22]], "labels": ["spike"]}},
        {"<CHANGE_POINT_DETECTION>": {"points": [100]}},
    ]
    figure = plot_result(series(), results, tmp_path / "all.svg")
    assert (tmp_path / "all.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert legend_texts(figure) == ["spike", "change point"]
    assert figure.axes[0].get_title(loc="left").startswith("CAPTION: A slow sine wave")
    assert figure._suptitle.get_text() == "CAPTION + ANOMALY_DETECTION + CHANGE_POINT_DETECTION"


def test_many_channels_use_a_compact_layout(tmp_path):
    result = {"<ANOMALY_DETECTION>": {"spans": [[5, 9]], "labels": ["spike"], "channels": [11]}}
    out = tmp_path / "many.pdf"
    figure = plot_result(series(120, channels=12), result, out)
    assert out.read_bytes()[:4] == b"%PDF"
    assert len(figure.axes) == 12
    assert figure.get_figheight() < 12 * 2.0
    assert all(not ax.yaxis.get_tick_params()["left"] for ax in figure.axes)
    assert len(figure.axes[11].patches) == 1 and not figure.axes[0].patches


def test_dataframe_with_datetime_index_gives_timestamps_and_channel_names():
    frame = pd.DataFrame(series(48, channels=2), columns=["a", "b"])
    frame.index = pd.date_range("2024-01-01", periods=48, freq="30min", tz="Europe/Paris")
    figure = plot_result(frame, {"<CHANGE_POINT_DETECTION>": {"points": [24]}})
    assert [ax.get_ylabel() for ax in figure.axes] == ["a", "b"]
    assert figure.axes[-1].get_xlabel() == "time"


def test_spans_outside_the_series_are_clipped_or_dropped_with_a_warning(caplog):
    result = {
        "<ANOMALY_DETECTION>": {
            "spans": [[190, 250], [300, 310], [10, 20]],
            "labels": ["a", "b", "c"],
            "channels": [None, None, 5],
        }
    }
    figure = plot_result(series(), result)
    assert len(figure.axes[0].patches) == 1
    assert "clipped" in caplog.text and "skipping span [300, 310)" in caplog.text
    assert "skipping span on channel 5" in caplog.text


def test_failed_save_leaves_neither_the_file_nor_a_temporary_one(tmp_path, monkeypatch):
    def broken_savefig(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_result(series(), {"<CAPTION>": "a sine"}, tmp_path / "out.png")
    assert os.listdir(tmp_path) == []


def test_unknown_image_extension_raises_before_writing(tmp_path):
    with pytest.raises(ValueError, match="extension picks the format"):
        plot_result(series(), {"<CAPTION>": "a sine"}, tmp_path / "out.bmpx")
    assert os.listdir(tmp_path) == []


def test_a_missing_folder_is_named_before_anything_is_drawn(tmp_path):
    out = tmp_path / "no such folder" / "out.png"
    with pytest.raises(ValueError, match=r"out\.png: the folder .*no such folder does not exist$"):
        plot_result(series(), {"<CAPTION>": "a sine"}, out)
    assert os.listdir(tmp_path) == []


def test_a_one_sample_series_is_drawn_as_a_dot_in_the_width_of_its_sample(tmp_path):
    out = tmp_path / "one.png"
    figure = plot_result([3.0], {"<ANOMALY_DETECTION>": {"spans": [[0, 1]], "labels": ["spike"]}}, out)
    assert_png(out)
    ax = figure.axes[0]
    (line,) = ax.lines
    assert line.get_marker() == "o"
    assert ax.get_xlim() == pytest.approx((-0.5, 0.5))
    assert ax.get_ylim()[0] < 3.0 < ax.get_ylim()[1]


def test_mismatched_timestamps_and_channel_names_raise():
    with pytest.raises(ValueError, match=r"timestamps \(3\) != samples in values \(200\)"):
        plot_result(series(), {}, timestamps=pd.date_range("2024-01-01", periods=3))
    with pytest.raises(ValueError, match=r"channel_names \(1\) != channels in values \(2\)"):
        plot_result(series(channels=2), {}, channel_names=["a"])


def test_module_imports_without_matplotlib_and_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes every matplotlib import fail
    reloaded = importlib.reload(plotting)
    with pytest.raises(ImportError, match=r"^plotting needs matplotlib: pip install matplotlib$"):
        reloaded.plot_result([1.0, 2.0], {})
