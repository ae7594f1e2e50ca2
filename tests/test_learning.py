"""End-to-end wiring proven by learning: a small model must read the series to emit the right spans."""


def test_tiny_model_learns_spans_and_captions_of_its_series(burst_model):
    assert burst_model.ious and min(burst_model.ious) >= 0.5, (burst_model.steps, burst_model.ious)
    assert burst_model.texts == burst_model.captions, (burst_model.steps, burst_model.texts)
