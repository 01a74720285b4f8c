"""`mlrig generate` is all or nothing: when a file cannot be written (a directory that is not
writable, a full disk, a file where a directory must be), the repository is left exactly as it
was, and the message names what stands in the way and what to do."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from mlrig import examples
from mlrig import generate as generate_module

from .test_generate import generate, snapshot


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """A repository whose generated files are up to date, then edited so that CODEOWNERS (written
    first) and the platform's workflows change."""
    repo = tmp_path / "repo"
    examples.copy_to(repo / "bundles")
    assert generate(repo)[0] == 0
    project = repo / "bundles/rag-assistant.yaml"
    project.write_text(project.read_text().replace('owners: ["@acme/genai"]', 'owners: ["@acme/genai-owners"]'))
    platform = repo / "bundles/platform.yaml"
    platform.write_text(platform.read_text().replace("releaseBranch: release", "releaseBranch: releases"))
    return repo


def failing_on(name: str, error: OSError):
    """`_stage` that fails on the file called `name`, as the operating system would."""
    stage = generate_module._stage

    def fake(target: Path, content: str) -> Path:
        if target.name == name:
            raise error
        return stage(target, content)

    return fake


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
    ids=["directory not writable", "disk full"],
)
def test_a_write_that_fails_half_way_leaves_the_repository_as_it_was(
    generated: Path, monkeypatch: pytest.MonkeyPatch, error: OSError
) -> None:
    before = snapshot(generated)
    # CODEOWNERS is written before the workflows: it must not stay written.
    monkeypatch.setattr(generate_module, "_stage", failing_on("mlrig-release.yml", error))
    code, out, err = generate(generated)
    assert code == 2, (out, err)
    assert snapshot(generated) == before, "nothing written, nothing deleted, no temporary file left"
    assert "cannot write .github/workflows/mlrig-release.yml" in err
    assert "nothing was generated; the repository is as it was" in err
    assert "Traceback" not in out + err
    if isinstance(error, PermissionError):
        assert ".github/workflows is not writable by this user: make it writable" in err


def test_a_failed_run_puts_back_the_files_it_was_deleting_and_removes_directories_it_made(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (generated / "Pulumi.acme-ml.dev.yaml").unlink()  # to be created again
    platform = generated / "bundles/platform.yaml"  # staging's stack configs are deleted
    text = platform.read_text()
    start = text.index("    staging:\n")
    end = text.index("    prod:\n")
    platform.write_text(text[:start] + text[end:])
    shutil.rmtree(generated / "schemas")  # a directory to create again
    before = snapshot(generated)
    monkeypatch.setattr(
        generate_module, "_stage", failing_on("bundle.schema.json", PermissionError(errno.EACCES, "denied"))
    )
    code, out, err = generate(generated)
    assert code == 2, (out, err)
    assert snapshot(generated) == before
    assert not (generated / "schemas").exists(), "the directory made for the failed file is gone again"
    assert (generated / "Pulumi.acme-ml.staging.yaml").is_file(), "the file about to be deleted is back"


@pytest.mark.parametrize(
    ("obstacle", "message"),
    [
        (".github", ".github is a file, but mlrig writes .github/CODEOWNERS inside a directory of that name"),
        ("schemas", "schemas is a file, but mlrig writes schemas/bundle.schema.json inside a directory of that name"),
    ],
)
@pytest.mark.parametrize("check", [False, True], ids=["generate", "generate --check"])
def test_a_file_where_a_generated_directory_goes_is_named_with_what_to_do(
    generated: Path, obstacle: str, message: str, check: bool
) -> None:
    shutil.rmtree(generated / obstacle)
    (generated / obstacle).write_text("not a directory\n")
    before = snapshot(generated)
    code, out, err = generate(generated, check=check)
    assert code == 2, (out, err)
    assert message in err and "move the file away" in err and "Traceback" not in err
    assert snapshot(generated) == before


@pytest.mark.parametrize("check", [False, True], ids=["generate", "generate --check"])
def test_a_directory_where_a_generated_file_goes_is_named_with_what_to_do(generated: Path, check: bool) -> None:
    stack = generated / "Pulumi.fraud-detection.prod.yaml"
    stack.unlink()
    stack.mkdir()
    before = snapshot(generated)
    code, out, err = generate(generated, check=check)
    assert code == 2, (out, err)
    assert "Pulumi.fraud-detection.prod.yaml is a directory where mlrig writes a file: move the directory away" in err
    assert snapshot(generated) == before


def test_a_successful_run_leaves_no_temporary_or_moved_aside_file(generated: Path) -> None:
    platform = generated / "bundles/platform.yaml"
    text = platform.read_text()
    platform.write_text(text[: text.index("    staging:\n")] + text[text.index("    prod:\n") :])
    code, out, err = generate(generated)
    assert code == 0, (out, err)
    assert not (generated / "Pulumi.acme-ml.staging.yaml").exists()
    leftovers = [p for p in generated.rglob(".*") if p.name.endswith((".tmp", ".deleted"))]
    assert leftovers == []


@pytest.mark.parametrize("check", [False, True], ids=["generate", "generate --check"])
def test_a_second_platform_in_the_repository_is_refused_instead_of_replacing_the_first_ones_workflows(
    generated: Path, check: bool
) -> None:
    """Both platforms' workflows are written to the same .github/workflows/ files: the second
    silently replaced the first's, so acme-ml's stacks were deployed with other-ml's roles."""
    platform = (generated / "bundles/platform.yaml").read_text()
    (generated / "bundles/other-ml.yaml").write_text(platform.replace("name: acme-ml", "name: other-ml"))
    before = snapshot(generated)
    code, out, err = generate(generated, check=check)
    assert code == 1, (out, err)
    assert "bundles/ holds 2 Platform bundles" in err
    assert "bundles/platform.yaml:6:3 metadata.name (acme-ml)" in err
    assert "bundles/other-ml.yaml:6:3 metadata.name (other-ml)" in err
    assert "move each other platform, with its projects, to a repository of its own" in err
    assert "nothing was generated" in err
    assert snapshot(generated) == before


@pytest.mark.parametrize("check", [False, True], ids=["generate", "generate --check"])
def test_an_emptied_bundles_directory_deletes_nothing(generated: Path, check: bool) -> None:
    """`mlrig validate` refuses a bundles/ without bundle files; generate took it for the removal
    of every bundle and deleted every stack config, workflow and CODEOWNERS."""
    for bundle in (generated / "bundles").iterdir():
        bundle.unlink()
    (generated / "bundles/README.md").write_text("bundles go here\n")
    before = snapshot(generated)
    code, out, err = generate(generated, check=check)
    assert code == 2, (out, err)
    assert "bundles: no bundle files (*.yaml, *.yml); nothing was generated or deleted" in err
    assert snapshot(generated) == before
