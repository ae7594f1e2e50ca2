import numpy as np
import pytest

from ts_florence.caption_check import check_periods, period_support


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
    assert kept == text and checked == "A smooth level series, with one spike."
