"""scripts/cell_head_detector.py: runs of cells into sample spans, and a run on a tiny corpus."""

import numpy as np
import pytest
import torch
from corpora import build_synthetic_corpus
from script_modules import load_script
from tiny import tiny_config

from ts_florence import TSFlorenceForConditionalGeneration

C = load_script("cell_head_detector")


def test_runs_of_cells_at_or_above_the_threshold_become_sample_spans():
    starts = np.arange(10) * 3  # cells of 3 samples, 30 samples
    ends = starts + 3
    p = np.array([0.9, 0.1, 0.5, 0.6, 0.0, 0.0, 0.2, 0.0, 0.7, 0.8])
    assert C.cell_spans(p, starts, ends, 0.5) == [[0, 3], [6, 12], [24, 30]]
    assert C.cell_spans(p, starts, ends, 0.95) == []


def test_the_script_scores_the_cell_head_of_a_model_on_the_frozen_split(tmp_path, processor, capsys):
    corpus = build_synthetic_corpus(tmp_path / "corpus", "cell-head-test", 4, 8, shards=1)
    config = tiny_config()
    config.location_pointer, config.cell_head_weight = True, 1.0
    torch.manual_seed(0)
    TSFlorenceForConditionalGeneration(config).save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    assert C.main(["--model", str(tmp_path / "model"), "--corpus", str(corpus), "--thresholds", "0.0", "1.1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("<ANOMALY")]
    assert [row[1] for row in rows] == ["0.00", "1.10"]
    everything, nothing = rows
    assert float(everything[5]) == 1.0  # threshold 0: every sample flagged
    assert float(nothing[5]) == 0.0 and float(nothing[2]) == 0.0  # above 1: nothing


def test_a_model_without_a_cell_head_is_refused(tmp_path, processor):
    corpus = build_synthetic_corpus(tmp_path / "corpus", "cell-head-test", 4, 4, shards=1)
    TSFlorenceForConditionalGeneration(tiny_config()).save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    with pytest.raises(SystemExit):
        C.main(["--model", str(tmp_path / "model"), "--corpus", str(corpus)])
