"""`mlrig validate` and `mlrig schema` through the real entry point: exit codes, formats, and
every error of every file in one run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import BUNDLES, ROOT, dump, example, line_of, set_path

PATH_PART = r"[^.\[\]]+"


def mlrig(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrig.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def bundles(tmp_path: Path) -> Path:
    """A copy of bundles/ to break."""
    target = tmp_path / "bundles"
    shutil.copytree(BUNDLES, target)
    return target


def test_the_example_bundles_are_valid(example_repo: Path):
    result = mlrig("validate", cwd=example_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 bundle(s) valid" in result.stdout
    assert "Traceback" not in result.stderr


def test_validate_reads_bundles_by_default_and_accepts_files_and_directories(example_repo: Path):
    assert mlrig("validate", "bundles/platform.yaml", "bundles/fraud-detection.yaml", cwd=example_repo).returncode == 0
    assert mlrig("validate", "bundles", cwd=example_repo).returncode == 0


def test_json_output_has_exactly_the_shape_of_the_contract(example_repo: Path):
    result = mlrig("validate", "--format", "json", cwd=example_repo)
    assert result.returncode == 0
    payload = json.loads(result.stdout)
    assert set(payload) == {"valid", "files"} and payload["valid"] is True
    assert [f["file"] for f in payload["files"]] == [
        "bundles/fraud-detection.yaml",
        "bundles/platform.yaml",
        "bundles/rag-assistant.yaml",
    ]
    for entry in payload["files"]:
        assert set(entry) == {"file", "valid", "kind", "name", "errors"}
        assert entry["valid"] is True and entry["errors"] == []
    assert {(f["kind"], f["name"]) for f in payload["files"]} == {
        ("Platform", "acme-ml"),
        ("Project", "fraud-detection"),
        ("Project", "rag-assistant"),
    }


def break_examples(bundles: Path) -> dict[str, str]:
    """Two errors in the platform, three in a project; returns the texts written."""
    platform = example("platform")
    set_path(platform, "spec.environments.staging.region", "us-east-7")
    set_path(platform, "spec.environments.prod.account", "111111111111")
    fraud = example("fraud")
    set_path(fraud, "spec.compute.pools[1].max", "four")
    set_path(fraud, "spec.pipelines.train.scheduel", "0 3 * * 0")
    set_path(fraud, "spec.environments.prod.compute.pools[0].capacity", "reserved")
    texts = {"platform.yaml": dump(platform), "fraud-detection.yaml": dump(fraud)}
    for name, text in texts.items():
        (bundles / name).write_text(text, encoding="utf-8")
    return texts


def test_every_error_of_every_file_is_reported_in_one_json_run(bundles: Path):
    texts = break_examples(bundles)
    result = mlrig("validate", "--format", "json", str(bundles))
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert payload["valid"] is False
    files = {Path(f["file"]).name: f for f in payload["files"]}
    # A project of a broken platform cannot be checked per environment: it waits for its platform,
    # whose errors are the ones to fix (reported there, once).
    rag = files["rag-assistant.yaml"]
    assert rag["errors"] == [] and rag["valid"] is False and rag["blockedBy"] == str(bundles / "platform.yaml")
    platform_errors = files["platform.yaml"]["errors"]
    project_errors = [e for e in files["fraud-detection.yaml"]["errors"] if e["path"] != "spec.platform"]
    assert {e["path"] for e in platform_errors} == {
        "spec.environments.staging.region",
        "spec.environments.prod.account",
    }
    assert {e["path"] for e in project_errors} == {
        "spec.compute.pools[1].max",
        "spec.pipelines.train.scheduel",
        "spec.environments.prod.compute.pools[0].capacity",
    }
    for error in platform_errors + project_errors:
        assert set(error) >= {"path", "line", "column", "message"}
        assert isinstance(error["line"], int) and isinstance(error["column"], int) and error["message"]
    by_path = {e["path"]: e for e in project_errors}
    assert by_path["spec.compute.pools[1].max"]["line"] == line_of(texts["fraud-detection.yaml"], "max: four")
    assert by_path["spec.pipelines.train.scheduel"]["line"] == line_of(texts["fraud-detection.yaml"], "scheduel:")
    assert "did you mean 'schedule'" in by_path["spec.pipelines.train.scheduel"]["message"]


def test_text_output_names_file_line_column_and_path(bundles: Path):
    texts = break_examples(bundles)
    result = mlrig("validate", str(bundles))
    assert result.returncode == 1
    line = line_of(texts["platform.yaml"], "us-east-7")
    assert f"platform.yaml:{line}:" in result.stdout
    assert "spec.environments.staging.region: unknown AWS region 'us-east-7'" in result.stdout
    assert "5 error(s) in 2 of 3 bundle(s)" in result.stdout  # the 5 written, each once
    assert (
        "2 project bundle(s) (fraud-detection, rag-assistant) are checked against their platform once" in result.stdout
    )


def test_github_output_is_one_workflow_annotation_per_error(bundles: Path):
    texts = break_examples(bundles)
    result = mlrig("validate", "--format", "github", str(bundles))
    assert result.returncode == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 5  # the 5 written, each once
    assert sum(line.startswith("::notice ") for line in result.stdout.splitlines()) == 1
    line = line_of(texts["fraud-detection.yaml"], "max: four")
    expected = f"::error file={bundles}/fraud-detection.yaml,line={line},col="
    assert any(a.startswith(expected) and "title=mlrig%3A spec.compute.pools[1].max::" in a for a in annotations), (
        annotations
    )


@pytest.mark.parametrize(
    ("file", "change", "path"),
    [
        ("platform.yaml", ("spec.isolation", "acount"), "spec.isolation"),
        (
            "platform.yaml",
            ("spec.environments.prod.network.cidr", "10.20.0.0/16"),
            "spec.environments.prod.network.cidr",
        ),
        ("platform.yaml", ("metadata.nmae", "x"), "metadata.nmae"),
        ("fraud-detection.yaml", ("spec.pipelines.train.image", "trainer"), "spec.pipelines.train.image"),
        (
            "fraud-detection.yaml",
            ("spec.serving.endpoints[0].rollout.percent", 150),
            "spec.serving.endpoints[0].rollout.percent",
        ),
        (
            "fraud-detection.yaml",
            ("spec.environments.prod.serving.endpoints[0].autoscaling.minReplicas", 99),
            "spec.environments.prod.serving.endpoints[0].autoscaling.minReplicas",
        ),
        (
            "rag-assistant.yaml",
            ("spec.compute.pools[0].instanceTypes", ["m7i.48xlarge"]),
            "spec.compute.pools[0].instanceTypes[0]",
        ),
        ("rag-assistant.yaml", ("spec.pipelines.index-docs.schedule", "0 1 * *"), "spec.pipelines.index-docs.schedule"),
    ],
)
def test_a_broken_variation_of_an_example_exits_1_with_file_line_and_path(
    bundles: Path, file: str, change: tuple, path: str
):
    document = {
        v: k
        for k, v in {"platform": "platform.yaml", "fraud": "fraud-detection.yaml", "rag": "rag-assistant.yaml"}.items()
    }[file]
    data = set_path(example(document), *change)
    (bundles / file).write_text(dump(data), encoding="utf-8")
    result = mlrig("validate", str(bundles))
    assert result.returncode == 1, result.stdout
    assert f"{bundles / file}:" in result.stdout and f" {path}: " in result.stdout, result.stdout


def test_a_missing_path_is_a_usage_error_with_exit_2():
    result = mlrig("validate", "no/such/dir")
    assert result.returncode == 2
    assert "no/such/dir: no such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_format_is_a_usage_error_with_exit_2():
    result = mlrig("validate", "--format", "xml")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_hostile_files_exit_1_with_a_clean_message(tmp_path: Path):
    (tmp_path / "bomb.yaml").write_text(
        'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))
    )
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01")
    (tmp_path / "list.yaml").write_text("- a\n")
    result = mlrig("validate", "--format", "json", str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    files = {Path(f["file"]).name: f["errors"][0]["message"] for f in json.loads(result.stdout)["files"]}
    assert "alias bomb" in files["bomb.yaml"]
    assert "UTF-8" in files["binary.yaml"]
    assert "mapping" in files["list.yaml"]


def test_user_values_that_look_like_markup_are_printed_verbatim(tmp_path: Path):
    (tmp_path / "b.yaml").write_text('apiVersion: mlrig/v1\nkind: "[/x]"\n')
    result = mlrig("validate", str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "unknown kind '[/x]'" in result.stdout


def test_user_values_that_look_like_emoji_codes_are_printed_verbatim(tmp_path: Path):
    """Rich turns `:secret:` into an emoji: an ARN such as `arn:aws:secretsmanager:…:secret:x`
    was printed with a symbol in place of `:secret:`."""
    (tmp_path / "b.yaml").write_text('apiVersion: mlrig/v1\nkind: "arn:aws:secretsmanager:us-east-1:1:secret:x"\n')
    result = mlrig("validate", str(tmp_path))
    assert result.returncode == 1
    assert "unknown kind 'arn:aws:secretsmanager:us-east-1:1:secret:x'" in result.stdout


def test_schema_prints_the_committed_schema():
    result = mlrig("schema")
    assert result.returncode == 0
    assert result.stdout == (ROOT / "schemas" / "bundle.schema.json").read_text(encoding="utf-8")
