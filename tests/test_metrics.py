"""The metrics vocabulary: kept as a tag, compared, drawn in a line, reported as markdown."""

from __future__ import annotations

import math

from orchestrator import metrics
from orchestrator.estimate import estimate
from orchestrator.report import markdown
from orchestrator.spec.validate import load_runspec
from tests.conftest import SPECS


def test_a_tag_keeps_the_known_figures_as_numbers():
    tag = metrics.to_tag({"loss": 1.23456789, "eval_loss": "1.5", "junk": 3, "train_loss": math.nan})
    assert metrics.from_tags({metrics.TAG: tag}) == {"loss": 1.2345679, "eval_loss": 1.5}
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


def test_the_report_keeps_hostile_names_inside_code_spans():
    spec = load_runspec(SPECS / "quickstart-local.yaml")
    evil = "m`|<img src=x>\n# heading"
    achieved = {
        "serving": {"model": f"{evil}:2", "metrics": {"loss": 1.0, "eval_loss": 1.25}},
        "previous": {"model": f"{evil}:1", "metrics": {"eval_loss": 1.5}},
    }
    records = {"finetune": {"seconds": 125.0}, "smoke_test": {"seconds": 3.0}}
    text = markdown(spec, records, achieved, estimate(spec))
    assert "\n# heading" not in text  # no line of the name starts a heading
    assert "serving ``m`\\|<img src=x>\\n# heading:2`` |" in text  # one code span, its pipe escaped
    row = next(line for line in text.splitlines() if line.startswith("| eval_loss"))
    assert row == "| eval_loss | 1.25 | 1.5 | -0.25 |"
    assert "| loss | 1 | - | - |" in text
    assert "**Timings:** finetune 2.1 min, smoke_test 3.0 s." in text
    assert "**Gate:** no evaluation recorded." in text
