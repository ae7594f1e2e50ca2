"""The tasks of ts-florence and the grammar of their outputs.

A task is data: one frozen `TaskSpec` per task token in `TASKS`, holding its prompt, how a corpus record
becomes training pairs, how a result becomes target text, how generated text becomes a result again and how
results are scored.

Units. Results and records are in *sample indices* of the series as the user gave it; spans are half-open
`[start, end)`. Text is in *bins*: sample `i` of a series of length `n` lies in bin `floor(i * 1000 / n)`,
written `<loc_bin>`. A span is `<loc_a><loc_b>` with `a` the bin of its first sample and `b` the bin of its
last one (`end - 1`), preceded by `<ch_k>` when it concerns channel `k` alone. Decoding maps a bin back to
sample indices, so a boundary comes back within `ceil(n / 1000)` samples, and exactly when `n <= 1000`.

Grammar (as in Florence-2): a label, free text without `<`, followed by one or more spans of that label:
`spike<loc_10><loc_12><ch_1><loc_500><loc_520>level shift<loc_700><loc_999>`. Parsers never raise on
generated text: they keep what follows the grammar and drop the rest.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from typing import Any, Literal, NamedTuple, TypeGuard, get_args

import numpy as np

NUM_LOC_BINS = 1000
MAX_CHANNELS = 64
SERIES_TOKEN = "<series>"
LOC_TOKENS: list[str] = [f"<loc_{i}>" for i in range(NUM_LOC_BINS)]
CHANNEL_TOKENS: list[str] = [f"<ch_{k}>" for k in range(MAX_CHANNELS)]
CONTROL_TOKENS = ("<s>", "</s>", "<pad>", "<unk>")
SCORERS_MODULE = "ts_florence.evaluation.scorers"
"""Where `TaskSpec.score` finds the scorers (`SCORERS`), named, not imported: that module stands above this one."""

InputKind = Literal["text", "span"]
OutputKind = Literal["text", "labelled_spans", "spans", "segments", "points"]
Result = dict[str, Any]
Pair = tuple[str | None, str]
Extractor = Callable[[Mapping[str, Any], int], list[tuple[str | None, Result]]]


# ---------------------------------------------------------------------------------------------------------
# Time locations


def _as_int(value: int, name: str) -> int:
    # operator.index accepts NumPy integers but refuses floats, which would silently lose exactness.
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def _check_length(length: int) -> int:
    n = _as_int(length, "length")
    if n < 1:
        raise ValueError(f"series length must be >= 1, got {n}")
    return n


def _check_bin(loc_bin: int) -> int:
    b = _as_int(loc_bin, "bin")
    if not 0 <= b < NUM_LOC_BINS:
        raise ValueError(f"bin must be in [0, {NUM_LOC_BINS - 1}], got {b}")
    return b


def index_to_bin(index: int, length: int) -> int:
    """Bin of sample index `index` in a series of `length` samples: `floor(index * 1000 / length)`.

    `index == length` (one past the last sample) is accepted and clipped to the last bin, 999.
    Raises ValueError unless `length >= 1` and `0 <= index <= length`.
    """
    n = _check_length(length)
    i = _as_int(index, "index")
    if not 0 <= i <= n:
        raise ValueError(f"index {i} is outside [0, {n}] for a series of length {n}")
    return min(i * NUM_LOC_BINS // n, NUM_LOC_BINS - 1)


def bin_to_start(bin: int, length: int) -> int:
    """First sample index whose bin is `bin` or later: `ceil(bin * length / 1000)`.

    For `length < 1000` some bins hold no sample; theirs is the next sample's index, which is `length`
    for the bins after the last sample.
    """
    return -(-_check_bin(bin) * _check_length(length) // NUM_LOC_BINS)


def bin_to_end(bin: int, length: int) -> int:
    """Exclusive end, in sample indices, of bin `bin`: `ceil((bin + 1) * length / 1000)`, at most `length`."""
    return -(-(_check_bin(bin) + 1) * _check_length(length) // NUM_LOC_BINS)


def span_to_text(start: int, end: int, length: int, channel: int | None = None) -> str:
    """`"<ch_k><loc_a><loc_b>"` for the half-open span `[start, end)` of sample indices.

    `a` is the bin of `start`, `b` the bin of `end - 1`; `<ch_k>` is written only when `channel` is given.
    Raises ValueError unless `length >= 1`, `0 <= start < end <= length` and `0 <= channel < 64`.
    """
    n = _check_length(length)
    s, e = _as_int(start, "start"), _as_int(end, "end")
    if not 0 <= s < e <= n:
        raise ValueError(f"span [{s}, {e}) must satisfy 0 <= start < end <= length = {n}")
    prefix = ""
    if channel is not None:
        k = _as_int(channel, "channel")
        if not 0 <= k < MAX_CHANNELS:
            raise ValueError(f"channel must be in [0, {MAX_CHANNELS - 1}], got {k}")
        prefix = CHANNEL_TOKENS[k]
    return prefix + LOC_TOKENS[index_to_bin(s, n)] + LOC_TOKENS[index_to_bin(e - 1, n)]


def point_to_text(index: int, length: int) -> str:
    """`"<loc_a>"` for sample index `index`; raises ValueError unless `0 <= index < length`."""
    n = _check_length(length)
    i = _as_int(index, "index")
    if not 0 <= i < n:
        raise ValueError(f"point {i} must satisfy 0 <= point < length = {n}")
    return LOC_TOKENS[index_to_bin(i, n)]


def _decode_span(first: int, last: int, n: int) -> list[int]:
    start, end = bin_to_start(first, n), bin_to_end(last, n)
    if end <= start:
        # Bins first..last hold no sample (only when n < 1000, never in a formatted target): keep the
        # model's answer as the first sample after them (the last one at the end) rather than drop it.
        start = min(start, n - 1)
        end = start + 1
    return [start, end]


def _decode_point(loc_bin: int, n: int) -> int:
    # An empty bin after the last sample (n < 1000) would decode to n, which is no sample.
    return min(bin_to_start(loc_bin, n), n - 1)


# ---------------------------------------------------------------------------------------------------------
# Sample numbers of captions as location tokens

_NUMBER = r"\d{1,3}(?:,\d{3})+|\d+"
_NOT_IN_NUMBER = r"(?![.,]?\d)"
_POSITIONS_RE = re.compile(rf"\b(samples? )({_NUMBER}){_NOT_IN_NUMBER}(?:( and | to )({_NUMBER}){_NOT_IN_NUMBER})?")
_BEFORE_SAMPLES = r"(?=(?: [a-z]+)? samples\b|-sample\b)"  # what follows a duration: "12 (hourly) samples", "12-sample"
_DURATION_RE = re.compile(rf"(?<![\d.,])({_NUMBER}){_NOT_IN_NUMBER}{_BEFORE_SAMPLES}")
_LOC_POSITIONS_RE = re.compile(r"\b(samples? )<loc_([0-9]+)>(?:( and | to )<loc_([0-9]+)>)?")
_LOC_DURATION_RE = re.compile(rf"<loc_([0-9]+)>{_BEFORE_SAMPLES}")


def position_step(length: int) -> int:
    """Rounding step of sample positions in a series of `length` samples: 1 below 1,000 samples, then 3
    significant digits of the length (10 up to 9,999, 100 up to 99,999, ...)."""
    return 10 ** max(0, int(math.floor(math.log10(max(length, 1)))) - 2)


def place_number(index: float, length: int) -> str:
    """A sample position as captions write it: rounded to `position_step(length)`, with thousands separators."""
    step = position_step(length)
    return f"{int(round(index / step) * step):,}"


def _sample_number(text: str) -> int:
    return int(text.replace(",", ""))


def write_text_locations(text: str, length: int) -> str:
    """A caption with its sample numbers as location tokens, the target of the caption tasks.

    The model reads the series on a fixed grid of cells, never its length, so "2,024 samples" or "every 12
    samples" are numbers it cannot know, while where a thing lies on the grid is what its detection answers
    already say with location tokens. So the sample numbers of a caption are written as bins of the series:
    - a place ("at sample 300", "between samples 200 and 260", "from sample 0 to 850") as the bin of that sample
      (`index_to_bin`); the second number after "and"/"to" as the bin of the sample before it, an end;
    - a duration (a number before "samples" or "-sample": the length, a period, how long something lasts) d as
      bin k = round(1000 d / length) - 1, the end bin of a span of d samples from the start.
    Every other number (values, counts, percentages, time units) stays as written. `render_text_locations` is
    the inverse: exact for series of at most 1,000 samples, within half a bin (length / 2,000) beyond."""
    n = _check_length(length)

    def places(m: re.Match[str]) -> str:
        first = min(_sample_number(m.group(2)), n - 1)
        out = m.group(1) + LOC_TOKENS[index_to_bin(first, n)]
        if m.group(3):
            end = min(max(_sample_number(m.group(4)), first + 1), n)
            out += m.group(3) + LOC_TOKENS[index_to_bin(end - 1, n)]
        return out

    def duration(m: re.Match[str]) -> str:
        k = round(_sample_number(m.group(1)) * NUM_LOC_BINS / n) - 1
        return LOC_TOKENS[min(max(k, 0), NUM_LOC_BINS - 1)]

    return _DURATION_RE.sub(duration, _POSITIONS_RE.sub(places, text))


def render_text_locations(text: str, length: int) -> str:
    """The caption a model wrote with `write_text_locations`' location tokens, in sample numbers of a series of
    `length` samples: places at the first sample of their bin (an end at the end of its bin), rounded as the
    caption writer rounds places; durations at the end of their bin. Location tokens elsewhere are left for the
    parser to drop."""
    n = _check_length(length)

    def places(m: re.Match[str]) -> str:
        first = _token_value(m.group(2), NUM_LOC_BINS)
        if first is None:
            return m.group(0)
        start = min(bin_to_start(first, n), n - 1)
        out = m.group(1) + place_number(start, n)
        if m.group(3):
            last = _token_value(m.group(4), NUM_LOC_BINS)
            out += m.group(3) + (place_number(bin_to_end(last, n), n) if last is not None else "")
        return out

    def duration(m: re.Match[str]) -> str:
        k = _token_value(m.group(1), NUM_LOC_BINS)
        return m.group(0) if k is None else f"{max(1, round((k + 1) * n / NUM_LOC_BINS)):,}"

    return _LOC_DURATION_RE.sub(duration, _LOC_POSITIONS_RE.sub(places, text))


# ---------------------------------------------------------------------------------------------------------
# Output grammar

_TEXT_NOISE_RE = re.compile("|".join([*map(re.escape, CONTROL_TOKENS), r"<loc_[0-9]+>", r"<ch_[0-9]+>"]))
# Any '<' that does not open a loc/ch token, up to its '>' (control tokens, other special tokens, cut
# fragments such as "<loc_"). Removing these leaves '<' only at the start of loc/ch tokens.
_UNKNOWN_TAG_RE = re.compile(r"<(?!(?:loc|ch)_[0-9]+>)[^<>]*>?")
_PIECE_RE = re.compile(r"<loc_(?P<loc>[0-9]+)>|<ch_(?P<ch>[0-9]+)>|(?P<text>[^<]+)")
_LOC_RE = re.compile(r"<loc_([0-9]+)>")
_SPAN_INPUT_RE = re.compile(r"<loc_([0-9]+)><loc_([0-9]+)>")


def _token_value(digits: str, limit: int) -> int | None:
    """The number in a loc/ch token, or None when it is not below `limit`."""
    # Checking the length first also keeps int() away from strings of thousands of digits, which it refuses.
    if len(digits) > len(str(limit)):
        return None
    value = int(digits)
    return value if value < limit else None


def _without(pattern: re.Pattern[str], text: str) -> tuple[str, list[int]]:
    """`text` without the matches of `pattern`, and the index in `text` of every character kept."""
    kept: list[str] = []
    where: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        kept.append(text[last : match.start()])
        where.extend(range(last, match.start()))
        last = match.end()
    kept.append(text[last:])
    where.extend(range(last, len(text)))
    return "".join(kept), where


class _Span(NamedTuple):
    label: str | None  # the label in force, None before the first one
    label_chars: list[int]  # indices into the generated text
    channel: int | None
    first: int  # bin
    last: int  # bin
    chars: list[int]  # indices into the generated text of the span's own tokens


def _scan_spans(text: str, with_channels: bool) -> list[_Span]:
    """Spans in grammatical order; drops reversed or out-of-range bins, bad channels and dangling locs."""
    clean, where = _without(_UNKNOWN_TAG_RE, text)
    found: list[_Span] = []
    label: str | None = None
    label_chars: list[int] = []
    channel: tuple[int | None, list[int]] | None = None  # a <ch_k> waiting for its span
    first: tuple[int | None, list[int]] | None = None  # a <loc_a> waiting for its <loc_b>
    for piece in _PIECE_RE.finditer(clean):
        chars = where[piece.start() : piece.end()]
        if piece["text"] is not None:
            words = piece["text"].strip()
            if words:  # whitespace between spans continues the label in force
                lead = len(piece["text"]) - len(piece["text"].lstrip())
                label, label_chars = words, chars[lead : lead + len(words)]
                channel = first = None
        elif piece["ch"] is not None:
            if with_channels:
                channel, first = (_token_value(piece["ch"], MAX_CHANNELS), chars), None
        elif first is None:
            first = (_token_value(piece["loc"], NUM_LOC_BINS), chars)
        else:
            a, b = first[0], _token_value(piece["loc"], NUM_LOC_BINS)
            k, k_chars = channel if channel is not None else (None, [])
            channel_ok = channel is None or k is not None
            if a is not None and b is not None and a <= b and channel_ok:
                found.append(_Span(label, label_chars, k, a, b, k_chars + first[1] + chars))
            channel = first = None
    return found


def _char_probs(char_scores: Sequence[float] | None, text: str) -> np.ndarray | None:
    if char_scores is None:
        return None
    probs = np.asarray(char_scores, dtype=np.float64)
    if probs.shape != (len(text),):
        raise ValueError(f"char_scores has shape {probs.shape}; expected one score per character ({len(text)})")
    # A NaN probability carries no confidence, so it counts as 0.
    return np.nan_to_num(np.clip(probs, 0.0, 1.0), nan=0.0)


def _score(probs: np.ndarray | None, chars: Sequence[int]) -> float | None:
    """Geometric mean of the probabilities of `chars`, rounded to 4 decimals; None without probabilities."""
    if probs is None:
        return None
    with np.errstate(divide="ignore"):  # log(0) = -inf gives the right mean, 0
        return round(float(np.exp(np.log(probs[np.asarray(chars, dtype=np.intp)]).mean())), 4)


def _parse_text(spec: TaskSpec, text: str, n: int, text_input: str | None, probs: np.ndarray | None) -> Result:
    if spec.text_locations:
        text = render_text_locations(text, n)
    return {"text": _TEXT_NOISE_RE.sub("", text).strip()}


def _parse_labelled(spec: TaskSpec, text: str, n: int, text_input: str | None, probs: np.ndarray | None) -> Result:
    found = [span for span in _scan_spans(text, spec.with_channels) if span.label is not None]
    result: Result = {
        "spans": [_decode_span(span.first, span.last, n) for span in found],
        "labels": [span.label for span in found],
    }
    if spec.with_channels:
        result["channels"] = [span.channel for span in found]
    result["scores"] = [_score(probs, span.label_chars + span.chars) for span in found]
    return result


def _parse_segments(spec: TaskSpec, text: str, n: int, text_input: str | None, probs: np.ndarray | None) -> Result:
    # Coverage is not enforced: a wrong segmentation is the metric's business, not the parser's.
    parsed = _parse_labelled(spec, text, n, text_input, probs)
    order = sorted(range(len(parsed["spans"])), key=lambda i: parsed["spans"][i])
    return {key: [values[i] for i in order] for key, values in parsed.items()}


def _parse_spans(spec: TaskSpec, text: str, n: int, text_input: str | None, probs: np.ndarray | None) -> Result:
    found = _scan_spans(text, with_channels=False)
    result: Result = {"spans": [_decode_span(span.first, span.last, n) for span in found]}
    if spec.input_kind == "text":
        # The output names no label: what was asked for is the label of every span found.
        label = text_input.strip() if text_input is not None else None
        result["labels"] = [label] * len(found)
    result["scores"] = [_score(probs, span.chars) for span in found]
    return result


def _parse_points(spec: TaskSpec, text: str, n: int, text_input: str | None, probs: np.ndarray | None) -> Result:
    # Other tokens and text cannot change what a <loc_i> means here, so no cleaning is needed; a point
    # mentioned twice keeps the score of its first mention.
    scores: dict[int, float | None] = {}
    for match in _LOC_RE.finditer(text):
        loc_bin = _token_value(match[1], NUM_LOC_BINS)
        if loc_bin is not None:
            scores.setdefault(_decode_point(loc_bin, n), _score(probs, range(match.start(), match.end())))
    points = sorted(scores)
    return {"points": points, "scores": [scores[p] for p in points]}


def _check_label(label: object) -> str:
    text = label.strip() if isinstance(label, str) else ""
    if not text or "<" in text:
        raise ValueError(f"a label must be non-empty text without '<', got {label!r}")
    return text


def _check_same_length(token: str, result: Mapping[str, Any], keys: Sequence[str]) -> None:
    sizes = {key: len(result[key]) for key in keys}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{token} result lists differ in length: {sizes}")


def _bounds(span: Sequence[int]) -> tuple[int, int]:
    start, end = span
    return _as_int(start, "span start"), _as_int(end, "span end")


def _format_text(spec: TaskSpec, result: Mapping[str, Any], n: int) -> str:
    text = result["text"].strip()
    if _TEXT_NOISE_RE.search(text):
        # The parser removes these from text outputs, so such a target could never round-trip.
        raise ValueError(f"{spec.token} target must not contain control, location or channel tokens: {text!r}")
    return write_text_locations(text, n) if spec.text_locations else text


def _format_labelled(spec: TaskSpec, result: Mapping[str, Any], n: int) -> str:
    channels = result.get("channels") if spec.with_channels else None
    result = {**result, "channels": [None] * len(result["spans"]) if channels is None else channels}
    _check_same_length(spec.token, result, ("spans", "labels", "channels"))
    items = sorted(
        (
            (*_bounds(span), _check_label(label), channel)
            for span, label, channel in zip(result["spans"], result["labels"], result["channels"], strict=True)
        ),
        key=lambda item: (item[0], item[1], item[2], -1 if item[3] is None else item[3]),
    )
    parts: list[str] = []
    previous = None
    for start, end, label, channel in items:
        if label != previous:
            parts.append(label)
        parts.append(span_to_text(start, end, n, channel))
        previous = label
    return "".join(parts)


def _format_segments(spec: TaskSpec, result: Mapping[str, Any], n: int) -> str:
    _check_same_length(spec.token, result, ("spans", "labels"))
    items = sorted(
        (*_bounds(span), _check_label(label)) for span, label in zip(result["spans"], result["labels"], strict=True)
    )
    return "".join(label + span_to_text(start, end, n) for start, end, label in items)


def _format_spans(spec: TaskSpec, result: Mapping[str, Any], n: int) -> str:
    return "".join(span_to_text(start, end, n) for start, end in sorted(set(map(_bounds, result["spans"]))))


def _format_points(spec: TaskSpec, result: Mapping[str, Any], n: int) -> str:
    points = {_as_int(point, "point") for point in result["points"]}
    return "".join(point_to_text(point, n) for point in sorted(points))


_Parser = Callable[["TaskSpec", str, int, "str | None", "np.ndarray | None"], Result]
_Formatter = Callable[["TaskSpec", Mapping[str, Any], int], str]
_PARSERS: dict[str, _Parser] = {
    "text": _parse_text,
    "labelled_spans": _parse_labelled,
    "spans": _parse_spans,
    "segments": _parse_segments,
    "points": _parse_points,
}
_FORMATTERS: dict[str, _Formatter] = {
    "text": _format_text,
    "labelled_spans": _format_labelled,
    "spans": _format_spans,
    "segments": _format_segments,
    "points": _format_points,
}


# ---------------------------------------------------------------------------------------------------------
# Task specs


@dataclass(frozen=True)
class TaskSpec:
    """One task: its token, prompt, output grammar, scorer, and how corpus records train it.

    Result dicts by `output_kind` (spans `[start, end)` and points in sample indices; `scores` per item, or
    None per item when no character scores are given):

    - `"text"`: `{"text"}`.
    - `"labelled_spans"`: `{"spans", "labels", "channels", "scores"}`; without `"channels"` when
      `with_channels` is False (phrase grounding).
    - `"spans"`: `{"spans", "scores"}`; with `"labels"` (the input, repeated) when the task takes text input.
    - `"segments"`: `{"spans", "labels", "scores"}`, sorted by start.
    - `"points"`: `{"points", "scores"}`, sorted and without duplicates.
    """

    token: str
    """The task token, e.g. `"<ANOMALY_DETECTION>"`."""
    prompt: str
    """Natural-language prompt after the token; holds `"{input}"` exactly when the task takes input."""
    input_kind: InputKind | None
    """None, `"text"` (a caption, label or phrase) or `"span"` (`"<loc_a><loc_b>"`, see `span_to_text`)."""
    output_kind: OutputKind
    """The grammar of the output, one of `"text"`, `"labelled_spans"`, `"spans"`, `"segments"`, `"points"`."""
    scorer: str
    """Name of the scorer of this task (which metrics its results get) in the one registry of scorers, `SCORERS` of
    `ts_florence.evaluation.scorers`; `score` runs it."""
    description: str
    """One line for documentation and CLI help."""
    extract: Extractor = field(repr=False, compare=False)
    """`(record, length) -> [(text_input, result), ...]`: the annotations of a corpus record for this task."""
    with_channels: bool = False
    """Whether outputs carry `<ch_k>` before spans and results a `"channels"` list."""
    span_kind: str | None = None
    """The `kind` of the record's spans the task answers with ("anomaly" or "event"); None for other tasks."""
    gate_metric: str | None = None
    """For a task whose outputs become corpus annotations: the metric of its scorer that decides whether
    `engine refine` lets the model's outputs of it into the corpus (the model must beat the answer that reads
    nothing there, on the frozen split). None: its outputs are no corpus annotations."""
    text_locations: bool = False
    """For a text task: whether the sample numbers of its target (places, durations) are written as location tokens
    (`write_text_locations`) and rendered back by `parse` (`render_text_locations`)."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"<[A-Z_]+>", self.token):
            raise ValueError(f"task token must look like '<NAME>', got {self.token!r}")
        if self.input_kind not in (None, *get_args(InputKind)):
            raise ValueError(f"{self.token}: unknown input kind {self.input_kind!r}")
        if self.output_kind not in get_args(OutputKind):
            raise ValueError(f"{self.token}: unknown output kind {self.output_kind!r}")
        if ("{input}" in self.prompt) != self.takes_input:
            raise ValueError(f"{self.token}: the prompt must contain '{{input}}' exactly when the task takes input")

    @property
    def takes_input(self) -> bool:
        """Whether the prompt needs an input after the task token."""
        return self.input_kind is not None

    def build_prompt(self, text_input: str | None = None) -> str:
        """Task token + prompt, with `text_input` filled in for tasks that take input.

        A blank `text_input` counts as none. For span input, `text_input` is `"<loc_a><loc_b>"` in bins
        (`span_to_text(start, end, length)`). Raises ValueError on missing, unexpected or malformed input.
        """
        given = text_input.strip() if text_input is not None else ""
        if not self.takes_input:
            if given:
                raise ValueError(f"{self.token} takes no input, got {text_input!r}")
            return self.token + self.prompt
        if not given:
            raise ValueError(f"{self.token} needs {self.input_kind} input after the task token, got none")
        if self.input_kind == "span" and not _is_span_input(given):
            raise ValueError(
                f"{self.token} needs one span '<loc_a><loc_b>' with a <= b <= {NUM_LOC_BINS - 1} as input "
                f"(see span_to_text), got {text_input!r}"
            )
        return self.token + self.prompt.replace("{input}", given)

    def format_target(self, result: Mapping[str, Any], length: int) -> str:
        """Target text for `result`, a dict shaped like `parse` returns (sample indices); scores are ignored.

        Items are written in canonical order (labelled spans by start, end, label and channel, a label only
        when it differs from the previous item's); raises ValueError on spans or points outside the series,
        blank labels or labels containing '<'.
        """
        return _FORMATTERS[self.output_kind](self, result, _check_length(length))

    def parse(
        self,
        text: str,
        length: int,
        text_input: str | None = None,
        char_scores: Sequence[float] | None = None,
    ) -> Result:
        """Result dict, in sample indices of a series of `length` samples, of generated `text`.

        Never raises on `text`: control tokens are stripped and whatever does not follow the grammar is
        dropped. `text_input` labels the spans of a task whose output names no label (open-vocabulary
        detection). `char_scores`, one probability per character of `text`, give each item the geometric
        mean over the characters of its label and its own tokens; raises ValueError if their number differs.
        A span in bins that hold no sample (possible when `length < 1000`) becomes the one sample after them.
        """
        n = _check_length(length)
        return _PARSERS[self.output_kind](self, text, n, text_input, _char_probs(char_scores, text))

    def score(self, examples: Sequence[Any], results: Sequence[Result]) -> dict[str, float | None]:
        """`{metric: value or None}` of predicted `results` (as `parse` gives them) of this task's evaluation
        `examples` (`ts_florence.evaluation.examples.Example`, one result each), by the task's scorer; None where a
        metric does not apply.

        The scorers stand above this module (they read the metrics, which need SciPy), so it names their module
        (`SCORERS_MODULE`) instead of importing it and finds the registry there when a task is first scored:
        importing `ts_florence.tasks` loads nothing of `ts_florence.evaluation`.
        """
        return import_module(SCORERS_MODULE).SCORERS[self.scorer](examples, results)

    def examples(self, record: Mapping[str, Any]) -> list[Pair]:
        """Distinct training pairs `(text_input, target_text)` of one corpus record, [] without annotation.

        Which annotations a task uses is in its `extract` function; `<ANOMALY_DETECTION>` also gives an empty
        target for a record whose `spans` list (present, maybe empty) holds no anomaly.
        """
        n = _series_length(record)
        return list(
            dict.fromkeys((text_input, self.format_target(result, n)) for text_input, result in self.extract(record, n))
        )


def _is_span_input(text: str) -> bool:
    match = _SPAN_INPUT_RE.fullmatch(text)
    if match is None:
        return False
    a, b = _token_value(match[1], NUM_LOC_BINS), _token_value(match[2], NUM_LOC_BINS)
    return a is not None and b is not None and a <= b


# ---------------------------------------------------------------------------------------------------------
# Training pairs from corpus records (schema: `ts_florence.records`)

_CAPTION_KEYS = ("brief", "detailed", "more_detailed")


def _series_length(record: Mapping[str, Any]) -> int:
    values = record.get("values")
    if values is None or len(values) == 0 or len(values[0]) == 0:
        raise ValueError(f"record {record.get('id')!r} has no values")
    return len(values[0])


def _has_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def _entries(record: Mapping[str, Any], key: str) -> list[Any]:
    value = record.get(key)
    return [] if value is None else list(value)


def _span_of(entry: Mapping[str, Any]) -> list[int]:
    return [entry["start"], entry["end"]]


def _captions(record: Mapping[str, Any]) -> list[str]:
    captions = record.get("captions") or {}
    return [captions[key].strip() for key in _CAPTION_KEYS if _has_text(captions.get(key))]


def _mentions(caption: str, phrase: object) -> bool:
    return _has_text(phrase) and phrase.strip().lower() in caption.lower()


def _caption_pairs(granularity: str, record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    caption = (record.get("captions") or {}).get(granularity)
    return [(None, {"text": caption})] if _has_text(caption) else []


def _class_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    label = record.get("label")
    return [(None, {"text": label})] if _has_text(label) else []


def _kind_pairs(kind: str, answer_none: bool, record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    """Spans of one kind. With `answer_none`, a record whose spans were annotated (`spans` is a list, maybe
    empty) but hold none of that kind gives an empty target, so the model learns to answer with nothing."""
    if record.get("spans") is None:
        return []
    chosen = [entry for entry in record["spans"] if entry.get("kind") == kind]
    if not chosen and not answer_none:
        return []
    return [(None, _labelled(chosen, "label"))]


def _labelled(entries: Sequence[Mapping[str, Any]], label_key: str) -> Result:
    return {
        "spans": [_span_of(entry) for entry in entries],
        "labels": [entry[label_key] for entry in entries],
        "channels": [entry.get("channel") for entry in entries],
    }


def _dense_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    described = [entry for entry in _entries(record, "spans") if _has_text(entry.get("description"))]
    return [(None, _labelled(described, "description"))] if described else []


def _proposal_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    spans = [_span_of(entry) for entry in _entries(record, "spans")]
    return [(None, {"spans": spans})] if spans else []


def _segment_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    segments = _entries(record, "segments")
    if not segments:
        return []
    return [(None, {"spans": [_span_of(s) for s in segments], "labels": [s["label"] for s in segments]})]


def _change_point_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    points = [entry["index"] for entry in _entries(record, "change_points")]
    return [(None, {"points": points})] if points else []


def _grounding_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    """Groundings with the caption their phrases come from: the first caption (brief, detailed, more
    detailed) that mentions every phrase; when none does, each grounding goes with the first caption that
    mentions its phrase. Groundings whose phrase no caption mentions are skipped."""
    captions = _captions(record)
    groundings = [g for g in _entries(record, "groundings") if any(_mentions(c, g.get("phrase")) for c in captions)]
    whole = next((c for c in captions if all(_mentions(c, g["phrase"]) for g in groundings)), None)
    by_caption: dict[str, list[Mapping[str, Any]]] = {}
    for g in groundings:
        caption = whole if whole is not None else next(c for c in captions if _mentions(c, g["phrase"]))
        by_caption.setdefault(caption, []).append(g)
    return [
        (
            caption,
            {
                "spans": [list(span) for g in group for span in g["spans"]],
                "labels": [g["phrase"] for g in group for _ in g["spans"]],
            },
        )
        for caption, group in by_caption.items()
    ]


def _open_vocabulary_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    by_label: dict[str, list[list[int]]] = {}
    for entry in _entries(record, "spans"):
        by_label.setdefault(_check_label(entry["label"]), []).append(_span_of(entry))
    return [(label, {"spans": spans, "labels": [label] * len(spans)}) for label, spans in sorted(by_label.items())]


def _span_category_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    return [
        (span_to_text(entry["start"], entry["end"], n), {"text": _check_label(entry["label"])})
        for entry in _entries(record, "spans")
    ]


def _span_description_pairs(record: Mapping[str, Any], n: int) -> list[tuple[str | None, Result]]:
    return [
        (span_to_text(entry["start"], entry["end"], n), {"text": entry["description"]})
        for entry in _entries(record, "spans")
        if _has_text(entry.get("description"))
    ]


# ---------------------------------------------------------------------------------------------------------
# The task table (adding a task: docs/architecture.md, Where to make common changes)

_TABLE = (
    TaskSpec(
        token="<CAPTION>",
        prompt="What does the series show?",
        input_kind=None,
        output_kind="text",
        scorer="captions",
        description="One-sentence caption of the series.",
        text_locations=True,
        extract=partial(_caption_pairs, "brief"),
    ),
    TaskSpec(
        token="<DETAILED_CAPTION>",
        prompt="Describe in detail what the series shows.",
        input_kind=None,
        output_kind="text",
        scorer="captions",
        description="Detailed caption: trend, seasonality, noise and notable events.",
        text_locations=True,
        extract=partial(_caption_pairs, "detailed"),
    ),
    TaskSpec(
        token="<MORE_DETAILED_CAPTION>",
        prompt="Describe with a paragraph what the series shows.",
        input_kind=None,
        output_kind="text",
        scorer="captions",
        description="Paragraph-long caption with numbers and places of what the series shows.",
        text_locations=True,
        extract=partial(_caption_pairs, "more_detailed"),
    ),
    TaskSpec(
        token="<CLASSIFICATION>",
        prompt="What class does the series belong to?",
        input_kind=None,
        output_kind="text",
        scorer="labels",
        description="Class label of the whole series.",
        extract=_class_pairs,
    ),
    TaskSpec(
        token="<ANOMALY_DETECTION>",
        prompt="Locate the anomalies in the series.",
        input_kind=None,
        output_kind="labelled_spans",
        scorer="anomalies",
        description="Anomalous spans with their type and channel.",
        extract=partial(_kind_pairs, "anomaly", True),
        with_channels=True,
        span_kind="anomaly",
        gate_metric="f1@0.5",
    ),
    TaskSpec(
        token="<EVENT_DETECTION>",
        prompt="Locate the events in the series.",
        input_kind=None,
        output_kind="labelled_spans",
        scorer="typed_spans",
        description="Events (peaks, dips, level shifts, flat lines, ...) with their type and channel.",
        # Event detectors cover only some kinds of events, so a record without events is no evidence that
        # the series has none: no empty target.
        extract=partial(_kind_pairs, "event", False),
        with_channels=True,
        span_kind="event",
        gate_metric="f1@0.5",
    ),
    TaskSpec(
        token="<DENSE_SPAN_CAPTION>",
        prompt="Locate the patterns in the series, with their descriptions.",
        input_kind=None,
        output_kind="labelled_spans",
        scorer="dense_spans",
        description="Spans of the series, each with a short description.",
        extract=_dense_pairs,
        with_channels=True,
    ),
    TaskSpec(
        token="<SPAN_PROPOSAL>",
        prompt="Locate the span proposals in the series.",
        input_kind=None,
        output_kind="spans",
        scorer="spans",
        description="Class-agnostic spans where something happens.",
        extract=_proposal_pairs,
    ),
    TaskSpec(
        token="<REGIME_SEGMENTATION>",
        prompt="Segment the series into regimes.",
        input_kind=None,
        output_kind="segments",
        scorer="segmentation",
        description="Consecutive labelled regimes covering the whole series.",
        extract=_segment_pairs,
        gate_metric="covering",
    ),
    TaskSpec(
        token="<CHANGE_POINT_DETECTION>",
        prompt="Locate the change points in the series.",
        input_kind=None,
        output_kind="points",
        scorer="segmentation",
        description="Sample indices where the behaviour of the series changes.",
        extract=_change_point_pairs,
        gate_metric="covering",
    ),
    TaskSpec(
        token="<CAPTION_TO_PHRASE_GROUNDING>",
        prompt="Locate the phrases of the caption in the series: {input}",
        input_kind="text",
        output_kind="labelled_spans",
        scorer="grounding",
        description="Spans of the series that the phrases of a caption refer to.",
        extract=_grounding_pairs,
    ),
    TaskSpec(
        token="<OPEN_VOCABULARY_DETECTION>",
        prompt="Locate {input} in the series.",
        input_kind="text",
        output_kind="spans",
        scorer="spans",  # the label of every span is the prompt, the same on both sides
        description="Spans of the series matching a free-text label or phrase.",
        extract=_open_vocabulary_pairs,
    ),
    TaskSpec(
        token="<SPAN_TO_CATEGORY>",
        prompt="What kind of pattern is at {input}?",
        input_kind="span",
        output_kind="text",
        scorer="labels",
        description="Category of the pattern in a given span.",
        extract=_span_category_pairs,
    ),
    TaskSpec(
        token="<SPAN_TO_DESCRIPTION>",
        prompt="Describe what the series does at {input}.",
        input_kind="span",
        output_kind="text",
        scorer="rouge_l",
        description="Short description of a given span.",
        extract=_span_description_pairs,
    ),
)

TASKS: dict[str, TaskSpec] = {spec.token: spec for spec in _TABLE}


def get_task(token: str) -> TaskSpec:
    """The spec of task `token`; ValueError naming the closest known task and listing them all when there is none."""
    try:
        return TASKS[token]
    except KeyError:
        pass
    # Compare names without brackets and case, so "ANOMALY_DETECTION" and "<anomaly detection>" find their task.
    names = {token.strip("<>").upper(): token for token in TASKS}
    wanted = str(token).strip().strip("<>").upper().replace(" ", "_").replace("-", "_")
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    hint = f" (did you mean {names[close[0]]!r}?)" if close else ""
    raise ValueError(f"unknown task {token!r}{hint}; known tasks: {', '.join(TASKS)}")


_TASK_PREFIX = re.compile(r"^\s*(<[A-Za-z_]+>)(.*)$", re.DOTALL)


def split_task(text: str) -> tuple[str, str | None]:
    """`"<TASK>rest"` -> `("<TASK>", "rest" or None)`; raises on text without a known task token."""
    if not isinstance(text, str):
        raise TypeError(f"prompt must be a string starting with a task token, got {type(text).__name__}")
    match = _TASK_PREFIX.match(text)
    if match is None:
        get_task(text.strip() or "<>")  # raises with the closest and the list of known tasks
    token, rest = match.group(1), match.group(2).strip()
    get_task(token)
    return token, rest or None


def task_prompts(
    tasks: str | Sequence[str], text: str | None = None, text_option: str = "text="
) -> list[tuple[str, str | None]]:
    """`[(token, input or None), ...]` for one task prompt or several, checked before any model work.

    A prompt may carry its input inline (`"<OPEN_VOCABULARY_DETECTION>dip"`); `text` is the input of every
    task that takes one and has none inline. Raises ValueError on an unknown task, a task given twice, a task
    missing its input, or a `text` that no task takes; `text_option` names where the caller takes `text` from
    (`"text="` in Python, `"--text"` on the command line), for the messages.
    """
    given = [tasks] if isinstance(tasks, str) else list(tasks)
    if not given:
        raise ValueError("no task given; see ts_florence.TASKS (or `ts-florence tasks`)")
    prompts = []
    text_used = False
    for prompt in given:
        token, inline = split_task(prompt)
        spec = get_task(token)
        text_input = inline
        if inline is None and spec.takes_input:
            text_input, text_used = text, True
            if text_input is None or not text_input.strip():
                raise ValueError(
                    f"{token} needs {spec.input_kind} input: pass it with {text_option.strip()} or after the token "
                    f"('{token}your input')"
                )
        spec.build_prompt(text_input)  # the task's own message on unexpected or malformed input
        prompts.append((token, text_input))
    if len({token for token, _ in prompts}) != len(prompts):
        raise ValueError(f"a task was given twice: {[token for token, _ in prompts]}")
    if text is not None and not text_used:
        raise ValueError(
            f"{text_option}{text!r} given, but {', '.join(t for t, _ in prompts)} takes no input (or has it inline); "
            f"tasks that take input: {', '.join(t for t, spec in TASKS.items() if spec.takes_input)}"
        )
    return prompts


def parse_generation(
    text: str,
    task: str,
    length: int,
    text_input: str | None = None,
    char_scores: Sequence[float] | None = None,
) -> Result:
    """`get_task(task).parse(text, length, text_input, char_scores)`: generated text -> result dict."""
    return get_task(task).parse(text, length, text_input=text_input, char_scores=char_scores)
