"""Captions: every number and place comes from the description, groundings point at the events, wording varies
with the seed, and `verify_caption` catches a caption the signal contradicts."""

import math
import pickle
import re

import numpy as np
import pytest

pytest.importorskip("statsmodels")
pytest.importorskip("ruptures")
pytest.importorskip("sklearn")

from ts_florence.engine.captions import (  # noqa: E402
    CaptionWriter,
    ground_phrases,
    position_step,
    verify_caption,
    write_captions,
)
from ts_florence.engine.descriptions import ChannelDescription, EventDescription, SeriesDescription  # noqa: E402
from ts_florence.engine.specialists import SAMPLING_SECONDS  # noqa: E402

N = 480
NUMBER = re.compile(r"(?<![\w.,])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")


def series() -> np.ndarray:
    """Hourly: a daily cycle, a rise of 12, a spike at 100 and a dip of the level over [300, 340)."""
    t = np.arange(N)
    x = 10 + 4 * np.sin(2 * np.pi * t / 24) + 12 * t / (N - 1) + 0.3 * np.random.default_rng(0).standard_normal(N)
    x[100] += 9.0
    x[300:340] -= 6.0
    return x


def description() -> SeriesDescription:
    x = series()
    channel = ChannelDescription(
        name="load", trend="rising", trend_strength=0.8, trend_change=12.0, periods=[24], seasonal_strength=0.95,
        noise="low", noise_std=0.3, mean=float(x.mean()), minimum=float(x.min()), minimum_at=int(x.argmin()),
        maximum=float(x.max()), maximum_at=int(x.argmax()),
    )  # fmt: skip
    events = [
        EventDescription(100, 101, "spike", "anomaly", None, 9.0),
        EventDescription(300, 340, "level shift", "anomaly", None, -6.0),
    ]
    return SeriesDescription(N, [channel], events, [(0, 240, "calm"), (240, N, "volatile")], sampling="hourly")


def allowed_numbers(d: SeriesDescription) -> list[float]:
    """Every number a caption may state: the description's, counts, and conversions of them."""
    values = [float(d.length), float(len(d.channels)), float(len(d.events))]
    for c in d.channels:
        values += [v for v in (c.trend_change, c.noise_std, c.mean, c.minimum, c.maximum) if v is not None]
        values += [abs(c.trend_change or 0.0), 100 * c.missing_fraction, *map(float, c.periods)]
        values += [float(i) for i in (c.minimum_at, c.maximum_at) if i is not None]
        for p in c.periods:
            seconds = p * SAMPLING_SECONDS.get(d.sampling or "", math.nan)
            values += [seconds / unit for unit in (1, 60, 3600, 86400, 604800, 31556952)]
    for e in d.events:
        values += [e.start, e.end, e.end - e.start, (e.start + e.end - 1) / 2, e.magnitude or 0.0]
    for start, end, _ in d.segments:
        values += [start, end]
    labels = [e.label for e in d.events]
    values += [labels.count(label) for label in labels]
    return values


def derives(number: float, allowed: list[float], length: int) -> bool:
    step = position_step(length)
    return any(
        abs(number - v) <= max(0.006 * abs(v), 1e-9) or abs(abs(number) - abs(v)) <= max(0.006 * abs(v), step / 2)
        for v in allowed
    )


def test_captions_mention_the_period_and_trend():
    for seed in range(5):
        captions = write_captions(description(), seed)
        assert "24 samples (1 day)" in captions["detailed"]
        assert re.search(r"rises|upward|climbs", captions["detailed"])
        assert re.search(r"rising|upward|increasing", captions["brief"])
        assert "12" in captions["detailed"]  # the size of the rise


def test_every_number_in_the_captions_derives_from_the_description():
    d = description()
    allowed = allowed_numbers(d)
    for seed in range(10):
        for key, text in write_captions(d, seed).items():
            for token in NUMBER.findall(text):
                number = float(token.replace(",", ""))
                assert derives(number, allowed, d.length), f"{key} (seed {seed}): {token} in {text!r}"


def test_groundings_occur_verbatim_and_point_at_the_events():
    d = description()
    places = {(e.start, e.end) for e in d.events} | {(s, e) for s, e, _ in d.segments}
    places |= {(d.channels[0].maximum_at, d.channels[0].maximum_at + 1)}
    places |= {(d.channels[0].minimum_at, d.channels[0].minimum_at + 1)}
    for seed in range(10):
        captions = write_captions(d, seed)
        groundings = ground_phrases(d, captions)
        assert groundings
        for g in groundings:
            assert any(g["phrase"] in text for text in captions.values())
            assert {tuple(s) for s in g["spans"]} <= places
        grounded = {tuple(s) for g in groundings for s in g["spans"]}
        assert {(100, 101), (300, 340), (0, 240), (240, N)} <= grounded  # events and regimes of more_detailed


def test_more_detailed_caption_places_the_events():
    text = write_captions(description(), 3)["more_detailed"]
    assert re.search(r"spike[^.]*(at sample 100|around sample 100|early on|near the start)", text)
    assert re.search(r"(level shift|shift in level)[^.]*(between samples 300 and 340|around sample 3[12]\d)", text)


def test_seeds_vary_the_wording_deterministically():
    d = description()
    briefs = {write_captions(d, seed)["brief"] for seed in range(10)}
    assert len(briefs) >= 3
    assert write_captions(d, 7) == write_captions(d, 7)


def test_captions_are_ascii_without_angle_brackets():
    d = description()
    d.channels[0].name = "<load>"
    for text in write_captions(d, 0).values():
        assert text.isascii() and "<" not in text and ">" not in text


def test_multivariate_captions_name_the_channel_of_an_event():
    d = description()
    second = ChannelDescription(name="price", trend="flat", trend_change=0.1, noise="high", noise_std=1.0)
    d.channels.append(second)
    d.events = [EventDescription(100, 101, "spike", "anomaly", 1, 9.0)]
    text = write_captions(d, 0)["more_detailed"]
    assert re.search(r"spike[^.]*(in|on) price", text)


def test_verify_accepts_the_captions_and_flags_a_wrong_period_or_place():
    d, x = description(), series()
    captions = write_captions(d, 1)
    assert all(verify_caption(text, x, d) == [] for text in captions.values())
    wrong_period = captions["detailed"].replace("24 samples", "31 samples")
    assert any(p.startswith("period") for p in verify_caption(wrong_period, x, d))
    assert verify_caption("The series repeats every 24 samples.", x, d) == []
    assert verify_caption("A spike of +9 at sample 100.", x, d) == []
    assert any(p.startswith("place") for p in verify_caption("A spike of +9 at sample 420.", x, d))
    assert any(p.startswith("maximum") for p in verify_caption(f"It has a maximum of {x.max():.3g} at sample 5.", x, d))
    assert any(p.startswith("trend") for p in verify_caption("The series falls by about 12 overall.", x, d))


def test_caption_writer_measures_and_captions_a_series():
    t = np.arange(N)
    x = 5 * np.sin(2 * np.pi * t / 24) + 0.2 * np.random.default_rng(1).standard_normal(N)
    spans = [{"start": 200, "end": 201, "label": "spike", "kind": "anomaly", "channel": None}]
    x[200] += 10
    writer = CaptionWriter()
    found = writer(x, spans=spans)
    assert set(found) == {"captions", "groundings", "description"}
    assert "24 samples" in found["captions"]["detailed"]
    assert any(g["spans"] == [[200, 201]] for g in found["groundings"])
    assert found["description"].events[0].magnitude == pytest.approx(10, abs=2)
    assert pickle.loads(pickle.dumps(writer))(x, spans=spans) == found
