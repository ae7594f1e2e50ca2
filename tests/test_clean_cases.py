"""The clean-case suite (`ts_florence/engine/clean_cases.py`, `scripts/clean_cases.py`): the cases' truth is what
they say, the found rule counts a right answer and nothing else, and the script runs end to end on a few cases."""

import json

import numpy as np
import pytest
from script_modules import load_script

from ts_florence.engine.clean_cases import (
    KINDS,
    LABELS,
    clean_cases,
    found_mask,
    make_case,
    onset_width,
    point_tolerance,
    score_case,
)
from ts_florence.vocabulary import ANOMALY_LABELS

S = load_script("clean_cases")


def test_the_cases_are_a_function_of_the_seed_and_their_name():
    first = clean_cases(seed=3, lengths=[300], channels=[3])
    again = clean_cases(seed=3, lengths=[300], channels=[3])
    alone = make_case("dip", "sine 0.3", 300, 3, seed=3)  # the same whichever other cases are drawn
    other = make_case("dip", "sine 0.3", 300, 3, seed=4)
    assert [c.name for c in first] == [c.name for c in again]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        assert (a.start, a.end, a.channel) == (b.start, b.end, b.channel)
    (same,) = [c for c in first if c.name == alone.name]
    np.testing.assert_array_equal(same.values, alone.values)
    assert not np.array_equal(np.nan_to_num(other.values), np.nan_to_num(alone.values))
    assert {c.label for c in first} <= set(ANOMALY_LABELS) and LABELS["seasonal break"] == "oscillation burst"
    assert len(first) == 8 + 8 + 7  # two sine backgrounds with every kind, the AR one without a pattern break


@pytest.mark.parametrize("background", ["sine 0.1", "ar"])
def test_a_spike_or_dip_is_the_largest_deviation_of_its_channel(background):
    for kind, sign in (("spike", 1), ("dip", -1)):
        case = make_case(kind, background, 1000, 3)
        x = case.values[:, case.channel]
        assert case.end - case.start == 1 and 0.3 * 1000 <= case.start < 0.6 * 1000
        assert int(np.argmax(sign * x)) == case.start
        others = np.delete(case.values, case.channel, axis=1)
        assert (sign * x).max() > (sign * others).max()  # the other channels have nothing of the kind


def test_a_missing_stretch_is_nan_exactly_on_its_span():
    case = make_case("missing stretch", "sine 0.1", 1000, 3)
    missing = np.isnan(case.values)
    assert missing[:, case.channel].tolist() == [case.start <= i < case.end for i in range(1000)]
    assert missing.sum() == case.end - case.start == 30  # 3% of the series, one channel


def test_a_level_shift_moves_the_mean_from_its_onset_and_its_truth_is_the_onset_region():
    case = make_case("level shift", "sine 0.1", 3000, 1)
    x, t = case.values, case.start
    assert case.end - t == onset_width(3000) == 15
    step = x[t : t + 500].mean() - x[t - 500 : t].mean()
    assert abs(step) > 2.5  # 1.5 robust ranges of a unit sine (~2.1 each)
    assert abs(x[-500:].mean() - x[t : t + 500].mean()) < 0.1  # permanent: it does not come back
    assert abs(x[: t - 500].mean() - x[t - 500 : t].mean()) < 0.1  # nothing before it


def test_flat_line_and_seasonal_break_change_only_their_span():
    flat = make_case("flat line", "sine 0.3", 1000, 1)
    inside = flat.values[flat.start : flat.end]
    assert np.all(inside == flat.values[flat.start - 1]) and flat.end - flat.start == 50
    assert np.all(np.diff(flat.values[: flat.start]) != 0)  # the noisy background moves at every sample elsewhere
    broken = make_case("seasonal break", "sine 0.1", 1000, 1)
    a, b = broken.start, broken.end
    cycles = (b - a) // 50  # whole periods of channel 0's sine
    assert cycles * 50 == b - a

    def strongest_frequency(x):
        return int(np.argmax(np.abs(np.fft.rfft(x - x.mean()))))

    assert strongest_frequency(broken.values[a:b]) == 3 * cycles  # three times as fast inside
    assert strongest_frequency(broken.values[a - (b - a) : a]) == cycles
    assert strongest_frequency(broken.values[b : b + (b - a)]) == cycles


def test_the_rule_counts_a_right_answer_and_rejects_a_wrong_place_label_or_channel():
    spike = make_case("spike", "sine 0.1", 1000, 3)
    s, c = spike.start, spike.channel
    right = {"spans": [[s, s + 1]], "labels": ["spike"], "channels": [c]}
    assert score_case(spike, right) == {
        "found": True,
        "labelled": True,
        "channel": True,
        "outcome": "found",
        "labels_found": ["spike"],
    }
    short = point_tolerance(1000)  # a short span around a point counts, a long one does not
    assert score_case(spike, {**right, "spans": [[s - 3, s - 3 + short]]})["found"]
    assert not score_case(spike, {**right, "spans": [[s - 3, s - 2 + short]]})["found"]
    wrong_label = score_case(spike, {**right, "labels": ["dip"]})
    assert wrong_label["found"] and not wrong_label["labelled"] and wrong_label["outcome"] == "wrong label"
    assert score_case(spike, {**right, "channels": [(c + 1) % 3]})["channel"] is False
    elsewhere = score_case(spike, {**right, "spans": [[s + 5, s + 6]]})
    assert elsewhere["outcome"] == "wrong place" and not elsewhere["found"]
    assert score_case(spike, {"spans": [], "labels": [], "channels": []})["outcome"] == "nothing"

    burst = make_case("variance burst", "sine 0.1", 1000, 1)  # 50 samples: not point-like, IoU decides
    a, b = burst.start, burst.end
    assert found_mask([[a, b], [a + 10, b + 10], [a + 20, b + 20], [a, a + 5]], [a, b], 1000).tolist() == [
        True,
        True,  # IoU 40 / 60
        False,  # IoU 30 / 70
        False,  # short, but the truth is not point-like
    ]
    assert score_case(burst, {"spans": [[a, b]], "labels": ["variance burst"], "channels": [None]})["channel"] is None


def test_the_script_prints_and_writes_the_figures_of_each_method(tmp_path, capsys):
    out = tmp_path / "clean.json"
    argv = ["--lengths", "300", "--channels", "1", "--limit", "3", "--methods", "model", "robust_z", "--json"]
    assert S.main([*argv, str(out)]) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["cases"] == 3 and figures["methods"] == ["model", "robust_z"]
    assert [row["kind"] for row in figures["rows"]] == list(KINDS[:3])
    model, robust_z = figures["summary"]["model"], figures["summary"]["robust_z"]
    assert list(model["kind"]) == list(KINDS[:3]) and model["total"]["cases"] == 3
    assert robust_z["total"]["label"] is None and model["total"]["label"] is not None  # baselines give no label
    assert model["total"]["chan"] is None  # no 3-channel case
    for row in figures["rows"]:
        assert row["model"]["outcome"] in ("found", "wrong label", "wrong place", "nothing")
        assert set(row["model"]["answer"]) >= {"spans", "labels", "channels"}
    assert sum(sum(v for k, v in e.items() if k != "labels given") for e in figures["outcomes"]["model"].values()) == 3
    lines = printed.splitlines()
    assert lines[0].startswith("clean cases: 3 series, seed 0, model ts_florence/pretrained/ts-florence-tiny")
    (total,) = [line for line in lines if line.startswith("total")][:1]
    share = f"{model['total']['label']:4.2f} {model['total']['any']:4.2f}"
    assert total.split()[1] == "3" and share in total
    assert any(line.startswith("  spike") for line in lines)  # the model's outcomes per kind
