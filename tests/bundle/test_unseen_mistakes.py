"""Mistakes in the fields added after the newcomer trial (deployment patterns, rollout, capacity
reservations, vector databases, the LLM gateway, alerts) and in YAML's corners, each as
`mlrig validate` reports it through the real command line: exit code 1, one error per cause at
the file, line and column the user wrote, a message that says what to do, and no traceback.

Each case edits a copy of the shipped example bundles; the expected position is where `marker`
stands in the edited text, so that the table reads as the mistake itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlrig import examples
from mlrig.cli import cli


@dataclass(frozen=True)
class Mistake:
    """`old` replaced by `new` in the example `file`; `mlrig validate` then reports, at the
    position of `marker` (a fragment of `new`), `path` with `fragment` in its message, and
    `errors` errors in all."""

    id: str
    file: str
    old: str
    new: str
    marker: str
    path: str
    fragment: str
    errors: int = 1


FRAUD, RAG = "fraud-detection.yaml", "rag-assistant.yaml"
QUALITY = "{ name: auc, threshold: 0.8, direction: maximize }"
COMPARISON = "comparison: { metric: auc, direction: maximize, minImprovement: 0.005, baselineThreshold: 0.85 }"
PROD_OVERRIDE = "    prod:\n      compute:"
NOT_FINITE = "expected a finite number, got"

MISTAKES = [
    # --- numbers YAML reads but no field means ---------------------------------------------------
    Mistake(
        "an alert threshold of .nan (the alert never fires)",
        FRAUD,
        QUALITY,
        "{ name: auc, threshold: .nan, direction: maximize }",
        ".nan",
        "spec.monitoring.quality[0].threshold",
        f"{NOT_FINITE} not-a-number (.nan)",
    ),
    Mistake(
        "a first-deploy threshold of -.inf (every candidate passes)",
        FRAUD,
        COMPARISON,
        COMPARISON.replace("baselineThreshold: 0.85", "baselineThreshold: -.inf"),
        "-.inf",
        "spec.modelDeployment.comparison.baselineThreshold",
        f"{NOT_FINITE} -infinity",
    ),
    Mistake(
        "a required improvement of .inf (no candidate is ever promoted)",
        FRAUD,
        COMPARISON,
        COMPARISON.replace("minImprovement: 0.005", "minImprovement: .inf"),
        ".inf",
        "spec.modelDeployment.comparison.minImprovement",
        f"{NOT_FINITE} infinity",
    ),
    Mistake(
        "a gateway budget of .inf (no budget at all)",
        RAG,
        "anthropic: { requestsPerMinute: 300, monthlyBudgetUsd: 1500 }",
        "anthropic: { requestsPerMinute: 300, monthlyBudgetUsd: .inf }",
        ".inf",
        "spec.llm.gateway.limits.anthropic.monthlyBudgetUsd",
        f"{NOT_FINITE} infinity",
    ),
    Mistake(
        "a provider budget too large for a float (read as infinity)",
        RAG,
        "openai: { requestsPerMinute: 600, tokensPerMinute: 300000, monthlyBudgetUsd: 2000 }",
        "openai: { requestsPerMinute: 600, tokensPerMinute: 300000, monthlyBudgetUsd: 1e400 }",
        "1e400",
        "spec.llm.gateway.limits.openai.monthlyBudgetUsd",
        "a number too large for a float such as 1e400",
    ),
    Mistake(
        "a pipeline parameter of .nan is one error, not one per type a parameter may have",
        FRAUD,
        "parameters: { epochs: 20, learningRate: 0.001 }",
        "parameters: { epochs: 20, learningRate: .nan }",
        ".nan",
        "spec.pipelines.train.parameters.learningRate",
        f"{NOT_FINITE} not-a-number",
    ),
    Mistake(
        "a drift threshold of .nan is not 'at most 1.0'",
        FRAUD,
        "drift: { threshold: 0.2, method: psi }",
        "drift: { threshold: .nan, method: psi }",
        ".nan",
        "spec.monitoring.drift.threshold",
        f"{NOT_FINITE} not-a-number",
    ),
    Mistake(
        "a number longer than Python converts",
        FRAUD,
        "        max: 8\n",
        "        max: 1" + "0" * 5000 + "\n",
        "1000",
        "spec.compute.pools[0].max",
        "has 5001 digits, far more than any field holds: write the number the field needs",
    ),
    # --- characters that look like YAML's and are not ----------------------------------------------
    Mistake(
        "a fullwidth colon after a key (a CJK input method) is named where it is, not a line later",
        FRAUD,
        "      pool: gpu-train\n",
        "      pool\uff1a gpu-train\n",
        "\uff1a",
        "(document)",
        "this key ends with U+FF1A (fullwidth colon), which YAML does not read as the colon after a key",
    ),
    Mistake(
        "a ratio sign glued to the value is named too",
        RAG,
        "      image: tuning\n      pool: gpu-tune\n",
        "      image: tuning\n      pool\u2236gpu-tune\n",
        "\u2236",
        "(document)",
        "U+2236 (ratio), which YAML does not read as the colon after a key",
    ),
    Mistake(
        "an alert address with a Cyrillic letter names the letter, not just 'not an email address'",
        FRAUD,
        '      - { type: slack, target: "#fraud-ml-alerts" }',
        '      - { type: email, target: "ml@\u0430cme.example" }',
        '"ml@',
        "spec.monitoring.alerts[0].target",
        "is not an email address; character 4 is U+0430 (cyrillic small letter a), not ASCII: retype it",
    ),
    Mistake(
        "a webhook host spelt with a Cyrillic letter names the letter",
        FRAUD,
        '      - { type: slack, target: "#fraud-ml-alerts" }',
        '      - { type: webhook, target: "https://hooks.\u0430cme.example/alerts" }',
        '"https',
        "spec.monitoring.alerts[0].target",
        "character 15 is U+0430 (cyrillic small letter a), not ASCII: retype it",
    ),
    Mistake(
        "a Unicode hyphen in an admitted project's name names the character",
        "platform.yaml",
        "      fraud-detection:\n        repository",
        "      fraud\u2010detection:\n        repository",
        "fraud\u2010detection:",
        'spec.tenancy.projects["fraud\u2010detection"]',
        "character 6 is U+2010 (hyphen), not ASCII: retype it",
    ),
    # --- rollout ------------------------------------------------------------------------------------
    Mistake(
        "an A/B split sending everything to B reads as English",
        FRAUD,
        "rollout: { strategy: canary, percent: 10 }",
        "rollout: { strategy: ab, percent: 100 }",
        "100",
        "spec.serving.endpoints[0].rollout.percent",
        "an A/B (ab) rollout with percent 100 sends all traffic one way; use 1–99 or strategy `direct`",
    ),
    # --- the deployment pattern -------------------------------------------------------------------
    Mistake(
        "an environment that overrides the deployment pattern is one error, not also its consequences",
        FRAUD,
        PROD_OVERRIDE,
        "    prod:\n      deploymentPattern: deploy-models\n      compute:",
        "deploymentPattern: deploy-models",
        "spec.environments.prod.deploymentPattern",
        "`deploymentPattern` is the project's, not an environment's",
    ),
    Mistake(
        "a dev override back to deploy-code under deploy-models is one error too",
        RAG,
        "  repository: acme/rag-assistant\n",
        "  repository: acme/rag-assistant\n  deploymentPattern: deploy-models\n",
        "deploymentPattern: deploy-code",
        "spec.environments.dev.deploymentPattern",
        "this environment says deploy-code, the project deploy-models",
    ),
]
# The second pattern case also needs the dev override written.
DEV_OVERRIDE = ("    dev:\n      serving:", "    dev:\n      deploymentPattern: deploy-code\n      serving:")


def write_examples(root: Path, mistake: Mistake) -> Path:
    bundles = root / "bundles"
    examples.copy_to(bundles)
    target = bundles / mistake.file
    text = target.read_text(encoding="utf-8")
    assert mistake.old in text, f"{mistake.old!r} is not in {mistake.file}"
    text = text.replace(mistake.old, mistake.new, 1)
    if mistake.id.startswith("a dev override"):
        text = text.replace(*DEV_OVERRIDE, 1)
    target.write_text(text, encoding="utf-8")
    return target


def position(text: str, marker: str, after: str) -> tuple[int, int]:
    """Line and column (1-based) of `marker`, searched from where `after` starts."""
    index = text.index(marker, text.index(after.strip().splitlines()[0]))
    line = text.count("\n", 0, index) + 1
    return line, index - text.rfind("\n", 0, index)


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.id for m in MISTAKES])
def test_a_mistake_in_a_newer_field_is_reported_where_it_was_written_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mistake: Mistake
) -> None:
    monkeypatch.chdir(tmp_path)
    target = write_examples(tmp_path, mistake)
    text = target.read_text(encoding="utf-8")
    anchor = DEV_OVERRIDE[1] if mistake.id.startswith("a dev override") else mistake.new
    line, column = position(text, mistake.marker, anchor)
    result = CliRunner().invoke(cli, ["validate", "bundles"])
    output = result.output
    assert result.exit_code == 1, output
    assert "Traceback" not in output and "internal error" not in output
    expected = f"bundles/{mistake.file}:{line}:{column}: {mistake.path}: "
    lines = [entry.strip() for entry in output.splitlines() if entry.strip().startswith(f"bundles/{mistake.file}:")]
    assert any(entry.startswith(expected) and mistake.fragment in entry for entry in lines), output
    assert len(lines) == mistake.errors, output
