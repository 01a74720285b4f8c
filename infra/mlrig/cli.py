"""The `mlrig` command line (DESIGN §5): validate, plan, generate, affected, schema, bootstrap.

Exit codes: 0 success, 1 invalid input or failed check, 2 usage or I/O error. No command ever
shows a Python traceback to a user; set MLRIG_DEBUG=1 to see one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from . import console
from .bundle.diagnostics import BundleError, Diagnostic
from .bundle.validate import UsageError, ValidationResult, validate_paths

stdout = Console(soft_wrap=True, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


class MlrigGroup(click.Group):
    """Maps every failure to a clear message and the contract's exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(2)
        except click.exceptions.Abort:
            stderr.print("aborted")
            sys.exit(130)
        except UsageError as error:
            stderr.print(f"[red]error:[/] {escape(str(error))}", markup=True)
            sys.exit(2)
        except BundleError as error:
            print_diagnostics(error.diagnostics)
            sys.exit(1)
        except OSError as error:
            stderr.print(
                f"[red]error:[/] {escape(str(error.filename or ''))}: {escape(str(error.strerror or error))}",
                markup=True,
            )
            sys.exit(2)
        except KeyboardInterrupt:
            stderr.print("interrupted")
            sys.exit(130)
        except Exception as error:  # never a traceback for users
            if os.environ.get("MLRIG_DEBUG"):
                raise
            stderr.print(f"[red]internal error:[/] {type(error).__name__}: {escape(str(error))}", markup=True)
            stderr.print("This is a bug in mlrig; rerun with MLRIG_DEBUG=1 for details and report it.")
            sys.exit(1)


def print_diagnostics(diagnostics: Sequence[Diagnostic]) -> None:
    console.print_diagnostics(stderr, diagnostics)


def fail(message: str, code: int = 1) -> NoReturn:
    stderr.print(f"[red]error:[/] {escape(message)}", markup=True)
    sys.exit(code)


@click.group(cls=MlrigGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlrig")
def cli() -> None:
    """mlrig: one YAML bundle per team becomes a complete, isolated, audited MLOps platform."""


# --- validate ------------------------------------------------------------------------------------


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_escape(text).replace(":", "%3A").replace(",", "%2C")


def render_validation(result: ValidationResult, fmt: str) -> None:
    reports = [r for r in result.reports if not r.context]
    if fmt == "json":
        payload = {"valid": result.valid, "files": [r.as_dict() for r in reports]}
        click.echo(json.dumps(payload, indent=2))
        return
    if fmt == "github":
        for report in reports:
            for d in sorted(report.diagnostics):
                click.echo(
                    f"::error file={_github_property(d.file)},line={d.line},col={d.column},"
                    f"title={_github_property('mlrig: ' + d.path)}::{_github_escape(d.message)}"
                )
        click.echo(f"{sum(r.valid for r in reports)} of {len(reports)} bundle(s) valid")
        return
    for report in reports:
        label = escape(f"{report.kind or '?'} {report.name or ''}".strip())
        file = escape(report.file)
        if report.valid:
            stdout.print(f"[green]✓[/] {file} ({label})", markup=True)
        else:
            stdout.print(f"[red]✗[/] {file} ({label}): {len(report.diagnostics)} error(s)", markup=True)
            for d in sorted(report.diagnostics):
                stdout.print(
                    f"    [bold]{escape(d.file)}:{d.line}:{d.column}[/] [cyan]{escape(d.path)}[/]: {escape(d.message)}",
                    markup=True,
                )
    errors = sum(len(r.diagnostics) for r in reports)
    if result.valid:
        stdout.print(f"[green]{len(reports)} bundle(s) valid[/]", markup=True)
    else:
        stdout.print(
            f"[red]{errors} error(s) in {sum(not r.valid for r in reports)} of {len(reports)} bundle(s)[/]", markup=True
        )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Validate bundle files and directories (default: bundles/). Exit 0 valid, 1 invalid, 2 usage error."""
    result = validate_paths(list(paths) or ["bundles"])
    render_validation(result, fmt)
    sys.exit(0 if result.valid else 1)


# --- schema --------------------------------------------------------------------------------------


@cli.command()
def schema() -> None:
    """Print the bundle JSON Schema (2020-12)."""
    from .bundle.schema import bundle_schema_text

    click.echo(bundle_schema_text(), nl=False)


# --- plan ----------------------------------------------------------------------------------------


@cli.command()
@click.argument("bundles", nargs=-1, type=click.Path(), required=True)
@click.option("--env", "envs", multiple=True, help="Environment to plan (repeatable). Default: all.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write the JSON plan to FILE.")
@click.option(
    "--skip-check",
    "skip_checks",
    multiple=True,
    metavar="ID",
    help="Do not run this check (repeatable), e.g. MLRIG-SEC-006.",
)
def plan(
    bundles: tuple[str, ...], envs: tuple[str, ...], fmt: str, out: str | None, skip_checks: tuple[str, ...]
) -> None:
    """Run the real Pulumi program offline, under the SDK's mock runtime, for each environment, then
    the deployability and security checks on every stack (exit 1 on a mandatory finding)."""
    from .plan.command import run_plan_command

    sys.exit(
        run_plan_command(
            list(bundles), list(envs), fmt, out, stdout=stdout, stderr=stderr, skip_checks=list(skip_checks)
        )
    )


# --- generate, affected, bootstrap ---------------------------------------------------------------


@cli.command()
@click.option("--check", is_flag=True, help="Exit 1 when any generated file is stale; write nothing.")
@click.option("--root", type=click.Path(file_okay=False), default=".", show_default=True, help="Repository root.")
def generate(check: bool, root: str) -> None:
    """Write stack configs, CI workflows, CODEOWNERS and the schema from bundles/."""
    from .generate import run_generate_command

    sys.exit(run_generate_command(root, check=check, stdout=stdout, stderr=stderr))


@cli.command()
@click.option("--base", required=True, help="Git ref to compare with (e.g. origin/main).")
@click.option("--head", default=None, help="Git ref of the change (default: the working tree).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--root", type=click.Path(file_okay=False), default=".", show_default=True, help="Repository root.")
def affected(base: str, head: str | None, fmt: str, root: str) -> None:
    """The stacks a change since BASE affects, one per line (or JSON for a CI matrix)."""
    from .ci.affected import run_affected_command

    sys.exit(run_affected_command(root, base, head, fmt, stdout=stdout, stderr=stderr))


@cli.command()
@click.argument("path", required=False, type=click.Path())
@click.option("--region", default=None, help="Region of the state bucket and key (default: the first environment's).")
@click.option("--dry-run", is_flag=True, help="Print what would be created or changed; change nothing.")
def bootstrap(path: str | None, region: str | None, dry_run: bool) -> None:
    """Create the S3 state bucket and the KMS secrets key of each environment (idempotent)."""
    from .platform.bootstrap import bootstrap as run_bootstrap
    from .platform.bootstrap import next_steps, state_backend

    result = validate_paths([path or "bundles"], with_context=False)
    if not result.valid:
        print_diagnostics(result.diagnostics)
        sys.exit(1)
    if len(result.platforms) != 1:
        fail(f"expected exactly one Platform bundle in {path or 'bundles'}, found {len(result.platforms)}")
    platform = next(iter(result.platforms.values()))
    backend = state_backend(platform, region)
    try:
        report = run_bootstrap(backend, dry_run=dry_run)
    except ImportError:
        fail("mlrig bootstrap needs boto3: pip install boto3")
    except Exception as error:  # botocore errors: credentials, permissions, throttling
        if os.environ.get("MLRIG_DEBUG"):
            raise
        fail(f"bootstrap of s3://{backend.bucket} failed: {type(error).__name__}: {error}")
    for step in report.steps or ["nothing to do: the state backend is ready"]:
        stdout.print(f"• {step}")
    stdout.print("next:")
    for command in next_steps(backend, platform):
        stdout.print(f"  {command}", markup=False)


# --- checks: policy pack and preflight ------------------------------------------------------------


@cli.group(name="policy-pack")
def policy_pack() -> None:
    """The Pulumi CrossGuard policy pack of mlrig's checks."""


@policy_pack.command(name="path")
def policy_pack_path() -> None:
    """Print the pack's directory: pulumi preview --policy-pack "$(mlrig policy-pack path)"."""
    from importlib import resources

    click.echo(str(resources.files("mlrig") / "policypack"))


@policy_pack.command(name="config")
@click.argument("path", required=False, type=click.Path())
def policy_pack_config(path: str | None) -> None:
    """Print a --policy-pack-config file for the bundles in PATH (default bundles/): it tells the
    pack which stack creates which IAM roles, so MLRIG-DEP-005 sees other environments' roles."""
    from .checks.adapter import policy_pack_config as config_of
    from .checks.runner import principal_owners

    result = validate_paths([path or "bundles"], with_context=False)
    if not result.valid:
        print_diagnostics(result.diagnostics)
        sys.exit(1)
    owners = principal_owners([*result.platforms.values(), *result.projects.values()])
    click.echo(json.dumps(config_of(owners), indent=2, sort_keys=True))


@cli.command()
@click.argument("path", required=False, type=click.Path())
@click.option("--env", "environment", required=True, help="Platform environment to check.")
def preflight(path: str | None, environment: str) -> None:
    """Check an AWS account before a first apply: quotas, instance offerings, state backend, OIDC.
    Needs credentials for the environment's account. Exit 1 on a blocker."""
    from .checks.preflight import preflight as run_preflight

    result = validate_paths([path or "bundles"], with_context=False)
    if not result.valid:
        print_diagnostics(result.diagnostics)
        sys.exit(1)
    if len(result.platforms) != 1:
        fail(f"expected exactly one Platform bundle in {path or 'bundles'}, found {len(result.platforms)}", 2)
    platform = next(iter(result.platforms.values()))
    if environment not in platform.environments:
        fail(
            f"platform {platform.name} has no environment '{environment}'; its environments: {', '.join(platform.environments)}",
            2,
        )
    projects = [p for p in result.projects.values() if p.platform.name == platform.name]
    import boto3

    try:
        items = run_preflight(platform, projects, environment, boto3.Session())
    except Exception as error:  # credentials, throttling: say which
        if os.environ.get("MLRIG_DEBUG"):
            raise
        fail(f"preflight of {platform.name}.{environment} failed: {type(error).__name__}: {error}")
    marks = {"ok": "[green]✓[/]", "note": "[yellow]•[/]", "blocker": "[red]✗[/]"}
    for item in items:
        stdout.print(f"{marks[item.level]} {escape(item.what)}", markup=True)
        if item.fix:
            stdout.print(f"    fix: {escape(item.fix)}", markup=True)
    blockers = sum(i.level == "blocker" for i in items)
    stdout.print(f"{blockers} blocker(s)" if blockers else "ready for a first apply")
    sys.exit(1 if blockers else 0)


# --- pins, secrets -------------------------------------------------------------------------------


@cli.group()
def pins() -> None:
    """The pinned container images and Helm charts (infra/mlrig/pins.py)."""


@pins.command("check")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def pins_check(fmt: str) -> None:
    """Verify online that every pinned image tag and chart version exists. Exit 1 when one is
    missing, 2 when a registry could not be asked."""
    from .pins_check import check_pins, exit_code, render_json, render_text

    results = check_pins()
    click.echo(render_json(results) if fmt == "json" else render_text(results))
    sys.exit(exit_code(results))


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--env", "envs", multiple=True, help="Environment (repeatable). Default: every environment.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def secrets(paths: tuple[str, ...], envs: tuple[str, ...], fmt: str) -> None:
    """List the secrets a person must fill after an apply, and the command that fills each."""
    from .secrets_command import run_secrets_command

    sys.exit(run_secrets_command(list(paths) or ["bundles"], list(envs), fmt, stdout=stdout, stderr=stderr))


def main() -> None:
    cli(prog_name="mlrig")


if __name__ == "__main__":  # pragma: no cover
    main()
