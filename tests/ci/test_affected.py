"""`mlrig affected` on a throwaway git repository with real commits."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from mlrig.ci.affected import affected_stacks, run_affected_command

from .conftest import commit

ALL_STACKS = {
    f"{bundle}.{env}"
    for bundle in ("acme-ml", "fraud-detection", "rag-assistant")
    for env in ("dev", "staging", "prod")
}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def stacks(repo: Path, base: str, head: str | None = "HEAD") -> set[str]:
    return {s.stack for s in affected_stacks(repo, base, head).stacks}


def command(repo: Path, *args: str | None, fmt: str = "text") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    base, head = args[0], args[1] if len(args) > 1 else None
    assert base is not None
    code = run_affected_command(
        str(repo),
        base,
        head,
        fmt,
        stdout=Console(file=out, soft_wrap=True, width=200),
        stderr=Console(file=err, soft_wrap=True, width=200),
    )
    return code, out.getvalue(), err.getvalue()


def test_a_change_to_one_project_bundle_affects_exactly_that_projects_stacks(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    edit(repo / "bundles/fraud-detection.yaml", "max: 8", "max: 9")
    commit(repo, "more batch nodes")
    assert stacks(repo, "HEAD~1") == {"fraud-detection.dev", "fraud-detection.staging", "fraud-detection.prod"}


def test_a_prod_only_override_affects_only_the_prod_stack(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    edit(repo / "bundles/fraud-detection.yaml", "max: 16, capacity: on-demand", "max: 24, capacity: on-demand")
    commit(repo, "bigger prod training pool")
    assert stacks(repo, "HEAD~1") == {"fraud-detection.prod"}


def test_a_platform_change_in_one_environment_affects_it_and_the_projects_on_it(
    bundle_repo: Callable[[], Path],
) -> None:
    repo = bundle_repo()
    edit(repo / "bundles/platform.yaml", "systemNodeGroup: { min: 3, max: 6 }", "systemNodeGroup: { min: 3, max: 8 }")
    commit(repo, "bigger prod system nodes")
    assert stacks(repo, "HEAD~1") == {"acme-ml.prod", "fraud-detection.prod", "rag-assistant.prod"}


def test_a_platform_wide_change_affects_every_stack(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    edit(repo / "bundles/platform.yaml", "department: machine-learning", "department: ml-platform")
    commit(repo, "retag")
    assert stacks(repo, "HEAD~1") == ALL_STACKS


def test_a_change_to_the_program_affects_every_stack(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    (repo / "infra/program.py").write_text("# the program, changed\n")
    commit(repo, "program change")
    assert stacks(repo, "HEAD~1") == ALL_STACKS


@pytest.mark.parametrize("program_file", ["requirements.lock", "__main__.py"])
def test_an_mlrig_upgrade_in_a_platform_repository_affects_every_stack(
    bundle_repo: Callable[[], Path], program_file: str
) -> None:
    """In a platform repository the program is the mlrig that requirements.lock pins (and the
    `__main__.py` that calls it): bumping it changes every stack, so every stack is planned in the
    pull request and applied on merge."""
    repo = bundle_repo()
    (repo / program_file).write_text("mlrig==0.1.0\n")
    commit(repo, "the program as the platform repository pins it")
    (repo / program_file).write_text("mlrig==0.2.0\n")
    commit(repo, "mlrig 0.2.0")
    assert stacks(repo, "HEAD~1") == ALL_STACKS


def test_docs_only_and_cosmetic_changes_affect_nothing(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    (repo / "docs/guide.md").write_text("# guide, better\n")
    edit(repo / "bundles/fraud-detection.yaml", 'owners: ["@acme/risk-ml"]', 'owners: ["@acme/risk-ml", "@acme/fraud"]')
    commit(repo, "docs and owners")
    assert stacks(repo, "HEAD~1") == set()
    code, out, _ = command(repo, "HEAD~1", "HEAD")
    assert (code, out) == (0, "")


def test_the_working_tree_counts_including_new_files(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    platform = (repo / "bundles/platform.yaml").read_text()
    admission = platform.split("      rag-assistant:\n", 1)[1].split("  cluster:", 1)[0]
    (repo / "bundles/platform.yaml").write_text(  # the platform team admitted the new project first
        platform.replace(
            "  cluster:", "      support-bot:\n" + admission.replace("rag-assistant", "support-bot") + "  cluster:", 1
        )
    )
    commit(repo, "admit the support bot")
    text = (repo / "bundles/rag-assistant.yaml").read_text()
    (repo / "bundles/support-bot.yaml").write_text(
        text.replace("name: rag-assistant", "name: support-bot").replace("acme/rag-assistant", "acme/support-bot")
    )
    assert stacks(repo, "HEAD", None) == {"support-bot.dev", "support-bot.staging", "support-bot.prod"}


def test_a_deleted_bundle_is_noted_not_planned(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    (repo / "bundles/rag-assistant.yaml").unlink()
    commit(repo, "retire the assistant")
    code, out, err = command(repo, "HEAD~1", "HEAD", fmt="json")
    assert code == 0
    payload = json.loads(out)
    assert payload["stacks"] == []
    assert payload["deleted"] == [
        {
            "bundle": "bundles/rag-assistant.yaml",
            "stacks": ["rag-assistant.dev", "rag-assistant.staging", "rag-assistant.prod"],
        }
    ]
    assert "rag-assistant.yaml was deleted" in err


def test_json_output_is_a_workflow_matrix_in_deployment_order(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    edit(repo / "bundles/platform.yaml", "department: machine-learning", "department: ml-platform")
    commit(repo, "retag")
    code, out, _ = command(repo, "HEAD~1", "HEAD", fmt="json")
    payload = json.loads(out)
    assert code == 0
    assert payload["stacks"][:3] == ["acme-ml.dev", "fraud-detection.dev", "rag-assistant.dev"]
    assert payload["include"][0] == {
        "stack": "acme-ml.dev",
        "bundle": "bundles/platform.yaml",
        "environment": "dev",
        "tier": "dev",
        "kind": "Platform",
    }
    assert [i["stack"] for i in payload["include"]] == payload["stacks"]


def test_the_first_push_compares_with_the_empty_tree_and_affects_everything(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    assert stacks(repo, "4b825dc642cb6eb9a060e54bf8d69288fbee4904") == ALL_STACKS


def test_a_bad_ref_is_a_clear_usage_error(bundle_repo: Callable[[], Path], tmp_path: Path) -> None:
    repo = bundle_repo()
    code, out, err = command(repo, "no-such-branch")
    assert (code, out) == (2, "")
    assert "unknown git ref 'no-such-branch'" in err
    code, _, err = command(repo, "--upload-pack=evil")
    assert code == 2 and "not a git ref" in err
    plain = tmp_path / "plain"
    plain.mkdir()
    code, _, err = command(plain, "HEAD")
    assert code == 2 and "error:" in err


def test_invalid_bundles_at_head_are_reported_with_exit_1(bundle_repo: Callable[[], Path]) -> None:
    repo = bundle_repo()
    edit(repo / "bundles/fraud-detection.yaml", "capacity: spot\n        max: 8", "capacity: sometimes\n        max: 8")
    code, out, err = command(repo, "HEAD")
    assert (code, out) == (1, "")
    assert "fraud-detection.yaml" in err and "capacity" in err


def test_a_bundle_moved_into_a_sub_directory_still_affects_its_stacks(bundle_repo: Callable[[], Path]) -> None:
    """Bundles in sub-directories of bundles/ count too; a move is previewed, conservatively."""
    repo = bundle_repo()
    (repo / "bundles/teams").mkdir()
    shutil.move(repo / "bundles/rag-assistant.yaml", repo / "bundles/teams/rag-assistant.yaml")
    commit(repo, "move")
    assert stacks(repo, "HEAD~1") == {"rag-assistant.dev", "rag-assistant.staging", "rag-assistant.prod"}


# --- a crafted tree never writes outside the scratch directory (F10) --------------------------------


def crafted_commit(repo: Path, escaping: str, depth: int) -> str:
    """A commit whose `bundles/` tree holds `depth` nested `..` entries (git refuses to make one; a
    crafted push or a local fetch does not): `git ls-tree` then names `bundles/../../<escaping>`."""
    import binascii
    import subprocess

    def git(*args: str, data: bytes | None = None) -> str:
        return (
            subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, check=True)
            .stdout.decode()
            .strip()
        )

    blob = git("hash-object", "-w", "--stdin", data=b"apiVersion: mlrig/v1\nkind: Project\n")

    def tree(mode: str, name: str, sha: str) -> str:
        entry = f"{mode} {name}".encode() + b"\0" + binascii.unhexlify(sha)
        return git("hash-object", "-w", "-t", "tree", "--literally", "--stdin", data=entry)

    bundles = tree("100644", escaping, blob)
    for _ in range(depth):
        bundles = tree("40000", "..", bundles)
    root = tree("40000", "bundles", bundles)
    env = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    return git(*env, "commit-tree", root, "-p", "HEAD", "-m", "crafted")


def test_a_tree_with_dot_dot_entries_is_refused_and_nothing_is_written_outside(
    bundle_repo: Callable[[], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = bundle_repo()
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    # scratch = tmp/mlrig-affected-*/head: four `..` from head/bundles reach tmp_path itself
    crafted = crafted_commit(repo, "escaped.yaml", depth=4)
    code, out, err = command(repo, "HEAD", crafted)
    assert code == 1, (out, err)
    assert "bundles/../../../../escaped.yaml" in err and "refusing to read it" in err and "Traceback" not in err
    assert not (tmp_path / "escaped.yaml").exists()
    assert not list(tmp_path.rglob("escaped.yaml"))


def test_scratch_targets_stay_inside_the_scratch_directory(tmp_path: Path) -> None:
    from mlrig.ci.affected import UnsafeTreePath, scratch_target

    assert scratch_target(tmp_path, "HEAD", "bundles/teams/a.yaml") == tmp_path / "bundles/teams/a.yaml"
    for hostile in ("bundles/../../x.yaml", "/etc/x.yaml", "bundles//x.yaml", "bundles/./x.yaml", "bundles/..\\x.yaml"):
        with pytest.raises(UnsafeTreePath):
            scratch_target(tmp_path, "HEAD", hostile)
