import numpy as np
import pytest

from ts_florence.cell_decoding import CellSpan, attributed, cell_answer, cell_spans, runs_above, span_channel


def test_runs_are_the_stretches_at_or_above_the_threshold():
    assert runs_above(np.array([0.1, 0.5, 0.6, 0.2, 0.5, 0.5]), 0.5) == [(1, 3), (4, 6)]
    assert runs_above(np.zeros(4), 0.5) == []


def test_a_span_names_the_channel_that_holds_it_or_none_when_every_channel_does():
    scores = np.zeros((2, 20))
    scores[1, 3:6] = 0.9  # channel 1 alone
    scores[:, 10:14] = 0.7  # both
    spans = cell_spans(scores, 0.5)
    assert [(s.start, s.end, s.channel) for s in spans] == [(3, 6, 1), (10, 14, None)]
    assert spans[0].score == pytest.approx(0.9) and spans[1].score == pytest.approx(0.7)
    assert [s.channel for s in cell_spans(scores[:1] + scores[1:], 0.5)] == [None, None]  # one channel: None


def test_thresholds_outside_zero_one_and_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        cell_spans(np.zeros((1, 5)), 1.0)
    with pytest.raises(ValueError, match="channels x length"):
        cell_spans(np.zeros(5), 0.5)


def test_the_answer_parses_back_to_its_spans_labels_and_scores(processor):
    spans = [CellSpan(10, 20, None, 0.8), CellSpan(50, 51, 1, 0.35)]
    text, char_scores = cell_answer(spans, ["spike", "flat line"], 100)
    found = processor.post_process_generation(text, "<ANOMALY_DETECTION>", 100, char_scores=char_scores)
    assert found["<ANOMALY_DETECTION>"] == {
        "spans": [[10, 20], [50, 51]],
        "labels": ["spike", "flat line"],
        "channels": [None, 1],
        "scores": [0.8, 0.35],
    }
    with pytest.raises(ValueError, match="2 spans and 1 labels"):
        cell_answer(spans, ["spike"], 100)


def test_runs_closer_than_the_join_gap_are_one_span():
    scores = np.array([[0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9]])
    assert [(s.start, s.end) for s in cell_spans(scores, 0.5)] == [(0, 2), (3, 4), (7, 8)]
    assert [(s.start, s.end) for s in cell_spans(scores, 0.5, join_gap=2)] == [(0, 4), (7, 8)]


def test_a_span_of_the_answer_gets_the_channel_whose_mean_score_inside_it_is_highest():
    scores = np.zeros((3, 30))
    scores[2, 5:10] = 0.6  # channel 2 alone
    scores[0, 5:7] = 0.9  # higher on channel 0 for two samples only: mean 0.36 against 0.6
    scores[:, 20:25] = 0.5  # every channel reaches 0.5
    assert span_channel(scores, 5, 10, 0.5) == 2
    assert span_channel(scores, 20, 25, 0.5) is None
    assert span_channel(scores, 20, 25, 0.55) == 0  # not all reach it: the first of the highest
    assert span_channel(scores[:1], 5, 10, 0.5) is None  # one channel


def test_an_answer_is_written_anew_with_the_cell_heads_channels_keeping_labels_and_scores(processor):
    scores = np.zeros((2, 100))
    scores[1, 10:20] = 0.8
    answer = {"spans": [[10, 20], [50, 60]], "labels": ["spike", "flat line"], "channels": [0, 1], "scores": [0.4, 0.7]}
    spans, labels = attributed(answer, scores, 0.5)
    assert [(s.start, s.end, s.channel, s.score) for s in spans] == [(10, 20, 1, 0.4), (50, 60, 0, 0.7)]
    text, char_scores = cell_answer(spans, labels, 100)
    found = processor.post_process_generation(text, "<ANOMALY_DETECTION>", 100, char_scores=char_scores)
    assert found["<ANOMALY_DETECTION>"] == {**answer, "channels": [1, 0]}
