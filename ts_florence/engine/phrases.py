"""The words of the engine's texts: numbers, the nouns and places captions use, span descriptions, and the phrase
inventory (every way the caption writer can name something with a place).

Numbers are rounded for their magnitude (`format_number`: three significant digits, thousands separators); sample
positions are exact below 1,000 samples and rounded to 3 significant digits beyond (`position_step`). The nouns of
each span label, their plurals and the parts of a series are the vocabulary's (`ts_florence/vocabulary.py`, where
the evaluation reads them too), so a new label needs its words there. The caption writer (`captions.write_captions`),
the grounding of its phrases (`captions.ground_phrases`) and the check of a caption against the signal
(`captions.verify_caption`) all read this inventory, so whatever the writer can say, the other two can find; the
specialists word their span descriptions with `describe_event`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..tasks import place_number, position_step
from ..vocabulary import NOUNS, PARTS, PLURALS, REGIME_NOUNS, SAMPLING_SECONDS
from .descriptions import EventDescription, SeriesDescription

__all__ = ["NOUNS", "PARTS", "PLURALS", "REGIME_NOUNS"]  # re-exported from the vocabulary, where they live

_UNITS = (("year", 31556952.0), ("week", 604800.0), ("day", 86400.0), ("hour", 3600.0), ("minute", 60.0),
          ("second", 1.0))  # fmt: skip
_ADVERB_UNITS = {"day": "daily", "week": "weekly", "year": "yearly", "hour": "hourly"}


# ------------------------------------------------------------------------------------------------------ numbers
def format_number(value: float, digits: int = 3, signed: bool = False) -> str:
    """`value` rounded to `digits` significant digits in plain notation with thousands separators.

    4.1234 -> "4.12", 0.012345 -> "0.0123", 12345.6 -> "12,300", -0.5 -> "-0.5"; `signed` adds "+" to positives."""
    if not math.isfinite(value):
        return "nan"
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    rounded = round(value, digits - 1 - exponent)
    if rounded == 0:
        return "0"
    text = f"{rounded:,.{max(0, digits - 1 - exponent)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"+{text}" if signed and rounded > 0 else text


def period_duration(period: float, sampling: str | None) -> tuple[str, str | None] | None:
    """`period` samples in time units ("1 day", adverb "daily"), or None when the sampling is unknown."""
    if sampling not in SAMPLING_SECONDS:
        return None
    seconds = period * SAMPLING_SECONDS[sampling]
    for unit, size in _UNITS:
        amount = seconds / size
        nice = round(amount * 2) / 2
        if nice >= 1 and abs(amount - nice) <= 0.02 * amount:
            text = format_number(nice)
            plural = "" if text == "1" else "s"
            return f"{text} {unit}{plural}", (_ADVERB_UNITS.get(unit) if text == "1" else None)
    for unit, size in _UNITS:
        if seconds >= size:
            return f"{format_number(seconds / size, 2)} {unit}s", None
    return None


def percent(fraction: float) -> str:
    """`fraction` as a percentage: "4.2%", "37%"."""
    value = 100 * fraction
    return format_number(value, 2 if value < 10 else 3) + "%"


# ------------------------------------------------------------------------------------------ span descriptions
def describe_event(label: str, magnitude: float | None, length: int) -> str:
    """Short text for a span's `description`: "spike of +4.1", "gap of 20 samples", "flat line for 8 samples"."""
    samples = f"{format_number(length)} sample{'s' if length != 1 else ''}"
    if label in ("gap", "missing stretch"):
        return f"{label} of {samples}"
    if label == "flat line" or magnitude is None:
        return f"{label} for {samples}"
    if label == "variance burst":
        return f"variance burst with std {format_number(magnitude)} over {samples}"
    if label == "oscillation burst":
        return f"oscillation burst of amplitude {format_number(magnitude)} over {samples}"
    return f"{label} of {format_number(magnitude, signed=True)}"


# --------------------------------------------------------------------------------------------- phrase inventory
@dataclass(frozen=True)
class PhraseItem:
    """Something with a place a caption can name, with every way the writer can name it."""

    key: str
    spans: tuple[tuple[int, int], ...]
    variants: tuple[str, ...]


def article(word: str) -> str:
    """ "a" or "an" before `word`."""
    return "an" if word[0] in "aeiou" else "a"


def _channel_suffixes(channel: int | None, names: Sequence[str]) -> tuple[str, ...]:
    if channel is None or len(names) < 2 or channel >= len(names):
        return ("",)
    return (f" in {names[channel]}", f" on {names[channel]}")


def _places(start: int, end: int, length: int, unique_parts: bool) -> tuple[str, ...]:
    """Ways to say where `[start, end)` is (exact forms first)."""
    step = position_step(length)
    center = (start + end - 1) / 2
    forms = []
    if end - start <= 2 and step == 1:
        forms.append(f"at sample {format_number(start, digits=12)}")
    if end - start > 2 and end - start >= 0.02 * length:
        forms.append(f"between samples {place_number(start, length)} and {place_number(end, length)}")
    forms.append(f"around sample {place_number(center, length)}")
    if unique_parts:
        relative = center / max(1, length - 1)
        forms += [phrase for phrase, low, high in PARTS if low <= relative <= high]
    return tuple(forms)


def _sizes(event: EventDescription) -> tuple[str, ...]:
    width = event.end - event.start
    samples = f"{format_number(width, digits=12)} sample{'s' if width != 1 else ''}"
    if event.label in ("flat line", "missing stretch", "gap") or event.magnitude is None:
        return (f"lasting {samples}", f"of {samples}")
    size = format_number(event.magnitude)
    if event.label == "variance burst":
        return (f"with a std of {size}", f"(std {size})")
    if event.label == "oscillation burst":
        return (f"of amplitude {size}", f"(amplitude {size})")
    signed = format_number(event.magnitude, signed=True)
    return (f"of {signed}", f"({signed})")


def _part_of(event: EventDescription, length: int) -> str:
    relative = (event.start + event.end - 1) / 2 / max(1, length - 1)
    return next((phrase for phrase, low, high in PARTS if low <= relative <= high), "")


def _event_items(description: SeriesDescription, names: Sequence[str]) -> list[PhraseItem]:
    n = description.length
    items = []
    for k, event in enumerate(description.events):
        # a part of the series names this event only if no other event of its label is there too
        twins = [
            e for e in description.events
            if e.label == event.label and e.channel == event.channel and _part_of(e, n) == _part_of(event, n)
        ]  # fmt: skip
        places = _places(event.start, event.end, n, unique_parts=len(twins) == 1)
        variants = []
        for noun in NOUNS.get(event.label, (event.label,)):
            for size in (*_sizes(event), ""):
                for place in places:
                    for suffix in _channel_suffixes(event.channel, names):
                        words = " ".join(part for part in (f"{article(noun)} {noun}", size, place) if part)
                        variants.append(words + suffix)
        items.append(PhraseItem(f"event:{k}", ((event.start, event.end),), tuple(variants)))
    return items


def event_groups(description: SeriesDescription) -> dict[str, list[EventDescription]]:
    groups: dict[str, list[EventDescription]] = {}
    for event in description.events:
        groups.setdefault(event.label, []).append(event)
    return groups


def _count_phrases(label: str, count: int) -> tuple[str, ...]:
    nouns = NOUNS.get(label, (label,))
    if count == 1:
        return tuple(f"{article(noun)} {noun}" for noun in nouns) + tuple(f"one {noun}" for noun in nouns)
    return tuple(f"{count} {PLURALS.get(noun, noun + 's')}" for noun in nouns)


def _group_items(description: SeriesDescription) -> list[PhraseItem]:
    return [
        PhraseItem(f"group:{label}", tuple((e.start, e.end) for e in events), _count_phrases(label, len(events)))
        for label, events in event_groups(description).items()
    ]


def _segment_items(description: SeriesDescription) -> list[PhraseItem]:
    n = description.length
    if len(description.segments) < 2:
        return []
    items = []
    for k, (start, end, label) in enumerate(description.segments):
        a, b = place_number(start, n), place_number(end, n)
        variants = [f"{article(label)} {label} {noun} from sample {a} to {b}" for noun in REGIME_NOUNS]
        variants += [f"{label} from sample {a} to {b}", f"{label} between samples {a} and {b}"]
        items.append(PhraseItem(f"segment:{k}", ((start, end),), tuple(variants)))
    return items


def _extreme_items(description: SeriesDescription, names: Sequence[str]) -> list[PhraseItem]:
    items = []
    n = description.length
    for c, channel in enumerate(description.channels):
        for kind, value, index in (("maximum", channel.maximum, channel.maximum_at),
                                   ("minimum", channel.minimum, channel.minimum_at)):  # fmt: skip
            if value is None or index is None:
                continue
            word = "highest" if kind == "maximum" else "lowest"
            place = _places(index, index + 1, n, unique_parts=False)[0]
            variants = [
                f"a {kind} of {format_number(value)} {place}",
                f"its {word} value, {format_number(value)}, {place}",
            ]
            items.append(PhraseItem(f"{kind}:{c}", ((index, index + 1),), tuple(variants)))
    return items


def inventory(description: SeriesDescription, names: Sequence[str]) -> list[PhraseItem]:
    return (_event_items(description, names) + _group_items(description) + _segment_items(description)
            + _extreme_items(description, names))  # fmt: skip
