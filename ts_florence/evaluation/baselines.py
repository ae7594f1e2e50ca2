"""Classical baselines of the benchmark: thin wrappers over the libraries (scikit-learn, stumpy, ruptures, claspy);
input `[channels x time]` (or 1-D), output in sample indices, spans as `<ANOMALY_DETECTION>`'s result.

- `robust_z_spans`: |0.6745 (x - median) / MAD| > 3.5 (Iglewicz and Hoaglin), runs joined across 1% of the length.
- `iforest_window_spans`: scikit-learn IsolationForest on sliding windows; the top 1% windows are anomalies.
- `stumpy_discord_spans`: the top 3 discords of the matrix profile, each a span of the window.
- `ruptures_change_points`: Binseg, l2 cost on the series standardized as TCPDBench prepares them, penalty
  (d + 1) log n.
- `clasp_change_points`: claspy's BinaryClaSPSegmentation with its default settings.

The anomaly baselines' window is `default_window(n)`: n / 100 samples, clipped to [8, 64]. With
`return_point_scores=True` each anomaly baseline also gives the score its spans come from, one per sample
(`"point_scores"`, as the pipeline's `return_point_scores` does, for AUC-PR and VUS-PR): the |z| of robust z, the
windows' IsolationForest scores and the matrix profile, a sample taking the largest of the windows that hold it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..windowing import merge_point_scores
from .datasets import BenchmarkError


def _channels(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"expected values [channels x time], got shape {array.shape}")
    return array


def _filled(x: np.ndarray) -> np.ndarray:
    """The channel with missing values linearly interpolated (constant beyond the ends); all NaN gives zeros."""
    observed = np.isfinite(x)
    if observed.all():
        return x
    if not observed.any():
        return np.zeros_like(x)
    index = np.arange(len(x))
    return np.interp(index, index[observed], x[observed])


def _runs(mask: np.ndarray, gap: int = 0) -> list[tuple[int, int]]:
    """Half-open runs of True, joined when at most `gap` samples apart."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    runs: list[list[int]] = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if runs and start - runs[-1][1] <= gap:
            runs[-1][1] = int(end)
        else:
            runs.append([int(start), int(end)])
    return [(a, b) for a, b in runs]


def default_window(length: int) -> int:
    """Window of the anomaly baselines: 1% of the series, at least 8 and at most 64 samples."""
    return int(np.clip(length // 100, 8, 64))


def span_result(items: list[tuple[int, int, float, int | None]]) -> dict[str, list]:
    items = sorted(items)
    return {
        "spans": [[s, e] for s, e, _, _ in items],
        "labels": ["anomaly"] * len(items),
        "channels": [c for *_, c in items],
        "scores": [float(score) for _, _, score, _ in items],
    }


def _with_point_scores(result: dict[str, list], point_scores: np.ndarray, wanted: bool) -> dict[str, list]:
    """`result` with `"point_scores"` (float64 `[time]`, one per sample) when `wanted`, as the pipeline's
    `return_point_scores` gives them."""
    if wanted:
        result["point_scores"] = np.asarray(point_scores, dtype=np.float64)
    return result


def _window_scores_to_samples(scores: np.ndarray, starts: np.ndarray, window: int, length: int) -> np.ndarray:
    """Per-sample scores `[length]` from one score per window (`window` samples from each of `starts`): each
    sample takes the largest score of the windows that hold it, as the pipeline merges its windows' scores
    (`windowing.merge_point_scores`); a sample that no window holds takes the lowest score."""
    merged = np.asarray(merge_point_scores([np.full(window, score) for score in scores], starts, length))
    return np.where(np.isfinite(merged), merged, np.min(scores))


def _robust_z(array: np.ndarray) -> np.ndarray:
    """|modified z-score| of every sample of every channel `[channels x time]` (see `robust_z_spans`); 0 where a
    value is missing and on a constant channel."""
    out = np.zeros_like(array)
    for c, x in enumerate(array):
        observed = x[np.isfinite(x)]
        if observed.size == 0:
            continue
        median = np.median(observed)
        mad = np.median(np.abs(observed - median))
        if mad > 0:
            z = 0.6745 * (x - median) / mad
        else:
            mean_ad = np.mean(np.abs(observed - median))
            if mean_ad == 0:
                continue
            z = (x - median) / (1.2533 * mean_ad)
        out[c] = np.abs(np.nan_to_num(z, nan=0.0))
    return out


def robust_z_spans(
    values: np.ndarray, threshold: float = 3.5, gap_fraction: float = 0.01, return_point_scores: bool = False
) -> dict[str, list]:
    """Spans where the modified z-score |0.6745 (x - median) / MAD| of a channel exceeds `threshold` (Iglewicz and
    Hoaglin 1993; the mean absolute deviation times 1.2533 replaces a MAD of 0); runs of one channel closer than
    `gap_fraction` of the length join. Score: 1 - threshold / peak |z|. Result as `<ANOMALY_DETECTION>`'s; with
    `return_point_scores`, also `"point_scores"`: the |z| of each sample, the largest over channels."""
    array = _channels(values)
    n = array.shape[1]
    gap = max(1, int(gap_fraction * n))
    z_scores = _robust_z(array)
    items = []
    for c, z in enumerate(z_scores):
        for start, end in _runs(z > threshold, gap):
            peak = float(z[start:end].max())
            items.append((start, end, 1.0 - threshold / peak, c if len(array) > 1 else None))
    return _with_point_scores(span_result(items), z_scores.max(0), return_point_scores)


def iforest_window_spans(
    values: np.ndarray,
    window: int | None = None,
    contamination: float = 0.01,
    n_estimators: int = 100,
    max_windows: int = 5000,
    random_state: int = 0,
    return_point_scores: bool = False,
) -> dict[str, list]:
    """scikit-learn IsolationForest on sliding windows (`window` samples of every channel, robust-scaled per
    channel; stride 1, or larger so that at most `max_windows` windows are scored). The `contamination` share of
    windows with the highest anomaly score are flagged; overlapping flagged windows join into spans. Score: the
    span's highest anomaly score (Liu et al. 2008, ~0.5 ordinary, 1 isolated at once). With
    `return_point_scores`, also `"point_scores"`: each sample's largest anomaly score of the windows that hold it
    (the span's score is the largest of them), 0 in a series too short for 8 windows."""
    from sklearn.ensemble import IsolationForest

    array = _channels(values)
    n = array.shape[1]
    w = min(window or default_window(n), n)
    count = n - w + 1
    if count < 8:
        return _with_point_scores(span_result([]), np.zeros(n), return_point_scores)
    stride = max(1, math.ceil(count / max_windows))
    starts = np.arange(0, count, stride)
    features = []
    for x in array:
        x = _filled(x)
        scale = np.median(np.abs(x - np.median(x))) * 1.4826 or np.std(x) or 1.0
        z = (x - np.median(x)) / scale
        features.append(np.lib.stride_tricks.sliding_window_view(z, w)[starts])  # [windows x w]
    table = np.concatenate(features, axis=1)  # [windows x channels * w]
    forest = IsolationForest(n_estimators=n_estimators, contamination=contamination, random_state=random_state).fit(
        table
    )
    score = -forest.score_samples(table)
    flagged = forest.predict(table) == -1
    best = _window_scores_to_samples(score, starts, w, n)
    cover = np.zeros(n, dtype=bool)
    for start in starts[flagged]:
        cover[start : start + w] = True
    # Every window scoring above a flagged one is flagged, so a span's best window is its samples' best.
    return _with_point_scores(
        span_result([(a, b, float(best[a:b].max()), None) for a, b in _runs(cover)]), best, return_point_scores
    )


def stumpy_discord_spans(
    values: np.ndarray, window: int | None = None, k: int = 3, return_point_scores: bool = False
) -> dict[str, list]:
    """The top `k` discords of each channel's z-normalized matrix profile (stumpy.stump, numba on one thread),
    each outside the previous ones' windows; a discord at i is the span `[i, i + window)`. Score: the matrix
    profile value over its maximum 2 sqrt(window). With `return_point_scores`, also `"point_scores"`: each
    sample's largest matrix profile value of the subsequences that hold it, the largest over channels (0 where no
    channel has a profile: a series shorter than `2 window + 2`, constant channels)."""
    array = _channels(values)
    n = array.shape[1]
    m = window or default_window(n)
    items = []
    point_scores = np.zeros(n)
    if n < 2 * m + 2:
        return _with_point_scores(span_result([]), point_scores, return_point_scores)
    for c, profile in _matrix_profiles(array, m):
        finite = np.isfinite(profile)
        if finite.any():
            filled = np.where(finite, profile, profile[finite].min())
            sample = _window_scores_to_samples(filled, np.arange(len(profile)), m, n)
            point_scores = np.maximum(point_scores, sample)
        profile = np.where(finite, profile, -np.inf)
        for _ in range(k):
            i = int(np.argmax(profile))
            if not np.isfinite(profile[i]):
                break
            items.append((i, i + m, min(1.0, profile[i] / (2 * math.sqrt(m))), c if len(array) > 1 else None))
            profile[max(0, i - m + 1) : i + m] = -np.inf
    return _with_point_scores(span_result(items), point_scores, return_point_scores)


def _matrix_profiles(array: np.ndarray, m: int) -> list[tuple[int, np.ndarray]]:
    """(channel, z-normalized matrix profile `[time - m + 1]`) of every non-constant channel, numba on one
    thread."""
    import numba
    import stumpy

    profiles = []
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for c, x in enumerate(array):
            x = _filled(x)
            if np.ptp(x) == 0:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # constant subsequences, which stumpy handles
                profiles.append((c, stumpy.stump(x, m)[:, 0].astype(np.float64)))
    finally:
        numba.set_num_threads(previous)
    return profiles


def ruptures_change_points(values: np.ndarray, min_fraction: float = 0.01, max_points: int = 1000) -> list[int]:
    """Change points of ruptures' binary segmentation (Binseg, l2 cost: changes of the mean) on every channel
    standardized (mean 0, std 1, as TCPDBench prepares series), penalty (d + 1) log n (BIC: d means and one
    location per change). `min_size` is `min_fraction` of the length; candidate positions are every
    `jump` = ceil(n / max_points) samples."""
    import ruptures

    array = _channels(values)
    n = array.shape[1]
    signal = np.column_stack([(x - x.mean()) / (x.std() or 1.0) for x in map(_filled, array)])  # [time x channels]
    jump = max(1, math.ceil(n / max_points))
    min_size = max(2, int(min_fraction * n))
    if n < 2 * min_size:
        return []
    try:
        breaks = (
            ruptures.Binseg(model="l2", min_size=min_size, jump=jump)
            .fit(signal)
            .predict(pen=(signal.shape[1] + 1) * math.log(n))
        )
    except ruptures.exceptions.BadSegmentationParameters:
        return []
    return [int(b) for b in breaks if 0 < b < n]


def load_claspy():
    """claspy's BinaryClaSPSegmentation; BenchmarkError when claspy is not installed (an optional dependency)."""
    import numpy

    if not hasattr(numpy, "trapz"):  # claspy 0.2.8 calls np.trapz, which NumPy 2.4 removed (np.trapezoid)
        numpy.trapz = numpy.trapezoid
    try:
        from claspy.segmentation import BinaryClaSPSegmentation
    except ImportError:
        raise BenchmarkError("the clasp baseline needs claspy: pip install claspy (or leave out `clasp`)") from None
    return BinaryClaSPSegmentation


def clasp_change_points(
    values: np.ndarray, window_size: int | str | None = None, distance: str = "znormed_euclidean_distance"
) -> list[int]:
    """Change points of claspy's BinaryClaSPSegmentation with its default settings (number of segments learned
    with its significance test, z-normalized Euclidean distance), `window_size` given (TSSB) or found by SuSS;
    a multichannel series is segmented jointly. On one thread. The z-normalized distance makes ClaSP blind to a
    pure change of level (each window is normalized): `distance="euclidean_distance"` sees one."""
    segmentation = load_claspy()
    array = _channels(values)
    series = np.column_stack([_filled(x) for x in array]) if len(array) > 1 else _filled(array[0])
    found = segmentation(window_size=window_size or "suss", distance=distance, n_jobs=1).fit_predict(series)
    return sorted(int(p) for p in np.asarray(found).ravel() if 0 < p < array.shape[1])
