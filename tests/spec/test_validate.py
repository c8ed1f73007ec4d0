from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import SpecError
from orchestrator.spec.load import load_text
from orchestrator.spec.validate import Checked, check_file, check_loaded, fill_defaults, schema
from tests.conftest import SPECS
from tests.spec.mutations import ALL_PATHS, VALID, VALUES


def errors_for(write_spec, text):
    result = check_file(write_spec(text))
    return [d for d in result.diagnostics if d.severity == "error"], result


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_seed_and_quickstart_specs_validate():
    for name in ("phi4-ultrachat.yaml", "quickstart-local.yaml"):
        result = check_file(SPECS / name)
        assert result.ok, [d.format() for d in result.diagnostics]
    spec = check_file(SPECS / "phi4-ultrachat.yaml").spec
    assert spec.finetune.learning_rate == 5e-6
    assert spec.deployment.liveness.initial_delay == 600
    assert spec.deployment.timeout_ms == 90000
    assert spec.smoke_test.parameters == {"temperature": 0.6, "top_p": 0.9, "do_sample": True, "max_new_tokens": 200}
    assert spec.dataset.splits["train"].percent == 5


@pytest.mark.parametrize(
    "old, new, at, fragment, hint",
    [
        (
            "  learning_rate: 5.0e-6",
            "  lerning_rate: 5.0e-6",
            "  lerning_rate: 5.0e-6",
            "unknown key 'lerning_rate' in finetune",
            "did you mean 'learning_rate'?",
        ),
        (
            "precision: fp16",
            "precision: fp8",
            "precision: fp8",
            "'fp8' is not an allowed value",
            "use one of: fp32, fp16, bf16",
        ),
        (
            "precision: fp16",
            "precision: FP16",
            "precision: FP16",
            "'FP16' is not an allowed value",
            "did you mean 'fp16'?",
        ),
        ("instance_count: 1", "instance_count: 0", "instance_count: 0", "must be at least 1, got 0", ""),
        (
            "instance_count: 1",
            "instance_count: '2'",
            "instance_count: '2'",
            "must be a whole number, got a string",
            "remove the quotes",
        ),
        (
            "timeout_ms: 90000",
            "timeout_ms: 180001",
            "timeout_ms: 180001",
            "at most 180000",
            "managed endpoint's maximum",
        ),
        (
            "endpoint: ultrachat-completion",
            "endpoint: 9lives",
            "endpoint: 9lives",
            "'9lives' is not a valid deployment.endpoint",
            "starting with a letter",
        ),
        ("endpoint: ultrachat-completion", "endpoint: ab", "endpoint: ab", "at least 3 characters", ""),
        (
            "name: phi4-ultrachat\ntarget",
            "name: Phi3_Ultrachat\ntarget",
            "name: Phi3_Ultrachat",
            "not a valid name",
            "lowercase",
        ),
        (
            "target: azureml",
            "target: azure",
            "target: azure",
            "'azure' is not an allowed value",
            "did you mean 'azureml'?",
        ),
        ("percent: 5}\n    test", "percent: 0}\n    test", "percent: 0}", "must be more than 0", ""),
        ("percent: 5}\n    test", "percent: 101}\n    test", "percent: 101}", "must be at most 100", ""),
        ("top_p: 0.9", "top_p: 0", "top_p: 0", "must be more than 0", ""),
        ("temperature: 0.6", "temperature: -1", "temperature: -1", "must be at least 0", ""),
        ("stage: 2}", "stage: 1}", "stage: 1}", "1 is not an allowed value", "use one of: 2, 3"),
        ("r: 8,", "r: 0,", "r: 0,", "finetune.lora.r must be at least 1", ""),
        ("version: 1\n", "version: 2\n", "version: 2", "version must be 1", ""),
        (
            "cloud: AzureCloud",
            "cloud: azurecloud",
            "cloud: azurecloud",
            "not an allowed value",
            "did you mean 'AzureCloud'?",
        ),
        (
            "sample_from: test",
            "sample_from: tests",
            "sample_from: tests",
            "not a valid smoke_test.sample_from",
            "did you mean 'test'?",
        ),
        (
            "model:\n  registry",
            "model:\n  colour: blue\n  registry",
            "colour: blue",
            "unknown key 'colour' in model",
            "allowed keys",
        ),
    ],
)
def test_each_mistake_gets_a_located_actionable_error(write_spec, reference_text, old, new, at, fragment, hint):
    text = edit(reference_text, old, new)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if at in row)
    errs, _ = errors_for(write_spec, text)
    assert len(errs) == 1, [e.format() for e in errs]
    err = errs[0]
    assert fragment in err.message, err.format()
    assert hint in err.hint, err.format()
    assert err.line == line, err.format()
    assert err.format().startswith(f"{err.file}:{line}:{err.col}: error: ")


def test_all_errors_are_reported_in_one_run(write_spec, reference_text):
    text = edit(
        edit(edit(reference_text, "precision: fp16", "precision: fp8"), "epochs: 1", "epochs: 0"),
        "instance_count: 1",
        "instance_count: -3",
    )
    errs, _ = errors_for(write_spec, text)
    assert len(errs) == 3
    assert [e.line for e in errs] == sorted(e.line for e in errs)


def test_missing_sections_are_named(write_spec):
    errs, _ = errors_for(write_spec, "version: 1\nname: abc\n")
    messages = " | ".join(e.message for e in errs)
    for key in ("model", "dataset", "deployment", "workspace", "compute"):
        assert f"missing required key '{key}'" in messages


def test_null_section_says_fill_it_in(write_spec, reference_text):
    errs, _ = errors_for(write_spec, edit(reference_text, "teardown:\n  after_smoke_test: false", "teardown:"))
    assert errs[0].message.startswith("teardown must be a mapping") and "fill in" in errs[0].hint


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("- a\n- b\n", "got a list"),
        ("just words\n", "got a string"),
    ],
)
def test_non_mapping_documents(write_spec, text, fragment):
    errs, _ = errors_for(write_spec, text)
    assert fragment in errs[0].message and errs[0].line == 1


# --- semantic rules -----------------------------------------------------------------------------


def test_smoke_test_split_must_exist(write_spec, reference_text):
    text = edit(reference_text, "    test: {from: test_sft, percent: 5}\n", "")
    errs, _ = errors_for(write_spec, text)
    assert "names split 'test'" in errs[0].message
    assert errs[0].line == next(i for i, row in enumerate(text.splitlines(), 1) if "sample_from: test" in row)


def test_unsupported_finetune_sku(write_spec, reference_text):
    errs, _ = errors_for(write_spec, edit(reference_text, "sku: Standard_NC24ads_A100_v4", "sku: standard_nc24r"))
    assert "not supported for fine-tuning" in errs[0].message and errs[0].json_path == "$.compute.sku"


def test_unknown_sku_needs_gpus_per_node(write_spec, reference_text):
    text = edit(reference_text, "sku: Standard_NC24ads_A100_v4", "sku: Standard_NV72ads_A10_v5")
    errs, _ = errors_for(write_spec, text)
    assert "GPUs per node" in errs[0].message and "gpus_per_node" in errs[0].hint
    errs, _ = errors_for(write_spec, edit(text, "gpus_per_node: auto", "gpus_per_node: 2"))
    assert errs == []


def test_gpus_per_node_above_sku(write_spec, reference_text):
    errs, _ = errors_for(write_spec, edit(reference_text, "gpus_per_node: auto", "gpus_per_node: 4"))
    assert "has 1" in errs[0].message


def test_deepspeed_on_one_gpu_warns_and_says_why(write_spec, reference_text):
    errs, result = errors_for(
        write_spec, edit(reference_text, "deepspeed: {enabled: false", "deepspeed: {enabled: true")
    )
    assert errs == [] and result.ok
    [warning] = [d for d in result.diagnostics if d.severity == "warning"]
    assert "one GPU" in warning.message and "shards" in warning.message
    multi = edit(
        edit(reference_text, "deepspeed: {enabled: false", "deepspeed: {enabled: true"),
        "sku: Standard_NC24ads_A100_v4",
        "sku: Standard_ND96asr_v4",
    )
    assert check_file(write_spec(multi)).diagnostics == []


def test_same_source_split_over_100_percent(write_spec, reference_text):
    text = edit(reference_text, "test: {from: test_sft, percent: 5}", "test: {from: train_sft, percent: 96}")
    errs, _ = errors_for(write_spec, text)
    assert "101%" in errs[0].message and "disjoint" in errs[0].hint


def test_workspace_ids_or_config_file(write_spec, reference_text):
    errs, _ = errors_for(write_spec, edit(reference_text, "  resource_group: rg-llm\n", ""))
    assert "missing resource_group" in errs[0].message
    errs, _ = errors_for(
        write_spec, edit(reference_text, "  credential: default", "  config_file: config.json\n  credential: default")
    )
    assert len(errs) == 3 and all("config_file" in e.message for e in errs)


def test_min_instances_above_max(write_spec, reference_text):
    errs, _ = errors_for(write_spec, edit(reference_text, "min_instances: 0", "min_instances: 3"))
    assert "exceeds max_instances" in errs[0].message


def test_azureml_only_keys_refused_for_local(write_spec):
    text = (SPECS / "quickstart-local.yaml").read_text()
    text = text.replace("model:\n", "compute: {name: gpu, sku: Standard_NC6s_v3}\nmodel:\n  registry: azureml\n", 1)
    text = text.replace(
        "  endpoint: quickstart-ep", "  endpoint: quickstart-ep\n  sku: Standard_NC6s_v3\n  instance_count: 2"
    )
    text = text.replace("./data/quickstart-chat", str(SPECS / "data" / "quickstart-chat"))
    errs, _ = errors_for(write_spec, text)
    messages = [e.message for e in errs]
    assert "'compute' is not used by target local" in messages
    assert "'model.registry' is not used by target local" in messages
    assert "'deployment.sku' is not used by target local" in messages
    assert "target local runs one instance" in messages


def test_local_paths_must_exist(write_spec):
    text = (SPECS / "quickstart-local.yaml").read_text()
    errs, _ = errors_for(write_spec, text.replace("./data/quickstart-chat", "./data/missing"))
    assert "does not exist" in errs[0].message and errs[0].json_path == "$.dataset.source"


def test_defaults_come_from_the_schema():
    filled = fill_defaults({"finetune": {"lora": {"r": 4}}, "deployment": {}})
    assert filled["finetune"]["lora"] == {"r": 4, "enabled": True, "alpha": 16, "dropout": 0.05}
    assert (
        filled["deployment"]["probes"]["liveness"]["initial_delay"]
        == schema()["$defs"]["probe"]["properties"]["initial_delay"]["default"]
    )
    assert filled["target"] == "azureml"


def test_every_schema_key_has_a_description_and_example():
    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            here = f"{path}.{key}"
            assert sub.get("description"), here
            target = sub
            if "$ref" in sub:
                target = schema()["$defs"][sub["$ref"].split("/")[-1]]
            if "properties" in target:
                assert target.get("additionalProperties") is False, here
                walk(target, here)
            else:
                assert "examples" in target or "examples" in sub, here

    walk(schema(), "$")


# --- property-based: any mutation of a valid spec gives located errors, never a crash -----------


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(ALL_PATHS), st.sampled_from(["set", "drop", "rename"]), VALUES),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_specs_never_crash_and_errors_are_located(mutations):
    data = copy.deepcopy(VALID)
    for path, op, value in mutations:
        parent = data
        for part in path[:-1]:
            if not isinstance(parent, dict) or part not in parent:
                break
            parent = parent[part]
        else:
            if not isinstance(parent, dict) or path[-1] not in parent:
                continue
            if op == "set":
                parent[path[-1]] = value
            elif op == "drop":
                del parent[path[-1]]
            else:
                parent[path[-1] + "x"] = parent.pop(path[-1])
    text = yaml.safe_dump(data, sort_keys=False)
    line_count = text.count("\n") + 1
    try:
        result = check_loaded(load_text(text, "m.yaml", env={}))
    except SpecError as exc:  # the loader's own refusals (a control character): located too
        result = Checked("m.yaml", list(exc.diagnostics))
    for d in result.diagnostics:
        assert 1 <= d.line <= line_count and d.col >= 1 and d.message and d.json_path.startswith("$")
    if result.ok:
        assert result.spec is not None
    else:
        assert result.spec is None and any(d.severity == "error" for d in result.diagnostics)


def test_azureml_needs_a_cluster_or_a_serverless_instance_type(write_spec, reference_text):
    no_compute = (
        reference_text[: reference_text.index("compute:\n")] + reference_text[reference_text.index("finetune:\n") :]
    )
    errs, _ = errors_for(write_spec, no_compute)
    assert [e.message for e in errs] == ["missing required key 'compute' in the spec (needed by target azureml)"]
    serverless = no_compute.replace(
        "  gpus_per_node: auto", "  gpus_per_node: auto\n  instance_type: Standard_NC24ads_A100_v4"
    )
    errs, _ = errors_for(write_spec, serverless)
    assert errs == []
    k80 = serverless.replace("instance_type: Standard_NC24ads_A100_v4", "instance_type: Standard_NC24")
    errs, _ = errors_for(write_spec, k80)
    assert [(e.json_path, "K80" in e.message) for e in errs] == [("$.finetune.instance_type", True)]


def test_rollout_steps_rise_and_end_at_the_deployments_traffic(write_spec, reference_text):
    text = edit(reference_text, "- {traffic: 100}", "- {traffic: 5}\n      - {traffic: 90}")
    errs, _ = errors_for(write_spec, text)
    messages = [e.message for e in errs]
    assert "rollout step 2 takes 5%, not more than step 1's 10%" in messages
    assert "the last rollout step takes 90%, but deployment.traffic is 100%" in messages
    step_line = next(i for i, row in enumerate(text.splitlines(), 1) if "{traffic: 5}" in row)
    assert any(e.line == step_line for e in errs)


def test_in_place_has_one_deployment_so_no_steps_or_mirror(write_spec, reference_text):
    text = edit(reference_text, "  rollout:\n", "  rollout:\n    strategy: in_place\n    mirror: 10\n")
    errs, _ = errors_for(write_spec, text)
    assert {e.json_path for e in errs} == {"$.deployment.rollout.steps", "$.deployment.rollout.mirror"}
    assert all("needs strategy blue_green" in e.message for e in errs)


def test_evaluate_split_must_exist_when_written(write_spec, reference_text):
    text = edit(reference_text, "evaluate: {samples: 20, margin: 5}", "evaluate: {samples: 20, split: validation}")
    errs, _ = errors_for(write_spec, text)
    assert [e.message for e in errs] == [
        "smoke_test.evaluate.split names split 'validation', which dataset.splits does not define"
    ]
    # Not written: the default split, absent, only skips the evaluation at apply.
    text = edit(reference_text, "    test: {from: test_sft, percent: 5}\n", "")
    text = edit(text, "sample_from: test", "sample_from: train")
    assert errors_for(write_spec, text)[0] == []


def test_a_retired_vm_series_is_a_located_error(write_spec, reference_text):
    text = edit(reference_text, "  sku: Standard_NC24ads_A100_v4   # in Phi-4", "  sku: Standard_NC6s_v3   # in Phi-4")
    errs, _ = errors_for(write_spec, text)
    (err,) = errs
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  sku: Standard_NC6s_v3"))
    assert (err.json_path, err.line, err.col) == ("$.deployment.sku", line, 8)
    assert err.message == "Standard_NC6s_v3: the NCv3 series retired on 2025-09-30"
    assert "Standard_NC24ads_A100_v4" in err.hint


def test_traffic_below_100_warns_that_others_must_take_the_rest(write_spec, reference_text):
    text = edit(edit(reference_text, "  traffic: 100\n", "  traffic: 60\n"), "- {traffic: 100}", "- {traffic: 60}")
    errs, result = errors_for(write_spec, text)
    assert errs == []
    (warning,) = [d for d in result.diagnostics if d.severity == "warning"]
    assert warning.json_path == "$.deployment.traffic" and "take the other 40%" in warning.message


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("name: phi4-ultrachat\n", 'name: "phi4-ultrachat\\n"\n', "$.name"),
        ("endpoint: ultrachat-completion", 'endpoint: "ultrachat-completion\\n"', "$.deployment.endpoint"),
        ("  name: phi4-ultrachat\n", '  name: "phi4-ultrachat\\n"\n', "$.register.name"),
    ],
)
def test_a_name_with_a_trailing_newline_is_refused(write_spec, reference_text, old, new, path):
    """`$` in Python's re.search matches before a final newline; JSON Schema's does not (issue 22)."""
    errs, _ = errors_for(write_spec, edit(reference_text, old, new))
    assert [e.json_path for e in errs] == [path]
    assert "\\n'" in errs[0].message  # shown escaped, never as a raw newline
