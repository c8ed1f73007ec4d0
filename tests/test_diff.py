"""`orchestrate diff` on a real git repository with several commits, and on two files."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.diff import diff_specs
from tests.conftest import SPECS

PHI3 = (SPECS / "phi4-ultrachat.yaml").read_text()


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit(repo, message):
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "phi3.yaml").write_text(PHI3)
    commit(tmp_path, "first")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    return CliRunner().invoke(cli, ["diff", *args], catch_exceptions=False)


def edit(repo, old, new, name="phi3.yaml"):
    path = repo / "specs" / name
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_field_change_lists_the_stages_it_reruns(repo):
    edit(repo, "learning_rate: 5.0e-6", "learning_rate: 1.0e-5")
    commit(repo, "lr")
    result = run("HEAD~1..HEAD", "specs/")
    assert result.exit_code == 0, result.output
    assert "finetune.learning_rate 5e-6 -> 1e-5: reruns finetune, register, deployment, smoke_test" in result.output


def test_working_tree_against_a_revision_and_per_field_reruns(repo):
    edit(repo, "instance_count: 1", "instance_count: 3")
    edit(repo, "traffic: 100", "traffic: 50")
    data = json.loads(run("HEAD", "-o", "json").output)
    [spec] = data["specs"]
    changes = {c["path"]: c for c in spec["changes"]}
    assert changes["deployment.instance_count"]["reruns"] == ["deployment", "smoke_test"]
    assert changes["deployment.traffic"]["reruns"] == ["traffic"]
    assert spec["reruns"] == ["deployment", "smoke_test", "traffic"]


def test_formatting_only_changes_show_no_diff(repo):
    text = (repo / "specs" / "phi3.yaml").read_text()
    text = text.replace("# The reference workflow", "# Reworded comment about the workflow")
    text = text.replace(
        "  name: gpu-a100\n  sku: Standard_NC24ads_A100_v4", "  sku: 'Standard_NC24ads_A100_v4'\n  name: \"gpu-a100\""
    )
    text = text.replace("percent: 5}", "percent: 5.0}").replace("epochs: 1\n", "epochs: 1   # one pass\n")
    (repo / "specs" / "phi3.yaml").write_text(text)
    commit(repo, "format")
    result = run("HEAD~1..HEAD")
    assert result.exit_code == 0 and result.output.strip() == "No spec changed."


def test_writing_out_or_dropping_a_default_is_not_a_change(repo):
    edit(repo, "compute:\n", "compute:\n  tier: dedicated   # the default, now explicit\n")
    edit(repo, "  warmup_steps: 0\n", "")
    assert run("HEAD").output.strip() == "No spec changed."


def test_added_removed_and_renamed_specs(repo):
    (repo / "specs" / "second.yaml").write_text(PHI3.replace("name: phi4-ultrachat\n", "name: second-run\n"))
    commit(repo, "add")
    git(repo, "mv", "specs/phi3.yaml", "specs/phi3-renamed.yaml")
    commit(repo, "rename")
    git(repo, "rm", "-q", "specs/second.yaml")
    commit(repo, "remove")
    added = json.loads(run("HEAD~3..HEAD~2", "-o", "json").output)["specs"]
    assert [(s["status"], s["new_name"]) for s in added] == [("added", "specs/second.yaml")]
    assert added[0]["reruns"][0] == "data"
    renamed = json.loads(run("HEAD~2..HEAD~1", "-o", "json").output)["specs"]
    assert [(s["status"], s["old_name"], s["new_name"], s["changes"]) for s in renamed] == [
        ("renamed", "specs/phi3.yaml", "specs/phi3-renamed.yaml", [])
    ]
    removed = run("HEAD~1..HEAD")
    assert "specs/second.yaml: removed" in removed.output


def test_untracked_new_spec_shows_as_added(repo):
    (repo / "specs" / "new.yaml").write_text(PHI3.replace("name: phi4-ultrachat\n", "name: new-run\n"))
    assert "specs/new.yaml: added" in run("HEAD").output


def test_invalid_new_version_exits_1_with_located_errors(repo):
    edit(repo, "epochs: 1", "epochs: zero")
    result = run("HEAD")
    assert result.exit_code == 1 and "specs/phi3.yaml: invalid" in result.output
    assert "finetune.epochs must be a whole number" in result.output


def test_two_files_and_markdown(tmp_path):
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(PHI3)
    new.write_text(PHI3.replace("precision: fp16", "precision: bf16"))
    result = run(str(old), str(new), "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert (
        "| `finetune.precision` | `fp16` | `bf16` | `finetune`, `register`, `deployment`, `smoke_test`, `traffic` |"
        in result.output
    )
    assert result.output.startswith("### orchestrate diff")
    # A new model is a new deployment: the comment says how it goes live.
    assert re.search(
        r"\*\*Rollout:\*\* `deployment (demo-[0-9a-f]{6}) -> demo-[0-9a-f]{6}: created beside it; smoke and "
        r"evaluate at 0 %; traffic 10 % for 600 s, then 100 %; then delete \1",
        result.output,
    )


def test_a_scale_change_keeps_the_deployment_so_no_rollout():
    d = diff_specs(PHI3.encode(), "a", PHI3.replace("instance_count: 1", "instance_count: 2").encode(), "a")
    assert d.reruns == ("deployment", "smoke_test") and d.rollout == ""


def test_env_references_are_compared_as_written(monkeypatch):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    d = diff_specs(PHI3.encode(), "a", PHI3.replace("rg-llm", "rg-other").encode(), "a")
    assert [c.path for c in d.changes] == ["workspace.resource_group"]


def test_bad_revision_is_one_clear_error(repo):
    result = run("nope..HEAD")
    assert result.exit_code == 1 and "'nope' is neither an existing file nor a git revision" in result.output


def _lock(model: str, component: str = "0.0.82") -> str:
    """A lock file as `orchestrate lock` writes it (see orchestrator/lockfile.py)."""
    return (
        "lock_version: 1\nrun: phi4-ultrachat\npins:\n"
        "  component:\n    ref: azureml://registries/azureml/components/chat_completion_pipeline/labels/latest\n"
        f"    version: {component}\n"
        "  model:\n    ref: azureml://registries/azureml/models/Phi-4/labels/latest\n"
        f"    version: '{model}'\n"
    )


def test_a_moved_lock_shows_with_the_stages_it_reruns(repo):
    (repo / "specs" / "phi3.lock").write_text(_lock("15"))
    commit(repo, "first lock")
    first = json.loads(run("HEAD~1..HEAD", "-o", "json").output)["specs"]
    # The first lock records what `latest` resolved to: nothing reruns for it.
    assert [(c["path"], c["old"], c["new"], c["reruns"]) for c in first[0]["changes"]] == [
        ("lock.component", "(absent)", "0.0.82", []),
        ("lock.model", "(absent)", "15", []),
    ]
    assert first[0]["reruns"] == []
    (repo / "specs" / "phi3.lock").write_text(_lock("16"))
    commit(repo, "lock --upgrade")
    result = run("HEAD~1..HEAD", "specs/")  # only the lock changed: the spec is still compared
    assert result.exit_code == 0, result.output
    assert "lock.model 15 -> 16: reruns model, finetune, register, deployment, smoke_test" in result.output
    (repo / "specs" / "phi3.lock").write_text(_lock("16", "0.0.83"))
    moved = json.loads(run("HEAD", "-o", "json").output)["specs"][0]
    assert [(c["path"], c["reruns"][0]) for c in moved["changes"]] == [("lock.component", "finetune")]


def test_a_spec_whose_path_git_quotes_is_still_compared(repo):
    """git quotes non-ASCII paths ("specs/prod-\303\251.yaml") unless -z: the change must not vanish."""
    (repo / "specs" / "prod-é.yaml").write_text(PHI3)
    (repo / "specs" / "new\nline.yaml").write_text(PHI3)
    commit(repo, "two specs with awkward names")
    edit(repo, "epochs: 1", "epochs: 2", name="prod-é.yaml")
    (repo / "specs" / "untracked-ü.yaml").write_text(PHI3)
    result = run("HEAD", "-o", "json")
    assert result.exit_code == 0, result.output
    specs = {s["new_name"]: s["status"] for s in json.loads(result.output)["specs"]}
    assert specs == {"specs/prod-é.yaml": "modified", "specs/untracked-ü.yaml": "added"}


HOSTILE = (
    "x`\n# Heading from a value\n@octocat ![img](https://example.invalid/p.png) <b>bold</b> "
    "[link](https://example.invalid) <!-- hides the rest ``` | cell |"
)


def _rendered_outside_code(markdown: str) -> tuple[list[str], str]:
    """(block token types, text of every inline token that is not code) as a real parser sees them."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    kinds = [t.type for t in tokens]
    text = []
    for t in tokens:
        for child in t.children or []:
            if child.type not in ("code_inline",):
                text.append(f"{child.type}:{child.content}")
    return kinds, "\n".join(text)


def test_hostile_values_and_file_names_render_as_code_in_the_pr_comment(repo):
    """Spec values and file names go into a PR comment: none may become a heading, a mention, an
    image, a link, HTML or a comment (issue 22, item 4)."""
    import yaml as pyyaml

    spec = repo / "specs" / "phi3.yaml"
    data = pyyaml.safe_load(spec.read_text())
    data["dataset"]["source"] = HOSTILE  # a value: quoted by safe_dump, multi-line
    spec.write_text(pyyaml.safe_dump(data, sort_keys=False))
    (repo / "specs" / "@octocat <!-- x.yaml").write_text(PHI3.replace("epochs: 1", "epochs: zero"))
    result = run("HEAD", "--format", "markdown")
    assert result.exit_code == 1, result.output  # one spec does not validate
    kinds, outside = _rendered_outside_code(result.output)
    # Our own headings only: the title and one per spec.
    assert kinds.count("heading_open") == 1 + 2, result.output
    assert "html_block" not in kinds and "html_inline" not in outside
    assert "image" not in outside and "link_open" not in outside
    assert "@octocat" not in outside and "<!--" not in outside and "Heading from a value" not in outside
    rows = [line for line in result.output.splitlines() if line.startswith("| `dataset.source`")]
    assert len(rows) == 1 and rows[0].count(" | ") == 3  # the table row is still one row of 4 cells
