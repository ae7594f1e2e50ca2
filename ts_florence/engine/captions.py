"""Captions at three granularities, their grounding pairs, and the check of a caption against the signal.

`write_captions(description, seed)` turns a `SeriesDescription` into a brief, a detailed and a more detailed
caption. Every number and place in them is computed from the description (nothing is invented), rounded for its
magnitude (`phrases.format_number`: three significant digits; sample positions exact below 1,000 samples and
rounded to 3 significant digits beyond, then said "around"). The wording is drawn from several templates and
synonyms per fact, and the order of sentences varies, all from `seed`: the same description and seed give the same
text, different seeds different wording, so a model learns the content rather than one template.

Places are sample positions ("at sample 300", "around sample 1,200", "between samples 200 and 260") or parts of the
series ("near the start", "around the middle", "near the end"); timestamps are never used, since the model sees
values, not times. Periods are given in samples, and also in time units when the sampling is known ("24 samples
(1 day)"). Texts are ASCII and never contain "<" or ">" (they would break the location-token grammar).

`ground_phrases(description, captions)` finds every phrase of the captions that names something with a place (an
event, a group of events, a regime, the maximum or minimum) and pairs it with its spans; `verify_caption` lists the
numbers and places of a caption that the signal contradicts. Both read the same phrase inventory the writer draws
from, so whatever the writer can say, they can find.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from ..vocabulary import NOISE_WORDS, TREND_WORDS
from .descriptions import EventDescription, SeriesDescription, robust_range
from .phrases import (
    NOUNS,
    PARTS,
    PLURALS,
    PhraseItem,
    article,
    event_groups,
    format_number,
    inventory,
    percent,
    period_duration,
    position_step,
)
from .specialists.analysis import (
    AnalysisConfig,
    as_channels,
    cycles_agree,
    difference_noise_std,
    event_magnitude,
    moving_average,
)
from .specialists.base import Specialist
from .specialists.describer import RegimeDescriber

__all__ = ["CaptionWriter", "ground_phrases", "position_step", "verify_caption", "write_captions"]

_RISING = re.compile(r"\b(rises|rising|climbs|climbing|upward|increases|increasing|grows|growing)\b")
_FALLING = re.compile(r"\b(falls|falling|declines|declining|downward|decreases|decreasing|drops)\b")


# --------------------------------------------------------------------------------------------------- the writer
_TREND = {
    "rising": ("{S} rises by about {amount} overall.", "{S} trends upward, gaining about {amount} from start to end.",
               "Overall, {O} climbs by about {amount}."),
    "falling": ("{S} falls by about {amount} overall.", "{S} trends downward, losing about {amount} from start to end.",
                "Overall, {O} declines by about {amount}."),
    "flat": ("{S} shows no clear trend.", "{S} stays level overall.", "Overall, {O} has no trend."),
}  # fmt: skip
_SEASON = ("{S} repeats every {period}.", "{S} follows a cycle of {period}.", "The seasonal period of {O} is {period}.")
_SECOND_SEASON = ("A weaker cycle of {period} is also present.", "A second period of {period} appears as well.")
_NO_SEASON = ("{S} shows no seasonal cycle.", "{S} has no clear seasonality.", "No regular cycle appears in {O}.")
_NOISE = ("{S} has {level} noise{std}.", "The noise in {O} is {level}{std}.", "Noise is {level} in {O}{std}.")
_MAX_LISTED_EVENTS = 8
_MAX_DESCRIBED_CHANNELS = 3


@dataclass
class _Writer:
    description: SeriesDescription
    rng: random.Random
    names: list[str]
    items: dict[str, PhraseItem]

    def pick(self, options: Sequence[str]) -> str:
        return options[self.rng.randrange(len(options))]

    def say(self, key: str) -> str:
        """One of the inventory's phrases for item `key` (so that `ground_phrases` finds it)."""
        return self.pick(self.items[key].variants)

    @property
    def univariate(self) -> bool:
        return len(self.description.channels) == 1

    def subject(self, c: int) -> tuple[str, str]:
        """(sentence-start, mid-sentence) ways to refer to channel `c`."""
        if self.univariate:
            return self.pick(("The series", "It")), "the series"
        return f"Channel {self.names[c]}", f"channel {self.names[c]}"

    def fill(self, template: str, c: int, **values: str) -> str:
        start, middle = self.subject(c)
        return template.format(S=start, O=middle, **values)

    def period(self, period: int, with_time: bool = True) -> str:
        samples = f"{format_number(period, digits=12)} samples"
        duration = period_duration(period, self.description.sampling) if with_time else None
        return samples if duration is None else f"{samples} ({duration[0]})"

    def samples(self) -> str:
        """ "512 hourly samples", "600 samples taken every 5 minutes"."""
        n, sampling = format_number(self.description.length, digits=12), self.description.sampling
        if sampling is None:
            return f"{n} samples"
        return f"{n} {sampling} samples" if " " not in sampling else f"{n} samples taken {sampling}"

    # ---- sentences about one channel
    def trend(self, c: int) -> str:
        channel = self.description.channels[c]
        if channel.trend not in _TREND:
            return ""
        template = self.pick(_TREND[channel.trend])
        amount = format_number(abs(channel.trend_change)) if channel.trend_change is not None else ""
        if not amount:
            template = template.replace(" by about {amount}", "").replace(", gaining about {amount}", "")
            template = template.replace(", losing about {amount}", "")
        return self.fill(template, c, amount=amount)

    def season(self, c: int) -> str:
        periods = self.description.channels[c].periods
        if not periods:
            return self.fill(self.pick(_NO_SEASON), c)
        text = self.fill(self.pick(_SEASON), c, period=self.period(periods[0]))
        for extra in periods[1:]:
            text += " " + self.pick(_SECOND_SEASON).format(period=self.period(extra))
        return text

    def noise(self, c: int) -> str:
        channel = self.description.channels[c]
        if channel.noise is None:
            return ""
        std = f" (std about {format_number(channel.noise_std)})" if channel.noise_std is not None else ""
        return self.fill(self.pick(_NOISE), c, level=channel.noise, std=std)

    def extremes(self, c: int) -> str:
        channel = self.description.channels[c]
        parts = [self.say(f"{kind}:{c}") for kind in ("maximum", "minimum") if f"{kind}:{c}" in self.items]
        if not parts:
            return ""
        start = self.subject(c)[0]
        if channel.mean is not None and self.rng.random() < 0.5:
            return f"{start} averages {format_number(channel.mean)}, with {_join(parts)}."
        return f"{start} reaches {_join(parts)}."

    def channel_sentences(self, c: int, detailed: bool) -> list[str]:
        sentences = [self.trend(c), self.season(c), self.noise(c)]
        self.rng.shuffle(sentences)
        if detailed:
            sentences.append(self.extremes(c))
        return [s for s in sentences if s]

    # ---- sentences about the series
    def overview(self) -> str:
        if self.univariate:
            return self.pick((f"The series has {self.samples()}.", f"A series of {self.samples()}.",
                              f"{_capitalize(self.samples())}."))  # fmt: skip
        k = len(self.names)
        shown = self.names if k <= 6 else [*self.names[:4], f"{k - 4} more"]
        return self.pick((f"{k} channels ({_join(shown)}) of {self.samples()}.",
                          f"The series has {k} channels ({_join(shown)}), each of {self.samples()}."))  # fmt: skip

    def channel_summary(self) -> list[str]:
        """Counts over channels beyond the ones described one by one."""
        channels = self.description.channels
        trends = [c.trend for c in channels]
        verbs = (("rising", "rise"), ("falling", "fall"), ("flat", "stay flat"))
        parts = [f"{trends.count(trend)} {verb}" for trend, verb in verbs if trends.count(trend)]
        sentences = [f"Of the {len(channels)} channels, {_join(parts)}."] if parts else []
        mains = [c.periods[0] for c in channels if c.periods]
        if mains:
            common = max(set(mains), key=lambda p: (mains.count(p), -p))
            sentences.append(f"{mains.count(common)} of them repeat every {self.period(common)}.")
        return sentences

    def events(self) -> str:
        groups = event_groups(self.description)
        if not groups:
            return ""
        listed = _join([self.say(f"group:{label}") for label in groups])
        subject = "It" if self.univariate else "The series"
        return self.pick(
            (f"{subject} contains {listed}.", f"Notable events: {listed}.", f"Among its events are {listed}.")
        )

    def event_places(self) -> str:
        events = self.description.events
        if not events:
            return ""
        order = sorted(range(len(events)), key=lambda k: (events[k].start, events[k].end))
        parts = [self.say(f"event:{k}") for k in order[:_MAX_LISTED_EVENTS]]
        rest = len(events) - len(parts)
        text = self.pick(("There is {list}.", "It shows {list}.", "Events: {list}.")).format(list=_join(parts))
        if rest:
            text = text[:-1] + f", and {rest} more event{'s' if rest > 1 else ''}."
        return text

    def regimes(self) -> str:
        segments = self.description.segments
        if len(segments) < 2:
            return ""
        parts = [self.say(f"segment:{k}") for k in range(len(segments))]
        listed = ", then ".join(parts)
        return self.pick((f"It goes through {len(segments)} regimes: {listed}.", f"Regimes: {listed}.",
                          f"The series moves through {listed}."))  # fmt: skip

    def missing(self) -> str:
        fractions = [c.missing_fraction for c in self.description.channels]
        fraction = float(np.mean(fractions)) if fractions else 0.0
        if fraction <= 0:
            return ""
        return self.pick((f"About {percent(fraction)} of the values are missing.",
                          f"Some values are missing (about {percent(fraction)})."))  # fmt: skip

    # ---- the three captions
    def brief(self) -> str:
        channels = self.description.channels
        trends = [c.trend for c in channels if c.trend in TREND_WORDS]
        noises = [c.noise for c in channels if c.noise in NOISE_WORDS]
        trend = max(set(trends), key=lambda t: (trends.count(t), t)) if trends else None
        noise = max(set(noises), key=lambda t: (noises.count(t), t)) if noises else None
        words = [self.pick(NOISE_WORDS[noise])] if noise else []
        words += [self.pick(TREND_WORDS[trend])] if trend else []
        mains = [c.periods[0] for c in channels if c.periods]
        season = ""
        if mains:
            common = max(set(mains), key=lambda p: (mains.count(p), -p))
            duration = period_duration(common, self.description.sampling)
            options = [f"with a cycle of {self.period(common, with_time=False)}",
                       f"repeating every {self.period(common, with_time=False)}",
                       f"with a {format_number(common, digits=12)}-sample period"]  # fmt: skip
            if duration is not None and duration[1] is not None:
                options.append(f"with a {duration[1]} cycle")
            season = self.pick(options)
        groups = event_groups(self.description)
        event = ""
        if groups:
            label = max(groups, key=lambda key: (len(groups[key]), key))
            event = self.pick((" and ", ", with ", ", showing ")) + self.say(f"group:{label}")
        if self.univariate:
            shape = " ".join(words) if words else "plain"
            return _capitalize(f"{article(shape)} {shape} series{' ' + season if season else ''}{event}.")
        mostly = f", mostly {' and '.join(words)}" if words else ""
        return f"{len(channels)} channels{mostly}{', ' + season if season else ''}{event}."

    def detailed(self) -> str:
        sentences = [self.overview()]
        described = range(min(len(self.description.channels), _MAX_DESCRIBED_CHANNELS))
        for c in described:
            sentences += self.channel_sentences(c, detailed=False)
        if len(self.description.channels) > _MAX_DESCRIBED_CHANNELS:
            sentences += self.channel_summary()
        sentences += [self.events(), self.missing()]
        return " ".join(s for s in sentences if s)

    def more_detailed(self) -> str:
        sentences = [self.overview()]
        described = range(min(len(self.description.channels), _MAX_DESCRIBED_CHANNELS + 1))
        for c in described:
            sentences += self.channel_sentences(c, detailed=True)
        if len(self.description.channels) > _MAX_DESCRIBED_CHANNELS + 1:
            sentences += self.channel_summary()
        sentences += [self.regimes(), self.event_places(), self.missing()]
        return " ".join(s for s in sentences if s)


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _names(description: SeriesDescription, channel_names: Sequence[str] | None) -> list[str]:
    names = list(channel_names) if channel_names is not None else [c.name for c in description.channels]
    if len(names) != len(description.channels):
        raise ValueError(f"channel names ({len(names)}) != channels ({len(description.channels)})")
    # names go verbatim into text: keep them ASCII and free of the location-token brackets
    return [re.sub(r"[<>]", "", name).encode("ascii", "replace").decode() or f"ch{i}" for i, name in enumerate(names)]


def write_captions(
    description: SeriesDescription, seed: int, channel_names: Sequence[str] | None = None
) -> dict[str, str]:
    """{"brief", "detailed", "more_detailed"} captions of `description`, worded by `seed` (deterministic).

    brief: one sentence, the main shape. detailed: length and sampling, trend, seasonality (period in samples and
    time units), noise, counts of events. more_detailed: also extremes and mean, regimes, every event (up to 8) with
    its place and size, missing values. Multivariate series name their channels (`channel_names`, else the
    description's); beyond 3 (4) channels the others are summarized by counts."""
    names = _names(description, channel_names)
    items = {item.key: item for item in inventory(description, names)}
    writer = _Writer(description, random.Random(seed), names, items)
    return {"brief": writer.brief(), "detailed": writer.detailed(), "more_detailed": writer.more_detailed()}


def ground_phrases(
    description: SeriesDescription, captions: dict[str, str], channel_names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """[{"phrase", "spans": [[start, end], ...]}] for every phrase of `captions` (verbatim) that names an event, a
    group of events, a regime, a maximum or a minimum of `description`. Longer phrases win over phrases they
    contain; a phrase that several items share ("a spike near the start" said of two spikes) gets all their spans."""
    names = _names(description, channel_names)
    spans_of: dict[str, list[tuple[int, int]]] = {}
    for item in inventory(description, names):
        for variant in item.variants:
            spans_of.setdefault(variant, [])
            spans_of[variant] += [s for s in item.spans if s not in spans_of[variant]]
    phrases = sorted(spans_of, key=len, reverse=True)
    found: dict[str, list[tuple[int, int]]] = {}
    for key in ("brief", "detailed", "more_detailed"):
        text = captions.get(key) or ""
        taken = np.zeros(len(text) + 1, dtype=bool)
        for phrase in phrases:
            if phrase not in text:  # a plain substring test first: most variants are absent
                continue
            for match in re.finditer(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text):
                if not taken[match.start() : match.end()].any():
                    taken[match.start() : match.end()] = True
                    found.setdefault(phrase, spans_of[phrase])
    return [{"phrase": phrase, "spans": [list(s) for s in sorted(spans)]} for phrase, spans in found.items()]


# ------------------------------------------------------------------------------------------------- verification
_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_PLACE = (
    rf"(?:at sample (?P<at>{_NUM})|around sample (?P<around>{_NUM})"
    rf"|(?:between samples|from sample) (?P<a>{_NUM}) (?:and|to) (?P<b>{_NUM})"
    rf"|(?P<part>{'|'.join(re.escape(p) for p, _, _ in PARTS)}))"
)
_WORDS = {word: label for label, words in NOUNS.items() for word in words}
_NOUN = "|".join(sorted(map(re.escape, _WORDS), key=len, reverse=True))
_EVENT_PLACE = re.compile(rf"\b(?P<noun>{_NOUN})\b(?P<between>[^;]{{0,40}}?){_PLACE}")
_PLURAL = "|".join(sorted(map(re.escape, PLURALS.values()), key=len, reverse=True))
_COUNT = re.compile(rf"(?<![\w.,])(?P<count>\d+) (?P<noun>{_PLURAL})\b")
_PERIOD = re.compile(
    rf"(?:every|cycle of|period of|period of [^.,;]{{1,40}}? is|period is) (?P<p>{_NUM}) samples"
    rf"|(?P<q>{_NUM})-sample (?:period|cycle)"
)
_EXTREME = re.compile(rf"(?:(?P<kind>maximum|minimum) of|(?P<word>highest|lowest) value,) (?P<v>{_NUM}),? {_PLACE}")


def _number(text: str | None) -> float | None:
    return None if text is None else float(text.replace(",", ""))


@dataclass
class _Checker:
    values: np.ndarray  # [channels x time]
    description: SeriesDescription
    names: list[str]
    tolerance: float

    @property
    def length(self) -> int:
        return self.values.shape[1]

    def channels_of(self, sentence: str) -> list[int]:
        """Channels a sentence is about: those it names, else all."""
        if len(self.names) > 1:
            named = [
                c for c, name in enumerate(self.names) if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", sentence)
            ]
            if named:
                return named
        return list(range(len(self.names)))

    def place_slack(self) -> float:
        return max(2.0, self.tolerance * self.length, float(position_step(self.length)))

    def interval(self, match: re.Match[str]) -> tuple[float, float]:
        """The samples a place names, widened by the tolerance."""
        slack = self.place_slack()
        if match.group("part"):
            _, low, high = next(p for p in PARTS if p[0] == match.group("part"))
            return low * (self.length - 1) - slack, high * (self.length - 1) + slack
        if match.group("a") is not None:
            return _number(match.group("a")) - slack, _number(match.group("b")) + slack
        index = _number(match.group("at") if match.group("at") is not None else match.group("around"))
        return index - slack, index + slack

    def periods(self, sentence: str) -> list[str]:
        problems = []
        for match in _PERIOD.finditer(sentence):
            period = _number(match.group("p") or match.group("q"))
            channels = self.channels_of(sentence)
            known = [p for c in channels for p in self.description.channels[c].periods]
            close = [p for p in known if abs(p - period) <= max(1.0, self.tolerance * p)]
            if not close:
                problems.append(f"period: caption says {format_number(period)} samples, measured {known or 'none'}")
            elif not any(
                _repeats(self.values[c], round(period), self.description.channels[c].periods) for c in channels
            ):
                problems.append(f"period: the signal does not repeat every {format_number(period)} samples")
        return problems

    def trend(self, sentence: str) -> list[str]:
        if "mostly" in sentence or re.search(r"\bsamples? \d", sentence):
            return []  # summaries over channels, and sentences about regimes or places, say nothing overall
        rising, falling = _RISING.search(sentence), _FALLING.search(sentence)
        if bool(rising) == bool(falling):
            return []
        claimed = "rising" if rising else "falling"
        problems = []
        for c in self.channels_of(sentence):
            measured = self.description.channels[c].trend
            change = _overall_change(self.values[c])
            wrong_sign = change is not None and (change < 0 if claimed == "rising" else change > 0)
            if measured in ("rising", "falling") and measured != claimed or wrong_sign and measured != claimed:
                problems.append(f"trend: caption says {claimed}, {self.names[c]} is {measured}")
        return problems

    def places(self, sentence: str) -> list[str]:
        problems = []
        for match in _EVENT_PLACE.finditer(sentence):
            label = _WORDS[match.group("noun")]
            low, high = self.interval(match)
            channels = self.channels_of(sentence[match.start() : match.end() + 40])
            events = [e for e in self.description.events if e.label == label]
            if not any(e.end - 1 >= low and e.start <= high for e in events):
                problems.append(f"place: no {label} {match.group(0)[len(match.group('noun')) :].strip()}")
            elif not any(_shows(self.values[c], label, low, high) for c in channels):
                problems.append(
                    f"place: the signal shows no {label} {match.group(0)[len(match.group('noun')) :].strip()}"
                )
        return problems

    def extremes(self, sentence: str) -> list[str]:
        problems = []
        for match in _EXTREME.finditer(sentence):
            highest = (match.group("kind") or "") == "maximum" or (match.group("word") or "") == "highest"
            value = _number(match.group("v"))
            low, high = self.interval(match)
            ok = False
            for c in self.channels_of(sentence):
                x = self.values[c]
                if not np.isfinite(x).any():
                    continue
                extreme = float(np.nanmax(x) if highest else np.nanmin(x))
                window = x[max(0, int(math.floor(low))) : max(0, int(math.ceil(high)) + 1)]
                slack = self.tolerance * max(robust_range(x), abs(extreme) * 0.01, 1e-12)
                near = (
                    np.isfinite(window).any()
                    and abs(float(np.nanmax(window) if highest else np.nanmin(window)) - extreme) <= slack
                )
                ok = ok or (abs(value - extreme) <= slack + abs(extreme) * 0.005 and near)
            if not ok:
                problems.append(
                    f"{'maximum' if highest else 'minimum'}: {match.group(0)} is not where the signal has it"
                )
        return problems

    def counts(self, sentence: str) -> list[str]:
        problems = []
        plural_to_label = {PLURALS[word]: label for word, label in _WORDS.items() if word in PLURALS}
        for match in _COUNT.finditer(sentence):
            label = plural_to_label[match.group("noun")]
            actual = sum(e.label == label for e in self.description.events)
            if int(match.group("count")) != actual:
                problems.append(f"count: caption says {match.group(0)}, the series has {actual}")
        return problems

    def length_claim(self, sentence: str) -> list[str]:
        match = re.match(rf"\s*(?:The series has |A series of |(?=\d))(?P<n>{_NUM}) (?:[\w-]+ )?samples", sentence)
        match = match or re.search(rf"(?:each of|channels \([^)]*\) of) (?P<n>{_NUM}) ", sentence)
        if match and _number(match.group("n")) != self.length:
            return [f"length: caption says {match.group('n')} samples, the series has {self.length}"]
        return []


def _overall_change(x: np.ndarray) -> float | None:
    """Level at the end minus level at the start (medians of the first and last tenth), NaN ignored."""
    tenth = max(1, len(x) // 10)
    head, tail = x[:tenth], x[-tenth:]
    if not (np.isfinite(head).any() and np.isfinite(tail).any()):
        return None
    return float(np.nanmedian(tail) - np.nanmedian(head))


def _repeats(x: np.ndarray, period: int, others: Sequence[int] = ()) -> bool:
    """Whether the cycles of `period` samples in `x` agree at all (positive correlation of the odd and even cycles'
    mean shapes, once the mean cycles of the `others` periods are removed): a lax test, to catch a period the signal
    plainly does not have."""
    observed = np.isfinite(x)
    if period < 4 or observed.sum() < 2 or len(x) < 2 * period:
        return False
    index = np.arange(len(x))
    y = np.interp(index, index[observed], x[observed])
    for other in others:
        multiple = max(other, period) / min(other, period)
        # a multiple's mean cycle contains this one: leave it
        if abs(multiple - round(multiple)) > 0.05 and 4 <= other <= len(y) // 2:
            detrended = y - moving_average(y, other)
            cycles = len(y) // other
            profile = detrended[: cycles * other].reshape(cycles, other).mean(axis=0)
            y = y - np.resize(profile, len(y))
    return cycles_agree(y - moving_average(y, period), period, z_min=0.0, min_cycles=2)


def _shows(x: np.ndarray, label: str, low: float, high: float) -> bool:
    """Whether x[low:high] (samples, NaN = missing) shows something a `label` could be; True for labels with no
    cheap signal test."""
    start, end = max(0, int(math.floor(low))), min(len(x), int(math.ceil(high)) + 1)
    window = x[start:end]
    if end <= start:
        return False
    if label in ("gap", "missing stretch"):
        return bool(np.isnan(window).any())
    if label == "flat line":
        return bool((np.diff(window) == 0).any())
    if label in ("spike", "dip", "peak", "trough"):
        reach = max(end - start, 16)
        around = np.concatenate([x[max(0, start - reach) : start], x[end : end + reach]])
        if not np.isfinite(window).any() or np.isfinite(around).sum() < 3:
            return False
        extreme = np.nanmax(window) if label in ("spike", "peak") else np.nanmin(window)
        # something 2 noise std off the surroundings: catches places that are plainly wrong
        return bool(abs(extreme - np.nanmedian(around)) >= 2 * difference_noise_std(x))
    return True


def verify_caption(
    text: str,
    values: np.ndarray,
    description: SeriesDescription,
    tolerance: float = 0.05,
    channel_names: Sequence[str] | None = None,
) -> list[str]:
    """Problems with `text` ("kind: detail"), [] when none: numbers and places the signal `values`
    `[channels x time]` (or its `description`, measured from it) contradict.

    Checked: seasonal periods (must match a measured period within max(1, tolerance x period) samples and the
    signal must repeat at that lag), the overall trend direction, places of events (an event of that label there,
    within max(2, tolerance x length) samples, and a signal that can show it), the maximum and minimum (value within
    tolerance x range, at that place), counts of events, the length. Phrasing it does not know is not checked."""
    array = as_channels(values)
    checker = _Checker(array, description, _names(description, channel_names), tolerance)
    problems: list[str] = []
    for sentence in re.split(r"(?<=[.;])\s+", text):
        for check in (checker.periods, checker.trend, checker.places, checker.extremes, checker.counts,
                      checker.length_claim):  # fmt: skip
            problems += check(sentence)
    return problems


# --------------------------------------------------------------------------------------------- the specialist
@dataclass
class CaptionWriter(Specialist):
    """Captions (three granularities) and grounding pairs of a series, from its description: measured with
    `RegimeDescriber` unless given, with the record's kept `spans` and `segments` as events and regimes (their
    sizes measured on the values). `seed` (wording) defaults to one derived from the values."""

    name: ClassVar[str] = "caption_writer"
    produces: ClassVar[tuple[str, ...]] = ("captions", "groundings", "description")

    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def __call__(
        self,
        values: np.ndarray,
        timestamps: Sequence[str] | None = None,
        *,
        description: SeriesDescription | None = None,
        spans: Sequence[dict[str, Any]] | None = None,
        segments: Sequence[dict[str, Any]] | None = None,
        channel_names: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        array = self._check(values, timestamps)
        if description is None:
            description = RegimeDescriber(analysis=self.analysis).describe(array, timestamps, channel_names)
        else:
            description = replace(description)
        if spans is not None:
            description.events = [
                EventDescription(
                    s["start"],
                    s["end"],
                    s["label"],
                    s["kind"],
                    s.get("channel"),
                    event_magnitude(array[s.get("channel") or 0], s["start"], s["end"], s["label"]),
                )  # fmt: skip
                for s in sorted(spans, key=lambda s: (s["start"], s["end"]))
            ]
        if segments is not None:
            description.segments = [(s["start"], s["end"], s["label"]) for s in segments]
        if seed is None:
            from ..records import values_hash

            seed = int(values_hash(array)[:8], 16)
        captions = write_captions(description, seed, channel_names)
        groundings = [dict(g, source=self.name) for g in ground_phrases(description, captions, channel_names)]
        return {"captions": {**captions, "source": self.name}, "groundings": groundings, "description": description}
