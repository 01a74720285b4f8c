"""Mistakes a newcomer makes writing bundles from the README and the bundle reference, each as
`mlrig validate` reports it: exit code, the file, line and column the user wrote, and a message
that says what to do.

The repository below is a platform team's first one and two ML teams' first projects, written
from the docs; every case breaks it the way people do (a typo, a tab, a pasted no-break space, a
number with a unit, a YAML 1.1 surprise), and expects one error per cause where the user can act.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlrig.bundle.validate import validate_paths
from mlrig.cli import cli

PLATFORM = """\
# yaml-language-server: $schema=../schemas/bundle.schema.json
apiVersion: mlrig/v1
kind: Platform
metadata:
  name: globex-ml
  owners: ["@globex/platform"]
spec:
  isolation: account
  state:
    backend: "s3://globex-pulumi-state"
  github:
    organization: globex
    prodApprovers: ["@globex/platform-leads"]
  tenancy:
    projects:
      churn:
        repository: globex/churn
        principals:
          - arn:aws:iam::111111111111:role/churn-ds
        prodApprovers: ["@globex/churn-leads"]
      recsys:
        repository: globex/recsys
        prodApprovers: ["@globex/recsys-leads"]
  environments:
    dev:
      tier: dev
      account: "111111111111"
      region: eu-west-1
    staging:
      tier: staging
      account: "222222222222"
      region: eu-west-1
    prod:
      tier: prod
      account: "333333333333"
      region: eu-west-1
"""

CHURN = """\
# yaml-language-server: $schema=../schemas/bundle.schema.json
apiVersion: mlrig/v1
kind: Project
metadata:
  name: churn
  team: growth
  owners: ["@globex/churn"]
  costCenter: cc-42
spec:
  platform: globex-ml
  repository: globex/churn
  access:
    dataScientists:
      - arn:aws:iam::111111111111:role/churn-ds
  registries: [training, serving]
  compute:
    pools:
      - name: cpu
        instanceTypes: [m6i.2xlarge]
        max: 4
      - name: gpu-train
        instanceTypes: [g5.2xlarge]
        gpu: { count: 1 }
        capacity: spot
        max: 2
  pipelines:
    features:
      type: feature-refresh
      image: training
      pool: cpu
    train:
      type: training
      schedule: "0 3 * * 0"
      image: training
      pool: gpu-train
      resources: { cpu: "4", memory: 16Gi, gpu: 1 }
  serving:
    endpoints:
      - name: scorer
        image: serving
        pool: cpu
        rollout: { strategy: canary, percent: 10 }
  monitoring:
    drift: { threshold: 0.2 }
    retrainOnDrift: true
  ci:
    prodApprovers: ["@globex/churn-leads"]
  environments:
    prod:
      compute:
        pools:
          - name: gpu-train
            max: 8
"""

RECSYS = """\
apiVersion: mlrig/v1
kind: Project
metadata: { name: recsys }
spec:
  platform: globex-ml
  repository: globex/recsys
"""

FILES = {"platform.yaml": PLATFORM, "churn.yaml": CHURN, "recsys.yaml": RECSYS}


@dataclass(frozen=True)
class Mistake:
    """`old` replaced by `new` in `file` (or, with `old` empty, `file` written as `new`; with
    `new` None, removed); `mlrig validate` then reports `where` (`file:line:column`) with
    `fragment` in the message, and `errors` errors in the file of `where`."""

    id: str
    file: str
    old: str
    new: str | None
    where: str
    fragment: str
    errors: int = 1


def write_repository(root: Path, file: str = "", old: str = "", new: str | None = "") -> Path:
    bundles = root / "bundles"
    bundles.mkdir(parents=True)
    for name, text in FILES.items():
        (bundles / name).write_text(text, encoding="utf-8")
    if file and new is None:
        (bundles / file).unlink()
    elif file and not old:
        (bundles / file).write_text(new or "", encoding="utf-8")
    elif file:
        text = (bundles / file).read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in {file}"
        (bundles / file).write_text(text.replace(old, new or "", 1), encoding="utf-8", newline="")
    return bundles


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_newcomer_repository_is_valid(repository: Path):
    write_repository(repository)
    result = validate_paths(["bundles"])
    assert result.valid, [d.text() for d in result.diagnostics]


MISTAKES = [
    # --- YAML a newcomer gets wrong ---
    Mistake("tab", "churn.yaml", "    dataScientists:", "\tdataScientists:", "churn.yaml:13:1", "indent with spaces"),
    Mistake(
        "no-break space pasted into the indentation",
        "churn.yaml",
        "    dataScientists:",
        "\u00a0   dataScientists:",
        "churn.yaml:13:1",
        "U+00A0 (no-break space), which YAML does not read as a space",
    ),
    Mistake(
        "unquoted team handle",
        "churn.yaml",
        'owners: ["@globex/churn"]',
        "owners: [@globex/churn]",
        "churn.yaml:7:12",
        'must be quoted, as in "@acme/ml-leads"',
    ),
    Mistake(
        "unquoted @daily",
        "churn.yaml",
        'schedule: "0 3 * * 0"',
        "schedule: @daily",
        "churn.yaml:33:17",
        "must be quoted",
    ),
    Mistake(
        "unquoted cron starting with a star",
        "churn.yaml",
        'schedule: "0 3 * * 0"',
        "schedule: */5 * * * *",
        "churn.yaml:33:18",
        "a value that starts with * is read as an alias: quote it",
    ),
    Mistake(
        "no space after a key's colon",
        "recsys.yaml",
        "  platform: globex-ml",
        "  platform:globex-ml",
        "recsys.yaml:5:11",
        "a key needs a space after its colon: write `platform: globex-ml`",
    ),
    Mistake(
        "no space after a key's colon on the last line",
        "recsys.yaml",
        "  repository: globex/recsys",
        "  repository:globex/recsys",
        "recsys.yaml:6:13",
        "write `repository: globex/recsys`",
    ),
    Mistake(
        "a value holding a colon",
        "recsys.yaml",
        "metadata: { name: recsys }",
        "metadata:\n  name: recsys\n  description: Recs: the ranking model",
        "recsys.yaml:5:20",
        "quote a value that holds ': '",
    ),
    Mistake(
        "a key indented one space too far",
        "churn.yaml",
        "        instanceTypes: [m6i.2xlarge]",
        "         instanceTypes: [m6i.2xlarge]",
        "churn.yaml:19:23",
        "line up the keys of one mapping",
    ),
    Mistake(
        "no space after a list dash",
        "churn.yaml",
        "      - arn:aws:iam::111111111111:role/churn-ds",
        "      -arn:aws:iam::111111111111:role/churn-ds",
        "churn.yaml:14:7",
        "a list item needs a space after its dash",
    ),
    Mistake(
        "a template left in",
        "churn.yaml",
        "costCenter: cc-42",
        "costCenter: {{ cost_center }}",
        "churn.yaml:8:16",
        "mlrig does not expand templates",
    ),
    Mistake(
        "a Kubernetes manifest among the bundles",
        "deployment.yaml",
        "",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\nspec: {}\n",
        "deployment.yaml:1:13",
        "not an mlrig bundle (apiVersion 'apps/v1', kind 'Deployment')",
    ),
    Mistake(
        "an unclosed quote",
        "churn.yaml",
        "costCenter: cc-42",
        'costCenter: "cc-42',
        "churn.yaml:8:15",
        "the quoted value that starts here is not closed on its line, so it runs on to line 33",
    ),
    Mistake(
        "an unclosed bracket",
        "churn.yaml",
        "registries: [training, serving]",
        "registries: [training, serving",
        "churn.yaml:15:15",
        "this [ is not closed (YAML found no ',' or ']' up to line 16 column 10); close it with ]",
    ),
    Mistake(
        "a colon inside braces",
        "recsys.yaml",
        "metadata: { name: recsys }",
        "metadata: { name: recsys, description: Recs: ranking }",
        "recsys.yaml:3:44",
        "or quote a value inside it that holds ': ' or ','",
    ),
    Mistake(
        "a docker-compose file among the bundles",
        "docker-compose.yaml",
        "",
        "services: { web: { image: nginx } }\n",
        "docker-compose.yaml:1:1",
        "missing apiVersion and kind: a bundle starts with `apiVersion: mlrig/v1`",
    ),
    Mistake("empty file", "recsys.yaml", "", "", "recsys.yaml:1:1", "the file is empty"),
    Mistake("only comments", "recsys.yaml", "", "# TODO: write the bundle\n", "recsys.yaml:1:1", "the file is empty"),
    Mistake(
        "two documents",
        "recsys.yaml",
        "",
        RECSYS + "---\napiVersion: mlrig/v1\n",
        "recsys.yaml:7:1",
        "more than one YAML document",
    ),
    Mistake(
        "a key written twice",
        "churn.yaml",
        "  registries: [training, serving]",
        "  registries: [training, serving]\n  registries: [serving]",
        "churn.yaml:16:3",
        "duplicate key 'registries' (first defined on line 15)",
    ),
    # --- keys ---
    Mistake("top-level key typo", "churn.yaml", "metadata:", "metdata:", "churn.yaml:4:1", "did you mean 'metadata'"),
    Mistake(
        "required key misspelt", "platform.yaml", "      tier: dev", "      teir: dev", "platform.yaml:26:7", "'tier'"
    ),
    Mistake(
        "required list-item key misspelt",
        "churn.yaml",
        "      - name: cpu",
        "      - nmae: cpu",
        "churn.yaml:18:9",
        "'name'",
    ),
    Mistake("snake_case key", "churn.yaml", "  costCenter:", "  cost_center:", "churn.yaml:8:3", "'costCenter'"),
    Mistake(
        "kebab-case key",
        "churn.yaml",
        "    retrainOnDrift:",
        "    retrain-on-drift:",
        "churn.yaml:45:5",
        "'retrainOnDrift'",
    ),
    Mistake(
        "PascalCase key",
        "churn.yaml",
        "    dataScientists:",
        "    DataScientists:",
        "churn.yaml:13:5",
        "'dataScientists'",
    ),
    Mistake("deep key typo", "churn.yaml", "        rollout: {", "        rolout: {", "churn.yaml:42:9", "'rollout'"),
    Mistake(
        "key typo in an override",
        "churn.yaml",
        "            max: 8",
        "            maxx: 8",
        "churn.yaml:53:13",
        "'max'",
    ),
    Mistake(
        "a Cyrillic letter in a key",
        "churn.yaml",
        "  team: growth",
        "  te\u0430m: growth",
        "churn.yaml:6:3",
        "(did you mean 'team'?); character 3 is U+0430 (cyrillic small letter a)",
    ),
    # --- values of the wrong type ---
    Mistake(
        "a quoted number", "churn.yaml", "        max: 4", "        max: '4'", "churn.yaml:20:14", "remove the quotes"
    ),
    Mistake(
        "a size with its unit",
        "churn.yaml",
        "        max: 4",
        "        max: 4\n        diskGiB: 200Gi",
        "churn.yaml:21:18",
        "write the number alone (200)",
    ),
    Mistake(
        "a percentage with a percent sign",
        "churn.yaml",
        "percent: 10 }",
        "percent: 10% }",
        "churn.yaml:42:47",
        "write the number alone (10)",
    ),
    Mistake(
        "an hour written as a time",
        "churn.yaml",
        "        rollout: { strategy: canary, percent: 10 }",
        "        rollout: { strategy: canary, percent: 10 }\n"
        "        autoscaling: { minReplicas: 0, awakeHoursUtc: { start: 8:00, end: 18 } }",
        "churn.yaml:43:64",
        "expected an integer, got a string '8:00'",
    ),
    Mistake(
        "an unquoted account id",
        "platform.yaml",
        'account: "111111111111"',
        "account: 111111111111",
        "platform.yaml:27:16",
        "quote it to make it a string",
    ),
    Mistake(
        "memory without a unit",
        "churn.yaml",
        "memory: 16Gi",
        "memory: 16",
        "churn.yaml:36:38",
        "quote it to make it a string",
    ),
    Mistake(
        "no read as a boolean",
        "churn.yaml",
        "registries: [training, serving]",
        "registries: [training, no]",
        "churn.yaml:15:26",
        "got a boolean false; quote it to make it a string (YAML reads unquoted yes, no",
    ),
    Mistake(
        "infinity for a count",
        "churn.yaml",
        "        max: 4",
        "        max: .inf",
        "churn.yaml:20:14",
        "expected an integer",
    ),
    Mistake(
        "a list where a mapping goes",
        "churn.yaml",
        "  ci:\n    prodApprovers",
        "  ci:\n    - prodApprovers",
        "churn.yaml:47:5",
        "expected a mapping, got a list",
    ),
    Mistake(
        "a mapping where a list goes",
        "churn.yaml",
        "registries: [training, serving]",
        "registries: { training: 1 }",
        "churn.yaml:15:15",
        "expected a list, got a mapping",
    ),
    Mistake(
        "one owner without a list",
        "churn.yaml",
        'owners: ["@globex/churn"]',
        'owners: "@globex/churn"',
        "churn.yaml:7:11",
        "expected a list, got a string",
    ),
    Mistake(
        "a comma-separated string for a list",
        "churn.yaml",
        "registries: [training, serving]",
        "registries: training, serving",
        "churn.yaml:15:15",
        "write a list, even of one item: [training, serving]",
    ),
    Mistake(
        "pools written as a mapping by name",
        "churn.yaml",
        "    pools:\n      - name: cpu\n        instanceTypes: [m6i.2xlarge]\n        max: 4\n      - name: gpu-train\n",
        "    pools:\n      cpu:\n        instanceTypes: [m6i.2xlarge]\n        max: 4\n      gpu-train:\n",
        "churn.yaml:18:7",
        "spec.compute.pools: expected a list, got a mapping",  # and no error for each pool it names
    ),
    Mistake(
        "a nested mapping as a pipeline parameter",
        "churn.yaml",
        "      pool: cpu\n    train",
        "      pool: cpu\n      parameters: { opts: { lr: 1 } }\n    train",
        "churn.yaml:31:27",
        "spec.pipelines.features.parameters.opts: expected a string, an integer, a number or true or false, got a mapping",
    ),
    Mistake(
        "a Quartz cron",
        "churn.yaml",
        '"0 3 * * 0"',
        '"0 3 L * *"',
        "churn.yaml:33:17",
        "day-of-month 'L' is not cron syntax Argo Workflows reads",
    ),
    Mistake(
        "a GPU count where the gpu block goes",
        "churn.yaml",
        "gpu: { count: 1 }",
        "gpu: 1",
        "churn.yaml:23:14",
        'expected a mapping, got a number 1; for example {"count": 1}',  # and no error for the pool's GPU pipeline
    ),
    Mistake(
        "an add-on switched off as a boolean",
        "platform.yaml",
        "  tenancy:",
        "  cluster: { addons: { kserve: false } }\n  tenancy:",
        "platform.yaml:14:32",
        'expected a mapping, got a boolean false; for example {"enabled": true}',
    ),
    Mistake(
        "an unquoted Python version",
        "churn.yaml",
        '    prodApprovers: ["@globex/churn-leads"]',
        '    prodApprovers: ["@globex/churn-leads"]\n    pythonVersion: 3.10',
        "churn.yaml:48:20",
        "got a number 3.1; quote it to make it a string (YAML reads unquoted 3.10 as the number 3.1)",
    ),
    Mistake(
        "an email alert that is no address",
        "churn.yaml",
        "    retrainOnDrift: true",
        "    retrainOnDrift: true\n    alerts: [{ type: email, target: not-an-email }]",
        "churn.yaml:46:37",
        "email target 'not-an-email' is not an email address",  # once, not once per environment
    ),
    Mistake("a key left empty", "churn.yaml", "  platform: globex-ml", "  platform:", "churn.yaml:10:12", "got null"),
    # --- values that are not allowed ---
    Mistake(
        "a Cyrillic letter in a name",
        "churn.yaml",
        "  name: churn",
        "  name: churn\u0430",
        "churn.yaml:5:9",
        "character 6 is U+0430 (cyrillic small letter a), not ASCII",
    ),
    Mistake(
        "curly quotes pasted from a document",
        "churn.yaml",
        'owners: ["@globex/churn"]',
        "owners: [\u201c@globex/churn\u201d]",
        "churn.yaml:7:12",
        "U+201C (left double quotation mark)",
    ),
    Mistake(
        "tier spelt out", "platform.yaml", "      tier: dev", "      tier: development", "platform.yaml:26:13", "'dev'"
    ),
    Mistake(
        "isolation plural",
        "platform.yaml",
        "isolation: account",
        "isolation: accounts",
        "platform.yaml:8:14",
        "'account'",
    ),
    Mistake("kind in lower case", "recsys.yaml", "kind: Project", "kind: project", "recsys.yaml:2:7", "'Project'"),
    Mistake(
        "a name with an underscore", "recsys.yaml", "name: recsys", "name: rec_sys", "recsys.yaml:3:19", "a DNS label"
    ),
    Mistake(
        "an 11-digit account", "platform.yaml", '"111111111111"', '"11111111111"', "platform.yaml:27:16", "12-digit"
    ),
    Mistake(
        "a repository URL",
        "recsys.yaml",
        "repository: globex/recsys",
        "repository: https://github.com/globex/recsys",
        "recsys.yaml:6:15",
        "as org/name",
    ),
    Mistake(
        "a principal that is not an ARN",
        "churn.yaml",
        "      - arn:aws:iam::111111111111:role/churn-ds",
        "      - churn-ds",
        "churn.yaml:14:9",
        "is not an IAM user or role ARN",
    ),
    Mistake(
        "memory in gigabytes",
        "churn.yaml",
        "memory: 16Gi",
        "memory: 16GB",
        "churn.yaml:36:38",
        "'16GB' is not a Kubernetes memory quantity such as 8Gi (did you mean '16Gi'? units are case-sensitive)",
    ),
    Mistake(
        "a session ARN copied from get-caller-identity",
        "churn.yaml",
        "      - arn:aws:iam::111111111111:role/churn-ds",
        "      - arn:aws:sts::111111111111:assumed-role/churn-ds/alice",
        "churn.yaml:14:9",
        "name the role, 'arn:aws:iam::111111111111:role/churn-ds'",
    ),
    Mistake(
        "a trailing space inside quotes",
        "churn.yaml",
        "      - arn:aws:iam::111111111111:role/churn-ds",
        '      - "arn:aws:iam::111111111111:role/churn-ds "',
        "churn.yaml:14:9",
        "it starts or ends with a space: remove it",
    ),
    # --- semantic rules ---
    Mistake("a 4-field cron", "churn.yaml", '"0 3 * * 0"', '"0 3 * *"', "churn.yaml:33:17", "has 4 fields"),
    Mistake("hour 24", "churn.yaml", '"0 3 * * 0"', '"0 24 * * 0"', "churn.yaml:33:17", "hour 24 is out of range"),
    Mistake(
        "an unknown pool", "churn.yaml", "pool: gpu-train\n", "pool: gpu-trian\n", "churn.yaml:35:13", "'gpu-train'"
    ),
    Mistake(
        "an unknown registry", "churn.yaml", "image: training\n", "image: trainer\n", "churn.yaml:29:14", "'training'"
    ),
    Mistake(
        "a GPU pool of CPU instances",
        "churn.yaml",
        "instanceTypes: [g5.2xlarge]",
        "instanceTypes: [m6i.2xlarge]",
        "churn.yaml:22:25",
        "is not a GPU instance type",
    ),
    Mistake(
        "an instance type typo",
        "churn.yaml",
        "instanceTypes: [m6i.2xlarge]",
        "instanceTypes: [m6i.2xlarg]",
        "churn.yaml:19:25",
        "'m6i.2xlarge'",
    ),
    Mistake(
        "an override of an unknown environment",
        "churn.yaml",
        "    prod:\n      compute:",
        "    production:\n      compute:",
        "churn.yaml:49:5",
        "(did you mean 'prod'?)",
    ),
    Mistake(
        "an override that makes the base invalid",
        "churn.yaml",
        "            max: 8",
        "            max: 8\n            min: 10",
        "churn.yaml:54:18",
        "in environment prod: min (10) is greater than max (8)",
    ),
    Mistake(
        "platform in an override",
        "churn.yaml",
        "    prod:\n      compute:",
        "    prod:\n      platform: other\n      compute:",
        "churn.yaml:50:7",
        "set it once under `spec`",
    ),
    Mistake(
        "an unknown platform",
        "recsys.yaml",
        "platform: globex-ml",
        "platform: globex",
        "recsys.yaml:5:13",
        "'globex-ml'",
    ),
    Mistake(
        "a project the platform does not admit",
        "fraud.yaml",
        "",
        RECSYS.replace("recsys", "fraud"),
        "fraud.yaml:3:19",
        "is not admitted by platform 'globex-ml'",
    ),
    Mistake(
        "an admission under a misspelt name",
        "platform.yaml",
        "      churn:\n",
        "      chrun:\n",
        "churn.yaml:5:9",
        "is not admitted by platform 'globex-ml' (it admits 'chrun': if that is this project misspelt, rename it in "
        "bundles/platform.yaml:16:7 spec.tenancy.projects.chrun)",
    ),
    Mistake(
        "a principal the platform does not admit",
        "churn.yaml",
        "role/churn-ds",
        "role/other",
        "churn.yaml:14:9",
        "is not admitted for this project",
    ),
    Mistake(
        "a repository of another organisation",
        "recsys.yaml",
        "repository: globex/recsys",
        "repository: initech/recsys",
        "recsys.yaml:6:15",
        "not one of the platform's GitHub organisations",
        errors=2,
    ),
    Mistake(
        "the same account twice",
        "platform.yaml",
        'account: "222222222222"',
        'account: "111111111111"',
        "platform.yaml:31:16",
        "also used by environment 'dev'",
    ),
    Mistake(
        "an account per environment without account isolation",
        "platform.yaml",
        "isolation: account",
        "isolation: cluster",
        "platform.yaml:8:14",
        "3 different accounts (dev: 111111111111; staging: 222222222222; prod: 333333333333)",
    ),
    Mistake(
        "two prod tiers", "platform.yaml", "tier: staging", "tier: prod", "platform.yaml:34:13", "more than one prod"
    ),
    Mistake(
        "a platform without environments",
        "platform.yaml",
        "",
        PLATFORM.split("  environments:")[0] + "  environments: {}\n",
        "platform.yaml:24:17",
        'needs at least 1 entry(ies); for example {"dev": {"region": "us-east-1", "tier": "dev"}}',
    ),
]


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.id for m in MISTAKES])
def test_a_newcomer_mistake_is_reported_where_it_was_written_with_what_to_do(repository: Path, mistake: Mistake):
    write_repository(repository, mistake.file, mistake.old, mistake.new)
    result = validate_paths(["bundles"])
    assert not result.valid
    file = f"bundles/{mistake.where.split(':')[0]}"  # usually the file the mistake is in
    errors = [d for d in result.diagnostics if d.file == file]
    found = [d.text() for d in errors if f"{d.file}:{d.line}:{d.column}" == f"bundles/{mistake.where}"]
    assert any(mistake.fragment in text for text in found), [d.text() for d in result.diagnostics]
    assert len(errors) == mistake.errors, [d.text() for d in errors]


def test_a_number_with_a_unit_is_not_told_to_lose_quotes_it_does_not_have(repository: Path):
    write_repository(repository, "churn.yaml", "        max: 4", "        max: 4x")
    (error,) = validate_paths(["bundles"]).diagnostics
    assert "got a string '4x'" in error.message and "quotes" not in error.message


ACCEPTED = [
    ("a byte order mark", "recsys.yaml", "apiVersion", "\ufeffapiVersion"),
    ("a document start marker", "recsys.yaml", "apiVersion", "---\napiVersion"),
    (
        "an hour with a leading zero",
        "churn.yaml",
        "percent: 10 }",
        "percent: 10 }\n        autoscaling: { minReplicas: 0, awakeHoursUtc: { start: 08, end: 18 } }",
    ),
    ("an exponent without a dot", "churn.yaml", "threshold: 0.2", "threshold: 2e-1"),
]


@pytest.mark.parametrize(("file", "old", "new"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_what_yaml_1_2_and_editors_accept_mlrig_accepts(repository: Path, file: str, old: str, new: str):
    write_repository(repository, file, old, new)
    result = validate_paths(["bundles"])
    assert result.valid, [d.text() for d in result.diagnostics]


def test_windows_line_endings_keep_lines_and_columns(repository: Path):
    bundles = write_repository(repository)
    text = CHURN.replace("        max: 4", "        max: '4'").replace("\n", "\r\n")
    (bundles / "churn.yaml").write_bytes(text.encode())
    (error,) = validate_paths(["bundles"]).diagnostics
    assert (error.line, error.column) == (20, 14)


# --- a platform with a syntax error: its projects wait for it -----------------------------------

BROKEN_PLATFORM = ("platform.yaml", "      tier: dev", "      tier:dev")


def test_projects_of_a_platform_that_does_not_load_wait_for_it_instead_of_missing_it(repository: Path):
    write_repository(repository, *BROKEN_PLATFORM)
    result = validate_paths(["bundles"])
    (error,) = result.diagnostics
    assert error.text().startswith("bundles/platform.yaml:26:11: (document): YAML syntax error: a key needs")
    assert {r.file: r.blocked_by for r in result.blocked} == {
        "bundles/churn.yaml": "bundles/platform.yaml",
        "bundles/recsys.yaml": "bundles/platform.yaml",
    }


def test_validating_one_project_of_a_broken_platform_says_which_file_to_fix(repository: Path):
    write_repository(repository, *BROKEN_PLATFORM)
    result = CliRunner().invoke(cli, ["validate", "bundles/churn.yaml"])
    assert result.exit_code == 1
    assert "once bundles/platform.yaml is valid" in result.output
    assert (
        "1 of 1 bundle(s) not checked: fix their platform first (mlrig validate bundles/platform.yaml)" in result.output
    )
    assert "0 error(s)" not in result.output


def test_planning_a_project_of_a_broken_platform_says_which_file_to_fix_and_writes_nothing(repository: Path):
    write_repository(repository, *BROKEN_PLATFORM)
    result = CliRunner().invoke(cli, ["plan", "bundles/churn.yaml", "--out", "plan.json"])
    assert result.exit_code == 1
    assert "nothing planned: the platform bundle bundles/platform.yaml is invalid" in result.output
    assert "0 error(s)" not in result.output and not (repository / "plan.json").exists()


def test_a_neighbouring_bundle_is_cited_by_the_path_the_user_types(repository: Path):
    write_repository(repository, "recsys.yaml", "repository: globex/recsys", "repository: globex/recsys2")
    (error,) = validate_paths(["bundles/recsys.yaml"]).diagnostics
    assert " bundles/platform.yaml:22:9 spec.tenancy.projects.recsys.repository)" in error.message


def test_planning_an_environment_that_does_not_exist_suggests_the_one_meant(repository: Path):
    write_repository(repository)
    result = CliRunner().invoke(cli, ["plan", "bundles/recsys.yaml", "--env", "production"])
    assert result.exit_code == 1
    assert (
        "has no environment 'production'; its environments: dev, staging, prod (did you mean 'prod'?)" in result.output
    )


def test_plan_out_below_a_file_or_in_a_read_only_directory_fails_before_planning(
    repository: Path, monkeypatch: pytest.MonkeyPatch
):
    write_repository(repository)
    (repository / "notes").write_text("not a directory\n")
    result = CliRunner().invoke(cli, ["plan", "bundles/recsys.yaml", "--out", "notes/plan.json"])
    assert result.exit_code == 2 and "cannot write notes/plan.json: notes is a file, not a directory" in result.output
    (repository / "readonly").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p).name != "readonly" and real_access(p, mode))
    result = CliRunner().invoke(cli, ["plan", "bundles/recsys.yaml", "--out", "readonly/plan.json"])
    assert result.exit_code == 2 and "directory readonly is not writable" in result.output
    assert "Planned" not in result.output and not (repository / "readonly" / "plan.json").exists()


def test_a_platform_file_named_otherwise_that_does_not_load_is_still_the_one_projects_wait_for(repository: Path):
    bundles = write_repository(repository, "platform.yaml", "", None)
    (bundles / "globex.yaml").write_text(PLATFORM.replace("      tier: dev", "      tier:dev"), encoding="utf-8")
    result = validate_paths(["bundles"])
    assert [d.file for d in result.diagnostics] == ["bundles/globex.yaml"]
    assert {r.blocked_by for r in result.blocked} == {"bundles/globex.yaml"}


def test_a_link_out_of_the_bundles_is_never_read_to_guess_a_missing_platform(repository: Path, tmp_path: Path):
    bundles = write_repository(repository, "platform.yaml", "", None)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text(PLATFORM, encoding="utf-8")
    (bundles / "platform.yaml").symlink_to(outside)
    result = validate_paths(["bundles"])
    assert not result.blocked
    assert any("not defined by any bundle" in d.message for d in result.diagnostics)


def test_validate_and_plan_outside_a_platform_repository_say_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    for command in (["validate"], ["plan"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2
        assert "no bundles/ directory in" in result.output and "mlrig init platform" in result.output


def test_a_hostile_bundle_name_reaches_the_text_header_escaped(repository: Path):
    write_repository(repository, "recsys.yaml", "name: recsys", 'name: "x\\n::warning title=pwned::injected\\e[2K"')
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert "(Project x\\n::warning title=pwned::injected\\x1b[2K)" in result.output
    assert not any(line.startswith("::") for line in result.output.splitlines())
    assert "\x1b" not in result.output


def test_the_real_command_exits_1_with_every_file_line_and_column_and_no_traceback(repository: Path):
    bundles = write_repository(repository, "churn.yaml", "    dataScientists:", "\u00a0   dataScientists:")
    text = (bundles / "recsys.yaml").read_text(encoding="utf-8")
    (bundles / "recsys.yaml").write_text(text.replace("  platform: globex-ml", "  platfrom: globex-ml"))
    (bundles / "docker-compose.yaml").write_text("services: { web: { image: nginx } }\n")
    done = subprocess.run(
        [sys.executable, "-m", "mlrig.cli", "validate"], cwd=repository, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stdout + done.stderr
    for where in ("bundles/churn.yaml:13:1:", "bundles/recsys.yaml:5:3:", "bundles/docker-compose.yaml:1:1:"):
        assert where in done.stdout, done.stdout
    assert "Traceback" not in done.stderr and "internal error" not in done.stdout + done.stderr


def test_a_bundle_file_with_an_upper_case_suffix_is_an_error_not_left_out_silently(tmp_path: Path) -> None:
    """Commands find bundles by `.yaml`/`.yml`: a `team.YAML` would never be validated or deployed."""
    from mlrig import examples
    from mlrig.bundle.validate import validate_paths

    bundles = examples.copy_to(tmp_path / "bundles")
    (bundles / "fraud-detection.yaml").rename(bundles / "fraud-detection.YAML")
    result = validate_paths([bundles])
    assert not result.valid
    [error] = [d for d in result.diagnostics if d.file.endswith("fraud-detection.YAML")]
    assert (error.line, error.column, error.path) == (1, 1, "(document)")
    assert "rename it to fraud-detection.yaml" in error.message
