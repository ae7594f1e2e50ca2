"""The facts a caption states, checked against the truth of its series: truthfulness, not wording
(docs/architecture.md, Evaluation).

`caption_facts(caption, truth)` reads every fact a caption states with the caption writer's own templates
(`engine/captions.py`; the nouns, parts and adjectives are the vocabulary's, `ts_florence/vocabulary.py`) and checks
each against `truth`, the dict `Example.caption_truth` gives (`evaluation/examples.py`): for generator series the
exact `SeriesDescription` (meta["description"]), otherwise the length, channel count and missing share of the values
and the record's spans (the engine's labels the caption was written from). `fact_scores` pools the facts of many
captions; `repeats_a_sentence` says whether a text says a sentence twice.

Fact kinds (`FACT_KINDS`), each right within its tolerance (`FACT_TOLERANCE` = 10 %):

- `length`: the number of samples, within `LENGTH_TOLERANCE` (1 %). `sampling`: the sampling name ("hourly"),
  exact. `channels`: the number of channels, exact. `missing`: the share of missing values, within 10 % of it.
- `trend`: a channel's trend direction (rising / falling / flat), or, in a brief caption of several channels
  ("mostly rising") or a summary ("Of the 6 channels, 4 rise"), the most common direction or the count of channels
  with it. `trend_change`: the size of the trend (level at the end minus at the start, series units) within 10 %.
- `period`: a seasonal period (samples) within 10 % of one of the channel's, with its duration ("(1 day)") within
  10 % of that period times the sampling when one is stated; "a daily cycle" when some period lasts a day within
  10 %; "no seasonal cycle" when the channel has none; "4 of them repeat every 9 samples" when 4 channels do.
- `noise`: a channel's noise level (low / moderate / high; or the most common one: "mostly smooth").
  `noise_std`: its noise std (series units) within 10 %.
- `mean`, `extreme`: the mean, and the maximum or minimum, within 10 % of the channel's range (maximum - minimum);
  an extreme also at its sample, within the place tolerance.
- `event_count`: the number of events of a kind over all channels ("3 level shifts", "a spike"), exact; "and 6
  more events" when the events listed and those make every event.
- `event`: an event of that kind (on the channel named, if any) at the place stated ("at sample 300", "between
  samples 200 and 260", "near the end", ...): the place widened by the place tolerance overlaps it.
  `event_size`: its size ("of +4.1", "with a std of 0.3", "of amplitude 2", "lasting 12 samples") within 10 %.
- `regime`: a regime of that label from the stated start to the stated end (each within the place tolerance), or
  the number of regimes.

The place tolerance is `PLACE_TOLERANCE` (2 %) of the length, at least 1 sample. A size is checked only when what
it is the size of is right (the trend's direction, a matching event): one wrong claim is one wrong fact. A fact the
truth cannot check (a period of a semi-synthetic series, whose channels are not described) is uncheckable: left out
of precision.

Scores: precision = right facts / checked stated facts; recall = of the true facts the example's target caption
states (the engine's caption of the same series at the same granularity: what a caption of that granularity is
expected to say), the share the prediction states right. Both pool the facts of every caption (micro). A wrong
number lowers precision and leaves its fact unstated for recall; an omitted number lowers recall only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..vocabulary import NOISE_WORDS, NOUNS, PARTS, PLURALS, REGIME_LABELS, REGIME_NOUNS, SAMPLING_SECONDS, TREND_WORDS
from .metrics import _CALENDAR_MINUTES, _SAMPLING_WORDS, PLACE_TOLERANCE

FACT_TOLERANCE = 0.10
"""A stated number is right within this fraction of the true one (sizes, periods, durations), or of the channel's
range (maximum - minimum; levels: mean, maximum, minimum)."""
LENGTH_TOLERANCE = 0.01
"""A stated length is right within this fraction of the true number of samples."""
FACT_KINDS: dict[str, str] = {
    "length": "number of samples (within 1%)",
    "sampling": "sampling name (exact)",
    "channels": "number of channels (exact)",
    "missing": "share of missing values (within 10%)",
    "trend": "trend direction of a channel, or of most channels",
    "trend_change": "size of the trend, series units (within 10%)",
    "period": "seasonal period in samples and its duration (within 10%), or that there is none",
    "noise": "noise level of a channel, or of most channels",
    "noise_std": "noise std, series units (within 10%)",
    "mean": "mean (within 10% of the range)",
    "extreme": "maximum or minimum (within 10% of the range) at its sample (place tolerance)",
    "event_count": "number of events of a kind (exact)",
    "event": "an event of that kind at that place (place tolerance)",
    "event_size": "size or width of that event (within 10%)",
    "regime": "a regime of that label from start to end (place tolerance), or the number of regimes",
}
"""Every kind of fact a caption can state, and when it is right."""


@dataclass(frozen=True)
class Fact:
    """One fact a caption states."""

    kind: str
    """One of `FACT_KINDS`."""
    text: str
    """The caption's words that state it."""
    verdict: bool | None
    """True when the truth agrees, False when it contradicts it, None when it cannot tell."""
    covers: frozenset = field(default_factory=frozenset)
    """What in the truth a right fact is about (`(kind, channel, ...)` keys): recall matches these."""


# ---------------------------------------------------------------------------------------------------------
# The writer's phrasing, as regular expressions (lower case)

_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_SIGNED = r"[-+](?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_WORD_LABEL = {word: label for label, words in NOUNS.items() for word in words}
_WORD_LABEL.update({PLURALS[word]: label for word, label in list(_WORD_LABEL.items()) if word in PLURALS})


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(sorted(map(re.escape, set(words)), key=len, reverse=True))


_PART_RANGES = {phrase: (low, high) for phrase, low, high in PARTS}
_PLACE = (
    rf" (?:at sample (?P<at>{_NUM})|around sample (?P<around>{_NUM})|between samples (?P<a>{_NUM}) and (?P<b>{_NUM})"
    rf"|(?P<part>{_alternatives(_PART_RANGES)}))"
)
_SIZE = (
    rf" (?:of (?P<signed>{_SIGNED})|\((?P<signed2>{_SIGNED})\)|with a std of (?P<std>{_NUM})|\(std (?P<std2>{_NUM})\)"
    rf"|of amplitude (?P<amp>{_NUM})|\(amplitude (?P<amp2>{_NUM})\)|lasting (?P<w>{_NUM}) samples?"
    rf"|of (?P<w2>{_NUM}) samples?)"
)
_EVENT = rf"(?<![\w-])(?P<det>an?|one|\d+) (?P<noun>{_alternatives(_WORD_LABEL)})(?![\w-])(?:{_SIZE})?(?:{_PLACE})?"
_MORE_EVENTS = re.compile(r"\band (?P<k>\d+) more events?\b")
_REGIME_LABELS = _alternatives(label for labels in REGIME_LABELS.values() for label in labels)
_REGIME = re.compile(
    rf"(?<![\w-])(?:an? )?(?P<label>{_REGIME_LABELS})(?: (?:{_alternatives(REGIME_NOUNS)}))? "
    rf"(?:from sample (?P<a>{_NUM}) to (?P<b>{_NUM})|between samples (?P<a2>{_NUM}) and (?P<b2>{_NUM}))"
)
_REGIME_COUNT = re.compile(r"\bgoes through (?P<k>\d+) regimes\b")
_UNITS = "second|minute|hour|day|week|month|quarter|year"
_PERIOD = re.compile(
    rf"(?:every|cycle of|period of|period of [^.]{{1,40}}? is) (?P<p>{_NUM}) samples"
    rf"(?: \((?P<d>{_NUM}) (?P<unit>{_UNITS})s?\))?"
    rf"|(?P<q>{_NUM})-sample (?:period|cycle)|(?P<adv>hourly|daily|weekly|monthly|yearly) cycle"
)
_NO_PERIOD = re.compile(r"\b(?:shows no seasonal cycle|has no clear seasonality|no regular cycle appears)\b")
_PERIOD_SUMMARY = re.compile(rf"^(?P<k>\d+) of them repeat every (?P<p>{_NUM}) samples")
_TREND = re.compile(
    rf"\b(?P<verb>rises|falls|climbs|declines|trends upward|trends downward)\b(?:,? (?:by|gaining|losing) about "
    rf"(?P<x>{_NUM}))?"
)
_FLAT = re.compile(r"\b(?:shows no clear trend|stays level overall|has no trend)\b")
_DIRECTIONS = {"rises": "rising", "climbs": "rising", "trends upward": "rising", "falls": "falling",
               "declines": "falling", "trends downward": "falling"}  # fmt: skip
_TREND_SUMMARY = re.compile(r"^of the (?P<n>\d+) channels, (?P<parts>.*)$")
_SUMMARY_VERBS = {"rise": "rising", "fall": "falling", "stay flat": "flat"}
_NOISE = re.compile(
    r"\b(?:has (?P<a>low|moderate|high) noise|noise in [^.]*? is (?P<b>low|moderate|high)"
    r"|noise is (?P<c>low|moderate|high) in)\b"
)
_NOISE_STD = re.compile(rf"\(std about (?P<s>{_NUM})\)")
_NOISE_WORD = {word: level for level, words in NOISE_WORDS.items() for word in words}
_TREND_WORD = {word: trend for trend, words in TREND_WORDS.items() for word in words}
_NOISE_ALTERNATIVES, _TREND_ALTERNATIVES = _alternatives(_NOISE_WORD), _alternatives(_TREND_WORD)
_BRIEF_WORDS = (
    rf"(?:(?P<noise>{_NOISE_ALTERNATIVES})(?![\w-]))?(?: and | )?(?:(?P<trend>{_TREND_ALTERNATIVES})(?![\w-]))?"
)
_BRIEF_ONE = re.compile(rf"^an? {_BRIEF_WORDS} ?(?:plain )?series\b")
_BRIEF_MANY = re.compile(rf"^(?P<k>\d+) channels(?=[,.]|$)(?:, mostly {_BRIEF_WORDS})?")
_MEAN = re.compile(rf"\baverages (?P<m>{_NUM})")
_EXTREME = re.compile(
    rf"(?:a (?P<kind>maximum|minimum) of (?P<v>{_NUM})|its (?P<word>highest|lowest) value, (?P<v2>{_NUM}),) "
    rf"(?:at|around) sample (?P<at>{_NUM})"
)
_MISSING = re.compile(
    rf"about (?P<p>{_NUM})% of the values are missing|some values are missing \(about (?P<q>{_NUM})%\)"
)
_OVERVIEW = re.compile(
    rf"^(?:the series has |a series of )?(?:(?P<k>\d+) channels \([^)]*\),?(?: each)? of )?(?P<n>{_NUM}) "
    r"(?:(?P<adj>[a-z-]+ly) )?samples(?: taken (?P<every>every [\w ]+?))?\.?$"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _close(stated: float, true: float, scale: float | None = None) -> bool:
    """Whether `stated` is within `FACT_TOLERANCE` of `true` (of `scale` when given: a level against a range)."""
    return abs(stated - true) <= FACT_TOLERANCE * abs(true if scale is None else scale) + 1e-12


def sentences(text: str) -> list[str]:
    """The sentences of a text (split after ".", "!" or "?" followed by white space; decimal points stay)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def repeats_a_sentence(text: str) -> bool:
    """Whether `text` says one sentence twice about the same channel (compared lower-cased, white space collapsed;
    a sentence is about the last channel named up to it, "channel price", so "A second period of 10 samples appears
    as well." said of two channels is not a repeat)."""
    said, channel = [], None
    for sentence in sentences(text.lower()):
        named = re.findall(r"\bchannel ([\w-]+)", sentence)
        channel = named[-1] if named else channel
        said.append((channel, " ".join(sentence.split())))
    return len(set(said)) < len(said)


# ---------------------------------------------------------------------------------------------------------
# The truth


@dataclass
class _Truth:
    """`Example.caption_truth`, read once: what each fact is checked against."""

    length: int | None
    n_channels: int | None
    sampling: str | None
    sampling_known: bool
    """Whether `sampling` is known (None then means: no timestamps, so a caption that names a sampling is wrong)."""
    missing: float | None
    channels: list[dict[str, Any]]
    events: list[dict[str, Any]] | None
    segments: list[tuple[int, int, str]] | None
    names: list[str]

    @classmethod
    def of(cls, truth: Mapping[str, Any]) -> _Truth:
        events = truth.get("events")
        if events is not None:
            events = [
                dict(e)
                if isinstance(e, Mapping)
                else {"start": e[0], "end": e[1], "label": e[2] if len(e) > 2 else None}
                for e in events
            ]
        channels = [dict(c) for c in truth.get("channels") or []]
        segments = truth.get("segments")
        return cls(
            length=truth.get("length"),
            n_channels=truth.get("n_channels") or (len(channels) or None),
            sampling=truth.get("sampling"),
            sampling_known="sampling" in truth,
            missing=truth.get("missing"),
            channels=channels,
            events=events,
            segments=[tuple(s) for s in segments] if segments else None,
            names=[str(c.get("name") or f"ch{i}").lower() for i, c in enumerate(channels)],
        )

    def slack(self) -> float:
        """The place tolerance in samples."""
        return max(1.0, PLACE_TOLERANCE * (self.length or 0))

    def channel(self, c: int) -> dict[str, Any]:
        return self.channels[c] if 0 <= c < len(self.channels) else {}

    def sampling_seconds(self) -> float | None:
        return SAMPLING_SECONDS.get(self.sampling) if self.sampling else None

    def seasonality_known(self, c: int) -> bool:
        # semi-synthetic descriptions carry events only: their channels are not measured (no trend, no noise, no
        # seasonal strength, and periods [] that do not mean "no cycle")
        channel = self.channel(c)
        return bool(channel.get("periods")) or any(
            channel.get(k) is not None for k in ("seasonal_strength", "trend", "noise")
        )


# ---------------------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Reader:
    truth: _Truth
    facts: list[Fact] = field(default_factory=list)

    def add(self, kind: str, text: str, verdict: bool | None, covers: Iterable = ()) -> None:
        self.facts.append(Fact(kind, text, verdict, frozenset(covers) if verdict else frozenset()))

    # ---- which channel a sentence is about
    def channels_named(self, sentence: str) -> list[int] | None:
        """The channels a sentence names ("channel price"), [-1] for an unknown name, None when it names none; a
        univariate series' sentences are about its one channel."""
        if len(self.truth.channels) <= 1:
            return [0]
        names = _alternatives(self.truth.names)
        named = [self.truth.names.index(m["name"]) for m in re.finditer(rf"\bchannel (?P<name>{names})\b", sentence)]
        if named:
            return sorted(set(named))
        return [-1] if re.search(r"\bchannel \S", sentence) else None

    def all_channels(self) -> list[int]:
        return list(range(max(1, len(self.truth.channels))))

    # ---- series-level facts
    def overview(self, sentence: str) -> None:
        m = _OVERVIEW.match(sentence)
        if not m:
            return
        n = self.truth.length
        stated = _number(m["n"])
        self.add("length", m[0], None if n is None else abs(stated - n) <= LENGTH_TOLERANCE * n, [("length",)])
        sampling = m["adj"] or m["every"]
        if sampling:
            right = sampling == self.truth.sampling if self.truth.sampling_known else None
            self.add("sampling", sampling, right, [("sampling",)])
        if m["k"]:
            k = self.truth.n_channels
            self.add("channels", m[0], None if k is None else int(m["k"]) == k, [("channels",)])

    def missing(self, sentence: str) -> None:
        for m in _MISSING.finditer(sentence):
            share = _number(m["p"] or m["q"]) / 100
            true = self.truth.missing
            self.add("missing", m[0], None if true is None else true > 0 and _close(share, true), [("missing",)])

    def brief(self, sentence: str) -> None:
        one, many = _BRIEF_ONE.match(sentence), _BRIEF_MANY.match(sentence)
        m = one or many
        if not m:
            return
        if many:
            k = self.truth.n_channels
            self.add("channels", m[0], None if k is None else int(many["k"]) == k, [("channels",)])
        for kind, word, table in (("noise", m["noise"], _NOISE_WORD), ("trend", m["trend"], _TREND_WORD)):
            if word:
                self.mostly(kind, word, table[word], several=bool(many))

    def mostly(self, kind: str, word: str, value: str, several: bool) -> None:
        """A brief caption's noise or trend word: the first channel's, or the most common over channels."""
        known = [(c, ch.get(kind)) for c, ch in enumerate(self.truth.channels) if ch.get(kind) is not None]
        if not known:
            self.add(kind, word, None)
            return
        if not several:
            known = known[:1]
        counts = {v: sum(x == v for _, x in known) for _, v in known}
        right = counts.get(value, 0) == max(counts.values())
        self.add(kind, word, right, [(kind, c) for c, v in known if v == value])

    def summary(self, sentence: str) -> bool:
        """ "Of the 6 channels, 4 rise and 2 fall." and "4 of them repeat every 9 samples."; True when it is one."""
        m = _TREND_SUMMARY.match(sentence)
        if m:
            trends = [ch.get("trend") for ch in self.truth.channels]
            for part in re.finditer(r"(?P<k>\d+) (?P<verb>rise|fall|stay flat)\b", m["parts"]):
                trend = _SUMMARY_VERBS[part["verb"]]
                right = None if None in trends or not trends else trends.count(trend) == int(part["k"])
                self.add("trend", part[0], right, [("trend", c) for c, t in enumerate(trends) if t == trend])
            return True
        m = _PERIOD_SUMMARY.match(sentence)
        if m:
            p = _number(m["p"])
            known = [c for c in self.all_channels() if self.truth.seasonality_known(c)]
            having = [c for c in known if any(_close(p, q) for q in self.truth.channel(c).get("periods") or [])]
            right = len(having) == int(m["k"]) if known else None
            self.add("period", m[0], right, [("period", c, q) for c in having for q in self.periods_near(c, p)])
            return True
        return False

    # ---- channel-level facts
    def trend(self, sentence: str, channels: list[int]) -> None:
        for m in _TREND.finditer(sentence):
            claimed = _DIRECTIONS[m["verb"]]
            true = [c for c in channels if self.truth.channel(c).get("trend") == claimed]
            known = any(self.truth.channel(c).get("trend") is not None for c in channels)
            self.add("trend", m[0], bool(true) if known else None, [("trend", c) for c in true])
            if m["x"] is not None:
                self.trend_change(m[0], _number(m["x"]) * (1 if claimed == "rising" else -1), true)
        for m in _FLAT.finditer(sentence):
            true = [c for c in channels if self.truth.channel(c).get("trend") == "flat"]
            known = any(self.truth.channel(c).get("trend") is not None for c in channels)
            self.add("trend", m[0], bool(true) if known else None, [("trend", c) for c in true])

    def trend_change(self, text: str, change: float, channels: list[int]) -> None:
        sizes = [(c, self.truth.channel(c).get("trend_change")) for c in channels]
        sizes = [(c, x) for c, x in sizes if x is not None]
        if not sizes:  # the direction is wrong (or unknown): the size of a wrong trend is not checked
            self.add("trend_change", text, None)
            return
        right = [c for c, x in sizes if _close(change, x)]
        self.add("trend_change", text, bool(right), [("trend_change", c) for c in right])

    def periods_near(self, c: int, p: float) -> list[int]:
        return [q for q in self.truth.channel(c).get("periods") or [] if _close(p, q)]

    def period(self, sentence: str, channels: list[int]) -> None:
        known = [c for c in channels if self.truth.seasonality_known(c)]
        for m in _PERIOD.finditer(sentence):
            if not known:
                self.add("period", m[0], None)
                continue
            covers = [("period", c, q) for c in known for q in self.matching_periods(m, c)]
            self.add("period", m[0], bool(covers), covers)
        for m in _NO_PERIOD.finditer(sentence):
            none = [c for c in known if not self.truth.channel(c).get("periods")]
            self.add("period", m[0], bool(none) if known else None, [("period", c, None) for c in none])

    def matching_periods(self, m: re.Match[str], c: int) -> list[int]:
        """The true periods of channel `c` a period statement names right (see the module docstring)."""
        periods = self.truth.channel(c).get("periods") or []
        sampling = self.truth.sampling_seconds()
        if m["adv"]:
            cycle = _seconds(_SAMPLING_WORDS[m["adv"]])
            return [q for q in periods if sampling is not None and _close(q * sampling, cycle)]
        p = _number(m["p"] or m["q"])
        near = [q for q in periods if _close(p, q)]
        if m["d"] is None:
            return near
        return [q for q in near if sampling is not None and _close(_number(m["d"]) * _seconds(m["unit"]), q * sampling)]

    def noise(self, sentence: str, channels: list[int]) -> None:
        for m in _NOISE.finditer(sentence):
            level = m["a"] or m["b"] or m["c"]
            known = [c for c in channels if self.truth.channel(c).get("noise") is not None]
            true = [c for c in known if self.truth.channel(c)["noise"] == level]
            self.add("noise", m[0], bool(true) if known else None, [("noise", c) for c in true])
        for m in _NOISE_STD.finditer(sentence):
            stds = [(c, self.truth.channel(c).get("noise_std")) for c in channels]
            stds = [(c, s) for c, s in stds if s is not None]
            right = [c for c, s in stds if _close(_number(m["s"]), s)]
            self.add("noise_std", m[0], bool(right) if stds else None, [("noise_std", c) for c in right])

    def levels(self, sentence: str, channels: list[int]) -> None:
        for m in _MEAN.finditer(sentence):
            known = [c for c in channels if self.truth.channel(c).get("mean") is not None and self.range(c)]
            right = [c for c in known if _close(_number(m["m"]), self.truth.channel(c)["mean"], self.range(c))]
            self.add("mean", m[0], bool(right) if known else None, [("mean", c) for c in right])
        for m in _EXTREME.finditer(sentence):
            kind = m["kind"] or ("maximum" if m["word"] == "highest" else "minimum")
            value, at = _number(m["v"] or m["v2"]), _number(m["at"])
            known = [c for c in channels if self.truth.channel(c).get(kind) is not None and self.range(c)]
            right = [
                c
                for c in known
                if _close(value, self.truth.channel(c)[kind], self.range(c))
                and self.truth.channel(c).get(f"{kind}_at") is not None
                and abs(at - self.truth.channel(c)[f"{kind}_at"]) <= self.truth.slack()
            ]
            self.add("extreme", m[0], bool(right) if known else None, [("extreme", c, kind) for c in right])

    def range(self, c: int) -> float | None:
        channel = self.truth.channel(c)
        if channel.get("maximum") is None or channel.get("minimum") is None:
            return None
        return float(channel["maximum"] - channel["minimum"])

    # ---- events and regimes
    def events(self, sentence: str) -> None:
        listed = 0
        pattern = _EVENT + self.channel_suffix()
        for m in re.finditer(pattern, sentence):
            label = _WORD_LABEL[m["noun"]]
            if m["at"] or m["around"] or m["a"] or m["part"]:
                listed += 1
                self.event(m, label)
            else:
                self.count(m, label)
        more = _MORE_EVENTS.search(sentence)
        if more and listed and self.truth.events is not None:
            right = len(self.truth.events) == listed + int(more["k"])
            self.add("event_count", more[0], right, [("event_count", None)])

    def channel_suffix(self) -> str:
        if len(self.truth.names) < 2:
            return ""
        return rf"(?: (?:in|on) (?P<channel>{_alternatives(self.truth.names)})(?![\w-]))?"

    def count(self, m: re.Match[str], label: str) -> None:
        if self.truth.events is None:
            self.add("event_count", m[0], None)
            return
        stated = 1 if m["det"] in ("a", "an", "one") else int(m["det"])
        right = sum(e.get("label") == label for e in self.truth.events) == stated
        self.add("event_count", m[0], right, [("event_count", label)])

    def event(self, m: re.Match[str], label: str) -> None:
        if self.truth.events is None or self.truth.length is None:
            self.add("event", m[0], None)
            return
        low, high = self.interval(m)
        channel = self.truth.names.index(m["channel"]) if m.groupdict().get("channel") else None
        found = [
            (k, e)
            for k, e in enumerate(self.truth.events)
            if e.get("label") == label
            and e["start"] <= high
            and low < e["end"]
            and (channel is None or e.get("channel") in (None, channel))
        ]
        centre = (low + high) / 2
        found.sort(key=lambda item: abs((item[1]["start"] + item[1]["end"] - 1) / 2 - centre))
        self.add("event", m[0], bool(found), [("event", found[0][0])] if found else ())
        size = self.size(m)
        if size is not None:
            right = [k for k, e in found if self.size_right(size, e)] if found else None
            self.add(
                "event_size", m[0], None if right is None else bool(right), [("event_size", k) for k in right or ()]
            )

    def interval(self, m: re.Match[str]) -> tuple[float, float]:
        """The samples a place names, widened by the place tolerance (both ends included)."""
        slack, n = self.truth.slack(), self.truth.length
        if m["part"]:
            low, high = _PART_RANGES[m["part"]]
            return low * (n - 1) - slack, high * (n - 1) + slack
        if m["a"] is not None:
            return _number(m["a"]) - slack, _number(m["b"]) + slack
        at = _number(m["at"] or m["around"])
        return at - slack, at + slack

    @staticmethod
    def size(m: re.Match[str]) -> tuple[str, float] | None:
        for group, what in (("signed", "magnitude"), ("signed2", "magnitude"), ("std", "magnitude"),
                            ("std2", "magnitude"), ("amp", "magnitude"), ("amp2", "magnitude"), ("w", "width"),
                            ("w2", "width")):  # fmt: skip
            if m[group] is not None:
                return what, _number(m[group])
        return None

    @staticmethod
    def size_right(size: tuple[str, float], event: Mapping[str, Any]) -> bool:
        what, value = size
        if what == "width":
            return abs(value - (event["end"] - event["start"])) <= max(
                1.0, FACT_TOLERANCE * (event["end"] - event["start"])
            )
        return event.get("magnitude") is not None and _close(value, event["magnitude"])

    def regimes(self, sentence: str) -> None:
        segments = self.truth.segments
        for m in _REGIME_COUNT.finditer(sentence):
            self.add("regime", m[0], None if segments is None else len(segments) == int(m["k"]), [("regime", "count")])
        for m in _REGIME.finditer(sentence):
            if segments is None:
                self.add("regime", m[0], None)
                continue
            a, b, slack = _number(m["a"] or m["a2"]), _number(m["b"] or m["b2"]), self.truth.slack()
            right = [
                k
                for k, (start, end, label) in enumerate(segments)
                if label == m["label"] and abs(start - a) <= slack and abs(end - b) <= slack
            ]
            self.add("regime", m[0], bool(right), [("regime", k) for k in right[:1]])

    # ---- a whole caption
    def read(self, caption: str) -> list[Fact]:
        previous: list[int] | None = None
        for sentence in sentences(caption.lower()):
            self.overview(sentence)
            self.brief(sentence)
            self.missing(sentence)
            self.regimes(sentence)
            if self.summary(sentence):
                continue
            named = self.channels_named(sentence)
            if named is None and previous is not None and re.match(r"an? (?:weaker|second) ", sentence):
                named = previous  # "A weaker cycle of 24 samples is also present." is about the channel before
            channels = named if named is not None else self.all_channels()
            for check in (self.trend, self.period, self.noise, self.levels):
                check(sentence, channels)
            self.events(sentence)
            previous = named
        return self.facts


def _seconds(unit: str) -> float:
    """Seconds of a calendar unit ("day", "week", ...; `metrics._CALENDAR_MINUTES`)."""
    return 1.0 if unit == "second" else 60.0 * _CALENDAR_MINUTES[unit]


def caption_facts(caption: str, truth: Mapping[str, Any]) -> list[Fact]:
    """Every fact `caption` states, in the order stated, each with its verdict against `truth` (the dict of
    `Example.caption_truth`: `length` and `n_channels`, `sampling`, `missing` (share of missing values), `channels`
    (`ChannelDescription` dicts), `events` (dicts with start, end, label, channel, magnitude; samples, half-open),
    `segments` ((start, end, label)); what is absent or None leaves its facts uncheckable)."""
    return _Reader(_Truth.of(truth)).read(caption)


def phrase_kind(phrase: str) -> tuple[str, str | None]:
    """(kind, event label or None) of a grounded phrase, read with the writer's phrasing: "event" (one event with
    its place or size: "a spike of +4.1 at sample 300"), "group" (events counted: "3 level shifts", "a spike"),
    "regime" ("a calm phase from sample 0 to 318"), "extreme" ("a maximum of 3.4 at sample 200") or "other"."""
    text = " ".join(phrase.lower().split())
    if _REGIME.search(text):
        return "regime", None
    if _EXTREME.search(text):
        return "extreme", None
    m = re.search(_EVENT, text)
    if m is None:
        return "other", None
    located = any(m[g] is not None for g in ("at", "around", "a", "part")) or _Reader.size(m) is not None
    return ("event" if located else "group"), _WORD_LABEL[m["noun"]]


def fact_scores(
    predictions: Sequence[str], targets: Sequence[str], truths: Sequence[Mapping[str, Any]]
) -> dict[str, float | None]:
    """Fact precision and recall of predicted captions, overall and per fact kind, pooled over captions (see the
    module docstring): `{"fact_precision", "fact_recall", "fact_precision[kind]", "fact_recall[kind]", ...}`; a
    kind's precision is there when some prediction states a checkable fact of it, its recall when some target
    states a true one. None overall when nothing is checkable (recall: when no target states a true fact)."""
    if not len(predictions) == len(targets) == len(truths):
        raise ValueError(f"{len(predictions)} predictions, {len(targets)} targets, {len(truths)} truths")
    right: dict[str, int] = {}
    checked: dict[str, int] = {}
    found: dict[str, int] = {}
    expected: dict[str, int] = {}
    for prediction, target, truth in zip(predictions, targets, truths, strict=True):
        stated = caption_facts(prediction, truth)
        for fact in stated:
            if fact.verdict is not None:
                checked[fact.kind] = checked.get(fact.kind, 0) + 1
                right[fact.kind] = right.get(fact.kind, 0) + int(fact.verdict)
        covered = {key for fact in stated for key in fact.covers}
        for key in {key for fact in caption_facts(target, truth) for key in fact.covers}:
            expected[key[0]] = expected.get(key[0], 0) + 1
            found[key[0]] = found.get(key[0], 0) + int(key in covered)
    scores: dict[str, float | None] = {
        "fact_precision": sum(right.values()) / sum(checked.values()) if checked else None,
        "fact_recall": sum(found.values()) / sum(expected.values()) if expected else None,
    }
    for kind in FACT_KINDS:
        if checked.get(kind):
            scores[f"fact_precision[{kind}]"] = right[kind] / checked[kind]
        if expected.get(kind):
            scores[f"fact_recall[{kind}]"] = found[kind] / expected[kind]
    return scores


__all__ = [
    "FACT_KINDS",
    "FACT_TOLERANCE",
    "LENGTH_TOLERANCE",
    "Fact",
    "caption_facts",
    "fact_scores",
    "phrase_kind",
    "repeats_a_sentence",
    "sentences",
]
