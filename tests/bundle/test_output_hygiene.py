"""Diagnostics echo keys and values of hostile bundles: every output format keeps them one
printable line, and a path always names the key that is wrong, whatever characters it holds."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from mlrig.bundle.diagnostics import Diagnostic, format_path, sanitize
from mlrig.console import print_diagnostics

from .helpers import BUNDLES, ROOT, dump, example, project_with, validate

INJECTED_KEY = "x\n::warning title=pwned::injected annotation\n::add-mask::acme"
TERMINAL_ESCAPE = "\x1b[2K\x1b[1A✓ all good"
UNSAFE = ["\n", "\r", "\x1b", "\x07", "\x00", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\u202e"]


def mlrig(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrig.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def hostile_bundles(tmp_path: Path) -> Path:
    """The examples plus a project whose keys hold a fake GitHub command and a terminal escape."""
    target = tmp_path / "bundles"
    shutil.copytree(BUNDLES, target)
    evil = project_with({"metadata.name": "evil", "spec.repository": "acme/evil"})
    evil["spec"][INJECTED_KEY] = 1
    evil["spec"]["pipelines"]["train"][TERMINAL_ESCAPE] = 2
    (target / "evil.yaml").write_text(dump(evil), encoding="utf-8")
    return target


@pytest.mark.parametrize("char", UNSAFE, ids=[f"U+{ord(c):04X}" for c in UNSAFE])
def test_every_control_character_is_escaped(char: str):
    escaped = sanitize(f"a{char}b")
    assert char not in escaped and escaped.startswith("a\\") and escaped.endswith("b")


def test_printable_text_is_left_alone():
    assert sanitize("spec.pipelines.train: 'ok' — ü [x] %0A") == "spec.pipelines.train: 'ok' — ü [x] %0A"


def test_a_diagnostic_escapes_its_file_path_and_message_once_for_every_format():
    d = Diagnostic("a\nb.yaml", 1, 1, "spec.x\r", "unknown key '\x1b[31m'")
    assert (d.file, d.path, d.message) == ("a\\nb.yaml", "spec.x\\r", "unknown key '\\x1b[31m'")


def test_text_output_prints_one_line_per_error_even_for_a_key_holding_github_commands(hostile_bundles: Path):
    result = mlrig("validate", str(hostile_bundles))
    assert result.returncode == 1
    assert not any(line.startswith("::") for line in result.stdout.splitlines()), result.stdout
    assert "\x1b" not in result.stdout
    assert "x\\n::warning title=pwned::injected annotation\\n::add-mask::acme" in result.stdout


def test_github_output_never_starts_a_command_from_user_text(hostile_bundles: Path):
    result = mlrig("validate", "--format", "github", str(hostile_bundles))
    lines = result.stdout.splitlines()
    assert all(line.startswith("::error ") for line in lines[:-1]), lines
    assert "\x1b" not in result.stdout


def test_json_output_stays_json_with_the_escaped_text(hostile_bundles: Path):
    result = mlrig("validate", "--format", "json", str(hostile_bundles))
    payload = json.loads(result.stdout)
    messages = [e["message"] for f in payload["files"] for e in f["errors"]]
    assert not any(c in m for m in messages for c in UNSAFE)
    assert any("\\x1b[2K" in m for m in messages)


def test_the_shared_printer_writes_escaped_text_without_markup():
    out = io.StringIO()
    print_diagnostics(
        Console(file=out, force_terminal=False, width=300),
        [Diagnostic("p.yaml", 3, 4, "spec.x", f"value '{TERMINAL_ESCAPE}' [bold]not markup[/]")],
    )
    assert out.getvalue().count("\n") == 1 and "\x1b" not in out.getvalue()
    assert "[bold]not markup[/]" in out.getvalue()


# --- paths name the right key ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("spec", "pipelines", "a.b"), 'spec.pipelines["a.b"]'),
        (("spec", "a[0]"), 'spec["a[0]"]'),
        (("spec", "tags", "x]y"), 'spec.tags["x]y"]'),
        (("spec", ""), 'spec[""]'),
        (("spec", 'say "hi"'), 'spec["say \\"hi\\""]'),
        (("spec", "pools", 0, "max"), "spec.pools[0].max"),
    ],
)
def test_keys_that_are_not_plain_are_quoted_in_paths(path: tuple[str | int, ...], text: str):
    assert format_path(path) == text


def test_an_unknown_key_holding_brackets_is_reported_as_itself():
    fraud = example("fraud")
    fraud["spec"]["a[0]"] = 1
    result = validate(example("platform"), fraud, files=["platform.yaml", "fraud-detection.yaml"])
    [error] = [d for d in result.diagnostics if d.rule == "schema"]
    assert error.path == 'spec["a[0]"]'
    assert error.message.startswith("unknown key 'a[0]'")
    assert "did you mean 'spec'" not in error.message


def test_an_unknown_key_inside_a_pipeline_that_looks_like_an_index_points_at_that_key():
    fraud = example("fraud")
    fraud["spec"]["pipelines"]["train"]["[x]"] = 1
    result = validate(example("platform"), fraud, files=["platform.yaml", "fraud-detection.yaml"])
    [error] = [d for d in result.diagnostics if d.rule == "schema"]
    assert error.path == 'spec.pipelines.train["[x]"]' and "unknown key '[x]'" in error.message
