"""The checks inside `mlrig plan`: printed findings, the JSON `checks` key, exit codes. The platform
program is replaced by small stand-ins, one compliant and one not."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from mlrig import examples
from mlrig.plan.command import run_plan_command

PLATFORM = str(examples.path("platform.yaml"))
TAGS = {"project": "acme-ml", "environment": "dev", "team": "platform", "cost-center": "cc", "managed-by": "mlrig"}


def run(envs=("dev",), fmt="text", skip=()):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_plan_command(
        [PLATFORM],
        list(envs),
        fmt,
        None,
        stdout=Console(file=stdout, width=200, soft_wrap=True),
        stderr=Console(file=stderr, width=200, soft_wrap=True),
        skip_checks=list(skip),
    )
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def platform_program(monkeypatch):
    """`compliant=True`: an encrypted queue through a tagged provider; else a bare bucket."""
    import pulumi
    import pulumi_aws as aws

    import mlrig.platform.stack as platform_stack

    def program(compliant: bool):
        def deploy(platform, environment, settings=None):
            if compliant:
                provider = aws.Provider("aws", region="us-east-1", default_tags={"tags": TAGS})
                aws.sqs.Queue("queue", sqs_managed_sse_enabled=True, opts=pulumi.ResourceOptions(provider=provider))
            else:
                # destroyable (MLRIG-DEP-012), so the findings are the three below
                aws.s3.Bucket("state", bucket=f"{environment.stack}-state", force_destroy=True)

        monkeypatch.setattr(platform_stack, "deploy_platform", deploy)

    return program


def test_a_mandatory_finding_is_printed_with_its_resource_urn_and_fix_and_exits_1(platform_program):
    platform_program(compliant=False)
    code, out, _ = run()
    assert code == 1
    assert "✗ MLRIG-SEC-001 [mandatory] acme-ml.dev state (aws:s3/bucket:Bucket): bucket state has no SSE-KMS" in out
    assert "    fix: add a BucketServerSideEncryptionConfiguration" in out
    assert "    urn: urn:pulumi:acme-ml.dev::mlrig::pulumi:pulumi:Stack$aws:s3/bucket:Bucket::state" in out
    assert out.rstrip().splitlines()[-1].startswith("Checks: 3 finding(s), 3 mandatory")


def test_json_adds_the_findings_under_each_environment(platform_program):
    platform_program(compliant=False)
    code, out, err = run(fmt="json")
    checks = json.loads(out)["environments"]["dev"]["checks"]
    assert code == 1 and sorted(f["id"] for f in checks) == ["MLRIG-SEC-001", "MLRIG-SEC-002", "MLRIG-SEC-004"]
    assert set(checks[0]) == {"id", "name", "enforcement", "urn", "resource", "type", "message", "hint"}
    assert "MLRIG-SEC-002" in err  # findings go to stderr beside JSON on stdout


def test_a_compliant_stack_passes_and_exits_0(platform_program):
    platform_program(compliant=True)
    code, out, _ = run()
    assert code == 0, out
    assert out.rstrip().splitlines()[-1] == "Checks: every stack passes every check"


def test_skipped_checks_do_not_run(platform_program):
    platform_program(compliant=False)
    code, out, _ = run(fmt="json", skip=["MLRIG-SEC-001", "MLRIG-SEC-002", "MLRIG-SEC-004"])
    assert code == 0 and json.loads(out)["environments"]["dev"]["checks"] == []


def test_an_unknown_check_id_is_a_usage_error():
    code, _, err = run(skip=["MLRIG-DEP-999"])
    assert code == 2 and "unknown check id MLRIG-DEP-999" in err
