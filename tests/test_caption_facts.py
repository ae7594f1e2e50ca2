import numpy as np
import pytest

from ts_florence.engine.captions import write_captions
from ts_florence.engine.descriptions import ChannelDescription, EventDescription, SeriesDescription
from ts_florence.evaluation.caption_facts import caption_facts, fact_scores, phrase_kind, repeats_a_sentence
from ts_florence.evaluation.examples import Example
from ts_florence.evaluation.scorers import SCORERS

# A sine of period 50 over 1,000 samples, rising by 2, low noise (std 0.1), with a +6 spike at sample 400.
TRUTH = {
    "length": 1000,
    "n_channels": 1,
    "missing": 0.0,
    "sampling": None,
    "channels": [
        {
            "name": "ch0",
            "trend": "rising",
            "trend_change": 2.0,
            "periods": [50],
            "seasonal_strength": 0.9,
            "noise": "low",
            "noise_std": 0.1,
            "mean": 1.0,
            "minimum": -1.0,
            "minimum_at": 12,
            "maximum": 7.0,
            "maximum_at": 400,
        }
    ],
    "events": [{"start": 400, "end": 401, "label": "spike", "channel": None, "magnitude": 6.0}],
    "segments": [(0, 1000, "rising")],
}
TRUE_CAPTION = (
    "A series of 1,000 samples. The series rises by about 2 overall. It repeats every 50 samples. "
    "It has low noise (std about 0.1). It contains one spike."
)


def _verdicts(caption: str, truth: dict = TRUTH) -> dict[str, list[bool | None]]:
    found: dict[str, list[bool | None]] = {}
    for fact in caption_facts(caption, truth):
        found.setdefault(fact.kind, []).append(fact.verdict)
    return found


def test_a_true_caption_states_every_fact_right():
    assert _verdicts(TRUE_CAPTION) == {
        "length": [True],
        "trend": [True],
        "trend_change": [True],
        "period": [True],
        "noise": [True],
        "noise_std": [True],
        "event_count": [True],
    }
    scores = fact_scores([TRUE_CAPTION], [TRUE_CAPTION], [TRUTH])
    assert scores["fact_precision"] == 1.0 and scores["fact_recall"] == 1.0


def test_numbers_are_right_within_their_tolerance_and_wrong_beyond():
    assert _verdicts("It repeats every 54 samples.")["period"] == [True]  # 8% off a period of 50
    assert _verdicts("It repeats every 60 samples.")["period"] == [False]  # 20% off
    assert _verdicts("A series of 1,024 samples.")["length"] == [False]  # lengths are right within 1%
    assert _verdicts("It has low noise (std about 0.3).")["noise_std"] == [False]
    assert _verdicts("The series falls by about 2 overall.") == {"trend": [False], "trend_change": [None]}
    places = _verdicts("Events: a spike of +2 at sample 405 and a spike (+6) near the end.")
    assert places == {"event": [True, False], "event_size": [False, None]}  # +2 for +6; no spike near the end


def test_a_wrong_period_scores_worse_than_no_period():
    wrong = TRUE_CAPTION.replace("every 50 samples", "every 70 samples")
    without = TRUE_CAPTION.replace(" It repeats every 50 samples.", "")
    stated = fact_scores([wrong], [TRUE_CAPTION], [TRUTH])
    omitted = fact_scores([without], [TRUE_CAPTION], [TRUTH])
    assert stated["fact_precision"] == pytest.approx(6 / 7) and omitted["fact_precision"] == 1.0
    assert stated["fact_recall"] == omitted["fact_recall"] == pytest.approx(6 / 7)  # the period unstated in both
    assert stated["fact_precision[period]"] == 0.0 and "fact_precision[period]" not in omitted
    assert stated["fact_recall[period]"] == omitted["fact_recall[period]"] == 0.0


def test_facts_the_truth_cannot_check_are_left_out_of_precision():
    # A semi-synthetic series: its events are exact, its channels are not described.
    truth = {**TRUTH, "channels": [{"name": "ch0", "trend": None, "periods": [], "seasonal_strength": None}]}
    facts = caption_facts("It repeats every 70 samples. It contains one spike.", truth)
    assert [(f.kind, f.verdict) for f in facts] == [("period", None), ("event_count", True)]
    assert fact_scores(["It repeats every 70 samples."], [""], [truth])["fact_precision"] is None


def test_a_repeated_sentence_is_counted_but_the_same_words_about_two_channels_are_not():
    assert repeats_a_sentence("It has low noise (std about 0.1). It rises. It has low  noise (std about 0.1).")
    assert not repeats_a_sentence(
        "Channel a repeats every 24 samples. A second period of 7 samples appears as well. "
        "Channel b repeats every 24 samples. A second period of 7 samples appears as well."
    )
    examples = [Example("<CAPTION>", None, TRUE_CAPTION, {"text": TRUE_CAPTION}, np.zeros((1000, 1)), TRUTH)] * 2
    preds = [{"text": TRUE_CAPTION}, {"text": TRUE_CAPTION + " It contains one spike."}]
    scores = SCORERS["captions"](examples, preds)
    assert scores["no_repeat_rate"] == 0.5
    assert scores["fact_precision"] == 1.0  # the repeat is true, only counted as a repeat


def test_multichannel_captions_are_read_per_channel():
    channel = {"trend": "rising", "periods": [24], "seasonal_strength": 0.8, "noise": "low", "noise_std": 1.0}
    truth = {
        **TRUTH,
        "n_channels": 2,
        "sampling": "hourly",
        "channels": [{**channel, "name": "load"}, {**channel, "name": "temp", "trend": "falling", "periods": []}],
    }
    verdicts = _verdicts(
        "2 channels (load and temp) of 1,000 hourly samples. Channel load repeats every 24 samples (1 day). "
        "Channel temp repeats every 24 samples. Channel temp rises overall. Of the 2 channels, 1 rise and 1 fall.",
        truth,
    )
    assert verdicts == {
        "length": [True],
        "sampling": [True],
        "channels": [True],
        "period": [True, False],  # temp has no cycle
        "trend": [False, True, True],  # temp falls
    }
    assert _verdicts("2 channels, mostly smooth and rising, with a daily cycle.", truth) == {
        "channels": [True],
        "noise": [True],
        "trend": [True],  # a tie of one rising and one falling channel: rising is as common as any
        "period": [True],  # 24 hourly samples are a day
    }


@pytest.mark.parametrize("seed", range(6))
def test_the_engines_captions_state_only_true_facts_and_every_sentence_states_one(seed):
    """The reader and the caption writer agree: whatever the writer says of a description is read, and right."""
    rng = np.random.default_rng(seed)
    channels = [
        ChannelDescription(
            name=name,
            trend=trend,
            trend_strength=0.8,
            trend_change=change,
            periods=periods,
            seasonal_strength=0.7,
            noise=noise,
            noise_std=0.2,
            mean=1.5,
            minimum=-2.0,
            minimum_at=int(rng.integers(0, 1200)),
            maximum=5.0,
            maximum_at=int(rng.integers(0, 1200)),
            missing_fraction=0.01,
        )
        for name, trend, change, periods, noise in (
            ("load", "rising", 3.2, [24, 168], "low"),
            ("temp", "falling", -1.1, [], "moderate"),
            ("wind speed", "flat", 0.0, [24], "high"),
        )[: 1 + seed % 3]
    ]
    events = [
        EventDescription(300, 302, "spike", "anomaly", None, 4.1),
        EventDescription(500, 640, "level shift", "anomaly", len(channels) - 1, -2.5),
        EventDescription(900, 960, "gap", "event", None, None),
        EventDescription(1100, 1150, "variance burst", "anomaly", 0, 0.9),
    ]
    description = SeriesDescription(
        length=1200,
        channels=channels,
        events=events,
        segments=[(0, 500, "calm"), (500, 1200, "volatile")],
        sampling="hourly",
    )
    truth = {
        "length": 1200,
        "n_channels": len(channels),
        "missing": 0.01,
        "sampling": "hourly",
        "channels": description.to_dict()["channels"],
        "events": description.to_dict()["events"],
        "segments": description.segments,
    }
    for caption in write_captions(description, seed).values():
        facts = caption_facts(caption, truth)
        assert facts and all(f.verdict is True for f in facts), [(f.text, f.verdict) for f in facts]
        for sentence in caption.split(". "):
            assert caption_facts(sentence, truth), sentence


def test_grounding_recall_counts_every_example_and_names_the_phrase_kinds():
    truths = [
        {"spans": [[400, 402]], "labels": ["a spike at sample 400"]},
        {"spans": [[100, 200], [600, 700]], "labels": ["2 level shifts", "2 level shifts"]},
        {"spans": [[0, 318]], "labels": ["a calm phase from sample 0 to 318"]},
    ]
    preds = [
        {"spans": [[400, 402]], "labels": ["a spike at sample 400"]},
        {"spans": [[150, 400]], "labels": ["2 level shifts"]},  # IoU 1/6 with [100, 200): found at 0.1 only
        {"spans": [], "labels": []},  # an example the model could not take is answered with nothing
    ]
    examples = [Example("<CAPTION_TO_PHRASE_GROUNDING>", "", "", t, np.zeros((1000, 1))) for t in truths]
    scores = SCORERS["grounding"](examples, preds)
    assert scores["recall@0.5"] == pytest.approx(1 / 4) and scores["recall@0.1"] == pytest.approx(2 / 4)
    assert scores["recall@0.5[event]"] == 1.0 and scores["recall@0.5[group]"] == 0.0
    assert scores["recall@0.1[group]"] == 0.5 and scores["recall@0.5[regime]"] == 0.0
    assert scores["recall@0.5[spike]"] == 1.0 and scores["recall@0.5[level shift]"] == 0.0
    assert phrase_kind("its highest value, 5, at sample 20") == ("extreme", None)
