import numpy as np
import pytest

from ts_florence.caption_check import check_periods, measured_period, period_support, state_period


def _sine(period=50, n=1000, seed=0):
    x = np.sin(2 * np.pi * np.arange(n) / period) + 0.1 * np.random.default_rng(seed).normal(size=n)
    x[400] += 6
    return x


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A clean flat series with a 3-sample period, with one spike.", "A clean flat series, with one spike."),
        ("A smooth level series with a cycle of 60 samples, with one spike.", "A smooth level series, with one spike."),
        ("A smooth level series with a cycle of 50 samples, with one spike.", None),
        ("A smooth series repeating every 49 samples.", None),  # within 10%
        ("A series of 1,000 samples. The series repeats every 7 samples. It contains one spike.",
         "A series of 1,000 samples. It contains one spike."),
        ("A series of 1,000 samples. The series follows a cycle of 50 samples (1 hour). It contains one spike.", None),
        ("The series repeats every 50 samples. A weaker cycle of 13 samples is also present.",
         "The series repeats every 50 samples."),
        ("A smooth series with no seasonal cycle.", None),
        ("720 samples. Its noise is low (std about 0.000 repeats every 9 samples. It rises.", "720 samples. It rises."),
    ],
)  # fmt: skip
def test_a_period_the_series_does_not_repeat_at_goes(text, expected):
    assert check_periods(text, _sine()) == (text if expected is None else expected)


def test_the_check_reads_repeats_not_smoothness_or_trend():
    x = _sine()
    assert period_support(x, 50) > 1.0 and period_support(x, 100) > 1.0  # the period and its multiple
    assert period_support(x, 60) == -1.0  # the shoulder of the peak at 50 is no peak
    walk = np.cumsum(np.random.default_rng(1).normal(size=1000)) + np.arange(1000) * 0.05
    assert check_periods("A rising series with a cycle of 30 samples.", walk) == "A rising series."
    assert period_support(x, 600) == -1.0 and period_support(x, 1) == -1.0  # beyond half the series, under 2


def test_a_period_of_several_channels_stays_when_some_channel_repeats_at_it():
    both = np.stack([np.random.default_rng(2).normal(size=1000), _sine()])
    assert check_periods("2 channels, with a cycle of 50 samples.", both) == "2 channels, with a cycle of 50 samples."
    assert check_periods("2 channels, with a 9-sample period.", both) == "2 channels."


def test_post_processing_with_the_series_checks_the_period(processor):
    x = _sine()
    text = "A smooth level series with a cycle of 60 samples, with one spike."
    kept = processor.post_process_generation(text, "<CAPTION>", 1000)["<CAPTION>"]["text"]
    checked = processor.post_process_generation(text, "<CAPTION>", 1000, series=x)["<CAPTION>"]["text"]
    assert kept == text and checked == "A smooth level series with a cycle of 50 samples, with one spike."
    noise = np.random.default_rng(3).normal(size=1000)
    checked = processor.post_process_generation(text, "<CAPTION>", 1000, series=noise)["<CAPTION>"]["text"]
    assert checked == "A smooth level series, with one spike."


def test_the_measured_period_is_the_shortest_repeat_and_none_without_one():
    rng = np.random.default_rng(4)
    assert measured_period(_sine()) == 50
    assert measured_period(_sine(period=24, n=2000) + np.arange(2000) * 0.01) == 24  # a trend does not hide it
    assert measured_period(rng.normal(size=1000)) is None
    assert measured_period(np.cumsum(rng.normal(size=1000))) is None  # a random walk wanders, it does not repeat
    assert measured_period(_sine(period=400, n=1000)) is None  # under three cycles
    assert measured_period(np.stack([rng.normal(size=1000), _sine(period=30)])) == 30  # some channel repeats
    with_gaps = _sine()
    with_gaps[100:160] = np.nan
    assert measured_period(with_gaps) == 50


@pytest.mark.parametrize(
    "text, brief, expected",
    [
        ("A clean flat series, with one sharp spike.", True,
         "A clean flat series with a cycle of 50 samples, with one sharp spike."),
        ("2 channels, mostly clean, with one spike.", True,
         "2 channels, mostly clean, with a cycle of 50 samples, with one spike."),
        ("A smooth series repeating every 50 samples.", True, None),  # a period stated already
        ("A series of 1,000 samples. The series shows no seasonal cycle. It has low noise.", False,
         "A series of 1,000 samples. The series repeats every 50 samples. It has low noise."),
        ("A series of 1,000 samples. No regular cycle appears in the series.", False,
         "A series of 1,000 samples. The series repeats every 50 samples."),
        ("A series of 1,000 samples. It has low noise (std about 0.1).", False,
         "A series of 1,000 samples. The series repeats every 50 samples. It has low noise (std about 0.1)."),
    ],
)  # fmt: skip
def test_a_caption_without_a_period_states_the_measured_one(text, brief, expected):
    x = np.stack([_sine(), _sine(seed=1)]) if text.startswith("2 channels") else _sine()
    assert state_period(text, x, brief) == (text if expected is None else expected)
    assert state_period(text, np.random.default_rng(5).normal(size=1000), brief) == text  # nothing repeats


def test_a_detailed_caption_of_several_channels_gets_no_period():
    both = np.stack([np.random.default_rng(6).normal(size=1000), _sine()])
    text = "A series of 1,000 samples. Channel 0 shows no seasonal cycle."
    assert state_period(text, both, brief=False) == text  # the sentence names a channel the measure does not read
