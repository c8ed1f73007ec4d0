"""The metrics vocabulary: kept as a tag, compared, drawn in a line, reported as markdown."""

from __future__ import annotations

import math

from orchestrator import metrics


def test_a_tag_keeps_the_known_figures_as_numbers():
    tag = metrics.to_tag({"loss": 1.23456789, "eval_loss": "1.5", "junk": 3, "train_loss": math.nan})
    assert metrics.from_tags({metrics.TAG: tag}) == {"loss": 1.23457, "eval_loss": 1.5}
    assert metrics.from_tags({metrics.TAG: "not json"}) == {} and metrics.from_tags(None) == {}
    assert metrics.from_tags({metrics.TAG: tag.replace("1.5", "2e-05")})["eval_loss"] == 2e-05


def test_against_gives_the_change_for_what_both_have():
    new, old = {"loss": 1.2, "eval_loss": 1.4}, {"eval_loss": 1.5}
    assert metrics.against(new, old) == "loss 1.2, eval_loss 1.4 (serving 1.5, -0.1)"
    assert metrics.against({}, old) == "no metrics"


def test_a_sparkline_spans_low_to_high_and_resamples():
    assert metrics.sparkline([3.0, 2.0, 1.0]) == "█▅▁"
    assert metrics.sparkline([1.0, 1.0]) == "▁▁"
    assert len(metrics.sparkline([float(i) for i in range(500)], width=40)) == 40
    assert metrics.sparkline([math.nan]) == ""


def test_a_model_ref_in_each_target_s_spelling():
    assert metrics.split_ref("phi4-ultrachat/versions/3") == ("phi4-ultrachat", "3")
    assert metrics.split_ref("/subscriptions/s/x/models/m/versions/12") == ("m", "12")
    assert metrics.split_ref("quickstart-model/2") == ("quickstart-model", "2")
    assert metrics.split_ref("quickstart-model:2") == ("quickstart-model", "2")
