"""The `mlrig` command line: validate, plan, generate, affected, schema, bootstrap, init, and the
day-2 commands diff, cost, parity, graph and migrate.

Exit codes: 0 success, 1 invalid input or failed check, 2 usage or I/O error, 130 interrupted
(Ctrl-C; see `interrupt.py`). No command ever shows a Python traceback to a user; set
MLRIG_DEBUG=1 to see one. Each command is one section below: its options, its help with examples,
and a call into the module that does the work. That module is imported inside the command, so
`mlrig --help` and `mlrig validate` start without loading what other commands need (the Pulumi
SDK, boto3, Jinja, ruamel); tests/day2/test_cli.py holds them to it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from . import collector, console
from .bundle.diagnostics import BundleError, Diagnostic, UsageError, sanitize
from .bundle.root import BUNDLES_DIR, repository_root

if TYPE_CHECKING:
    from .bundle.resolved import Platform, Project
    from .bundle.validate import FileReport, ValidationResult

stdout = Console(soft_wrap=True, highlight=False, emoji=False)
stderr = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)


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
            stderr.print("interrupted")
            sys.exit(130)
        except UsageError as error:
            fail(str(error), 2)
        except BundleError as error:
            print_diagnostics(error.diagnostics)
            sys.exit(1)
        except OSError as error:
            where = error.filename or "standard output"
            fail(f"{where}: {error.strerror or error}", 2)
        except KeyboardInterrupt:  # only where the interrupt handler is not installed (tests)
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


def default_bundles() -> str:
    """`bundles/` of the repository around the working directory (so commands work from any
    directory inside it), else `bundles` (reported as missing when it is)."""
    root = repository_root()
    if root is not None and (root / BUNDLES_DIR).is_dir():
        here = Path.cwd().resolve()
        bundles = root / BUNDLES_DIR
        return str(bundles.relative_to(here)) if bundles.is_relative_to(here) else str(bundles)
    return BUNDLES_DIR


def default_bundles_or_fail() -> str:
    """`default_bundles()`, or a usage error that says where mlrig looked and what to do."""
    bundles = default_bundles()
    if not Path(bundles).is_dir():
        fail(
            f"no {BUNDLES_DIR}/ directory in {Path.cwd()} or the repository around it; run mlrig in a platform "
            "repository (`mlrig init platform` writes one), or name bundle files or directories",
            2,
        )
    return bundles


def root_option(explicit: str | None) -> Path:
    """The repository root: `--root`, else found by walking up from the working directory."""
    if explicit is not None:
        return Path(explicit)
    found = repository_root()
    if found is None:
        fail(
            f"no platform repository in {Path.cwd()} or above (a directory with Pulumi.yaml and bundles/, "
            "or a git repository); run mlrig inside one, or pass --root DIR",
            2,
        )
    return found


def platform_of(path: str | None, command: str) -> tuple[Platform, list[Project]]:
    """The one Platform bundle PATH names (its file, or a directory holding it; default the
    repository's bundles/) and every valid project of it in its bundles root, whichever file was
    named: a platform's quotas, state and roles concern all of its projects. Invalid bundles
    exit 1; a PATH that holds no Platform bundle, or several, is a usage error that says which
    file to name instead."""
    from .bundle.validate import validate_paths

    where = path or default_bundles()
    result = validate_paths([where])
    if not result.valid:
        print_diagnostics(result.diagnostics)
        sys.exit(1)
    named_files = {report.file for report in result.reports if not report.context}
    named = sorted((p for p in result.platforms.values() if p.file in named_files), key=lambda p: p.file)
    if len(named) > 1:
        listed = ", ".join(f"{p.file} ({p.name})" for p in named)
        fail(
            f"{where} holds {len(named)} Platform bundles ({listed}); name the one: mlrig {command} {named[0].file} …",
            2,
        )
    if not named:
        projects = [p for p in result.projects.values() if p.file in named_files]
        if len(projects) == 1 and projects[0].platform.name in result.platforms:
            platform = result.platforms[projects[0].platform.name]
            fail(
                f"{where} is the Project bundle {projects[0].name}; mlrig {command} works on a platform: name "
                f"its platform's bundle instead (mlrig {command} {platform.file})",
                2,
            )
        fail(
            f"{where} holds no Platform bundle; mlrig {command} works on a platform: name its Platform bundle "
            "or the bundles directory",
            2,
        )
    platform = named[0]
    return platform, [p for p in result.projects.values() if p.platform.name == platform.name]


@click.group(cls=MlrigGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mlrig")
def cli() -> None:
    """mlrig: one YAML bundle per ML team becomes a complete, isolated, audited MLOps platform
    on AWS and EKS, with the CI/CD that deploys it.

    \b
    Start a platform repository, add a team, check and preview it:
      mlrig init platform acme-platform
      mlrig init project fraud-detection --platform acme-ml --repository acme/fraud-detection
      mlrig validate && mlrig plan && mlrig generate

    Exit codes: 0 success, 1 invalid input or failed check, 2 usage or I/O error, 130 interrupted.
    """


# --- validate ------------------------------------------------------------------------------------


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_escape(text).replace(":", "%3A").replace(",", "%2C")


def _blocked_notes(result: ValidationResult) -> list[str]:
    """One note per invalid platform that projects wait for (their own errors are reported)."""
    waiting: dict[str, list[str]] = {}
    for report in result.blocked:
        waiting.setdefault(str(report.blocked_by), []).append(report.name or report.file)
    return [
        f"{len(names)} project bundle(s) ({', '.join(names)}) are checked against their platform once {file} is valid"
        for file, names in waiting.items()
    ]


def _display_order(reports: list[FileReport]) -> list[FileReport]:
    """Platforms first: a project is judged against its platform."""
    return sorted(reports, key=lambda r: r.kind != "Platform")


def _print_lines(lines: list[str]) -> None:
    """Print lines of markup at once (as many prints would, faster), and empty the list."""
    if lines:
        stdout.print("\n".join(lines), markup=True)
        lines.clear()


def render_validation(result: ValidationResult, fmt: str) -> None:
    own = [r for r in result.reports if not r.context]
    if fmt == "json":
        payload = {"valid": result.valid, "files": [r.as_dict() for r in own]}
        click.echo(json.dumps(payload, indent=2))
        return
    reports = _display_order(own)
    notes = _blocked_notes(result)
    if fmt == "github":
        for report in reports:
            for d in sorted(report.diagnostics):
                click.echo(
                    f"::error file={_github_property(d.file)},line={d.line},col={d.column},"
                    f"title={_github_property('mlrig: ' + d.path)}::{_github_escape(d.message)}"
                )
        for note in notes:
            click.echo(f"::notice title=mlrig::{_github_escape(note)}")
        click.echo(f"{sum(r.valid for r in reports)} of {len(reports)} bundle(s) valid")
        return
    valid_lines: list[str] = []  # printed together: one rich print per line costs 0.2 ms
    for report in reports:
        # The name is the bundle's own, unvalidated when the bundle is invalid: escaped like diagnostics.
        label = escape(sanitize(f"{report.kind or '?'} {report.name or ''}".strip()))
        file = escape(report.file)
        if report.valid:
            valid_lines.append(f"[green]✓[/] {file} ({label})")
        elif report.diagnostics:
            _print_lines(valid_lines)
            stdout.print(f"[red]✗[/] {file} ({label}): {len(report.diagnostics)} error(s)", markup=True)
            console.print_diagnostics(stdout, sorted(report.diagnostics), indent="    ")
    _print_lines(valid_lines)
    for note in notes:
        stdout.print(f"note: {note}", markup=False)
    errors = sum(len(r.diagnostics) for r in reports)
    if result.valid:
        stdout.print(f"[green]{len(reports)} bundle(s) valid[/]", markup=True)
    elif errors:
        invalid = sum(bool(r.diagnostics) for r in reports)
        stdout.print(f"[red]{errors} error(s) in {invalid} of {len(reports)} bundle(s)[/]", markup=True)
    else:
        platforms = sorted({str(r.blocked_by) for r in result.blocked})
        stdout.print(
            f"[red]{len(result.blocked)} of {len(reports)} bundle(s) not checked: fix their platform first "
            f"(mlrig validate {escape(' '.join(platforms))})[/]",
            markup=True,
        )


@cli.command(
    short_help="Check bundle files and directories: schema, then semantic rules across every bundle.",
    epilog="""\b
Examples:
  mlrig validate                                  # every bundle in bundles/
  mlrig validate bundles/teams/ads/ads.yaml       # one file, checked against all its neighbours
  mlrig validate --format github bundles          # in a GitHub Actions step

\b
--format github prints one `::error file=…,line=…,col=…::message` line per error, which GitHub
Actions shows as an annotation on the line of the pull request's diff.""",
)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for tools, github for annotations in GitHub Actions.",
)
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Validate bundle files and directories (default: the repository's bundles/).

    A file is checked together with every other bundle of its bundles root (the nearest
    directory named `bundles`, or holding the Platform bundle), so a name used twice or an
    unknown platform is found whichever file you name. Errors are printed as
    `file:line:column: path: message`. Exit 0 valid, 1 invalid, 2 usage error.
    """
    with collector.paused():  # pydantic building the bundle models: kept until the process ends
        from .bundle.validate import validate_paths

    targets = list(paths) or [default_bundles_or_fail()]
    result = validate_paths(targets)
    if not any(not r.context for r in result.reports):
        fail(f"no bundle files (*.yaml, *.yml) in {', '.join(targets)}", 2)
    render_validation(result, fmt)
    finish(0 if result.valid else 1)


# --- schema --------------------------------------------------------------------------------------


@cli.command(
    short_help="Print the bundle JSON Schema (for editors and other tools).",
    epilog="""\b
Examples:
  mlrig schema > bundle.schema.json
  check-jsonschema --schemafile <(mlrig schema) bundles/*.yaml""",
)
def schema() -> None:
    """Print the bundle JSON Schema (2020-12), the same file `mlrig generate` writes to
    schemas/bundle.schema.json."""
    from .bundle.schema import bundle_schema_text

    try:
        sys.stdout.write(bundle_schema_text())
        sys.stdout.flush()
    except OSError as error:
        _silence_stdout()
        fail(f"cannot write the schema to standard output: {error.strerror or error}", 2)


# --- plan ----------------------------------------------------------------------------------------


@cli.command(
    short_help="Preview the resources of bundles offline: the real Pulumi program under mocks.",
    epilog="""\b
Examples:
  mlrig plan                                       # every bundle of bundles/, every environment
  mlrig plan bundles/fraud-detection.yaml --env prod --detail
  mlrig plan bundles --format json --out plan.json
  mlrig plan bundles --env prod --out - | jq '.environments.prod.resources | length'""",
)
@click.argument("bundles", nargs=-1, type=click.Path())
@click.option("--env", "envs", multiple=True, help="Environment to plan (repeatable). Default: all.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--detail", is_flag=True, help="Text: the whole tree of components and resources, not the summary.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    help="Write the JSON plan to FILE; `-` writes it to stdout (the text output then goes to stderr).",
)
@click.option(
    "--skip-check",
    "skip_checks",
    multiple=True,
    metavar="ID",
    help="Do not run this check (repeatable), e.g. MLRIG-SEC-006.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Plan N stacks at once in worker processes (each holds the Pulumi SDKs: 200-300 MB). "
    "Default: the number of usable CPU cores; 1 plans in this process. The output is the same.",
)
def plan(
    bundles: tuple[str, ...],
    envs: tuple[str, ...],
    fmt: str,
    detail: bool,
    out: str | None,
    skip_checks: tuple[str, ...],
    jobs: int | None,
) -> None:
    """Run the real Pulumi program offline, under the SDK's mock runtime (in worker processes with
    --jobs), for each environment of each bundle: no credentials, no network. Then run the
    deployability and security checks on every stack (exit 1 on a mandatory finding).

    BUNDLES are bundle files or directories of them (default: the repository's bundles/).
    Platforms are planned before the projects that read their outputs. The text output is a
    summary per stack (resources by component and type, protected resources, warnings, check
    findings); --detail prints the whole tree; --format json prints the full plan.
    """
    from .plan.command import run_plan_command

    targets = list(bundles) or [default_bundles_or_fail()]
    sys.exit(
        run_plan_command(
            targets,
            list(envs),
            fmt,
            out,
            stdout=stdout,
            stderr=stderr,
            detail=detail,
            skip_checks=list(skip_checks),
            jobs=jobs,
        )
    )


# --- generate, affected, bootstrap ---------------------------------------------------------------

ROOT_HELP = "Repository root. Default: found from the working directory upward."


@cli.command(
    short_help="Write the stack configs, CI workflows, CODEOWNERS and schema that bundles/ implies.",
    epilog="""\b
Examples:
  mlrig generate                  # write what changed, list it
  mlrig generate --check --diff   # in CI or a pre-commit hook: exit 1 and show what is stale""",
)
@click.option("--check", is_flag=True, help="Exit 1 when any generated file is stale; write nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="With --check: print a unified diff of every stale file.")
@click.option("--root", type=click.Path(file_okay=False), default=None, help=ROOT_HELP)
def generate(check: bool, show_diff: bool, root: str | None) -> None:
    """Write every file derived from bundles/: Pulumi.<stack>.yaml per bundle and environment,
    the platform repository's workflows, each project repository's workflows, CODEOWNERS, the
    schema and the bundle reference. Files no bundle produces any more are deleted, with a
    note on how to destroy stacks left without a bundle."""
    from .generate import run_generate_command

    base = root_option(root)
    sys.exit(run_generate_command(str(base), check=check, diff=show_diff, stdout=stdout, stderr=stderr))


@cli.command(
    short_help="List the stacks a change since a git ref affects (a CI matrix with --format json).",
    epilog="""\b
Examples:
  mlrig affected --base origin/main                # since the branch point, working tree included
  mlrig affected --base HEAD~1 --head HEAD --format json""",
)
@click.option("--base", required=True, help="Git ref to compare with (e.g. origin/main).")
@click.option("--head", default=None, help="Git ref of the change (default: the working tree).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--root", type=click.Path(file_okay=False), default=None, help=ROOT_HELP)
def affected(base: str, head: str | None, fmt: str, root: str | None) -> None:
    """The stacks a change since BASE affects, one per line, in deployment order. Stacks left
    without a bundle (a deleted bundle or environment, a renamed project) are reported on
    stderr with the commands that destroy them, never applied."""
    from .ci.affected import run_affected_command

    base_dir = root_option(root)
    sys.exit(run_affected_command(str(base_dir), base, head, fmt, stdout=stdout, stderr=stderr))


@cli.command(
    short_help="Create the platform's S3 state bucket and each environment's KMS secrets key (idempotent).",
    epilog="""\b
Examples:
  mlrig bootstrap --dry-run        # what would be created, with your current AWS credentials
  mlrig bootstrap bundles/platform.yaml --region eu-west-1""",
)
@click.argument("path", required=False, type=click.Path())
@click.option("--region", default=None, help="Region of the state bucket and key (default: the first environment's).")
@click.option("--dry-run", is_flag=True, help="Print what would be created or changed; change nothing.")
def bootstrap(path: str | None, region: str | None, dry_run: bool) -> None:
    """Create the S3 state bucket and the KMS secrets key of each environment (idempotent), with
    the caller's AWS credentials. PATH is the Platform bundle or its directory (default: the
    repository's bundles/); it prints the `pulumi login` and `pulumi stack init` to run next."""
    from .platform.bootstrap import bootstrap as run_bootstrap
    from .platform.bootstrap import next_steps, state_backend

    platform, _ = platform_of(path, "bootstrap")
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


@cli.group(
    name="policy-pack",
    short_help="The CrossGuard policy pack of mlrig's checks, for pulumi preview/up.",
    epilog="""\b
Examples:
  mlrig policy-pack config bundles > policy-config.json
  pulumi preview -s acme-ml.dev --policy-pack "$(mlrig policy-pack path)" \\
      --policy-pack-config policy-config.json""",
)
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
    from .bundle.validate import validate_paths
    from .checks.adapter import policy_pack_config as config_of
    from .checks.runner import principal_owners

    # With the named file's neighbours: the pack must know every stack's roles, whichever file
    # was named (a platform's alone would leave its projects' roles unknown to MLRIG-DEP-005).
    result = validate_paths([path or default_bundles()])
    if not result.valid:
        print_diagnostics(result.diagnostics)
        sys.exit(1)
    owners = principal_owners([*result.platforms.values(), *result.projects.values()])
    click.echo(json.dumps(config_of(owners), indent=2, sort_keys=True))


@cli.command(
    short_help="Check an AWS account before a first apply: quotas, offerings, state, OIDC.",
    epilog="""\b
Examples:
  AWS_PROFILE=acme-dev mlrig preflight --env dev
  mlrig preflight bundles/platform.yaml --env prod""",
)
@click.argument("path", required=False, type=click.Path())
@click.option("--env", "environment", required=True, help="Platform environment to check.")
def preflight(path: str | None, environment: str) -> None:
    """Check an AWS account before a first apply: quotas, instance offerings, state backend, OIDC.
    Needs credentials for the environment's account. Exit 1 on a blocker."""
    from .checks.preflight import preflight as run_preflight

    platform, projects = platform_of(path, "preflight")
    if environment not in platform.environments:
        fail(
            f"platform {platform.name} has no environment '{environment}'; its environments: {', '.join(platform.environments)}",
            2,
        )
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


@cli.group(
    short_help="Check that every pinned image and chart exists upstream (needs network).",
    epilog="""\b
Examples:
  mlrig pins check
  mlrig pins check --format json""",
)
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


@cli.command(
    short_help="List the secrets a person must fill after an apply, with the commands.",
    epilog="""\b
Examples:
  mlrig secrets --env prod
  mlrig secrets bundles/rag-assistant.yaml --env dev --format json""",
)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--env", "envs", multiple=True, help="Environment (repeatable). Default: every environment.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def secrets(paths: tuple[str, ...], envs: tuple[str, ...], fmt: str) -> None:
    """List the secrets a person must fill after an apply, and the command that fills each."""
    from .secrets_command import run_secrets_command

    sys.exit(run_secrets_command(list(paths) or [default_bundles()], list(envs), fmt, stdout=stdout, stderr=stderr))


# --- day 2: diff, cost, parity, graph, migrate ----------------------------------------------------


@cli.command(
    short_help="What a change does to each affected stack: both revisions planned offline, compared.",
    epilog="""\b
Examples:
  mlrig diff --base origin/main                       # the working tree against the branch point
  mlrig diff --base HEAD~1 --head HEAD --format markdown > pr-report/05-diff.md
  mlrig diff --base origin/main --format json | jq '.dangerous'
  mlrig diff --base "$BASE_SHA" --head HEAD --head-plans plans   # reuse `mlrig plan --out plans/…`

\b
Both revisions are planned with the installed mlrig: a change to mlrig's own code in this
repository (infra/, ci/) is noted, not diffed. Stateful or protected resources that are
replaced or deleted are listed first. Secret values read [secret].""",
)
@click.option("--base", required=True, help="Git ref to compare with (e.g. origin/main).")
@click.option("--head", default=None, help="Git ref of the change (default: the working tree).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option(
    "--head-plans",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Take the head's plans from the `mlrig plan --format json --out` files in DIR instead of "
    "planning them again; a plan made from other bundles or another mlrig is refused (exit 1).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Plan N stacks at once in worker processes. Default: one worker per usable CPU core when "
    "each gets at least 3 stacks (starting workers costs about two plans), else in this process.",
)
@click.option("--root", type=click.Path(file_okay=False), default=None, help=ROOT_HELP)
def diff(base: str, head: str | None, fmt: str, head_plans: str | None, jobs: int | None, root: str | None) -> None:
    """Plan BASE and HEAD offline for every stack the change affects and print, per stack, the
    resources added, removed, replaced and changed, with property-level changes, a one-line
    summary and the monthly cost delta. Stacks left without a bundle show as wholly deleted.
    Exit 0 (whatever the changes), 1 invalid bundles or a failed plan, 2 usage error or bad ref."""
    from .diff.command import run_diff_command

    base_dir = root_option(root)
    sys.exit(
        run_diff_command(str(base_dir), base, head, fmt, stdout=stdout, stderr=stderr, head_plans=head_plans, jobs=jobs)
    )


class _DefaultCommandGroup(click.Group):
    """A group whose arguments go to its default command unless they name a sub-command:
    `mlrig cost bundles/x.yaml` and `mlrig cost refresh-prices`."""

    default_command = "estimate"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@cli.group(
    cls=_DefaultCommandGroup,
    short_help="Monthly cost estimate per stack from the offline plan; refresh the price snapshot.",
    epilog="""\b
Examples:
  mlrig cost                                   # every bundle of bundles/, every environment
  mlrig cost bundles/fraud-detection.yaml --env prod --detail
  mlrig cost --format json | jq '.stacks[] | {stack, monthly}'
  mlrig cost refresh-prices                    # with network and AWS credentials""",
)
def cost() -> None:
    """Monthly estimate per project and environment, read from the offline plan (fixed parts
    and scheduled pipeline runs), priced from the dated snapshot in the package. A price the
    snapshot lacks is reported as not priced, never counted as zero."""


@cost.command(name="estimate")
@click.argument("bundles", nargs=-1, type=click.Path())
@click.option("--env", "envs", multiple=True, help="Environment (repeatable). Default: every environment.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--detail", is_flag=True, help="Text: one line per priced resource.")
@click.option(
    "--spot-discount",
    type=click.FloatRange(0, 0.95),
    default=0.65,
    show_default=True,
    help="How far below on-demand spot capacity is assumed to be.",
)
def cost_estimate(
    bundles: tuple[str, ...], envs: tuple[str, ...], fmt: str, detail: bool, spot_discount: float
) -> None:
    """The estimate of BUNDLES (files or directories; default: the repository's bundles/)."""
    from .cost.command import run_cost_command

    targets = list(bundles) or [default_bundles_or_fail()]
    sys.exit(
        run_cost_command(
            targets, list(envs), fmt, spot_discount=spot_discount, detail=detail, stdout=stdout, stderr=stderr
        )
    )


@cost.command(name="refresh-prices")
@click.option(
    "--region", "regions", multiple=True, help="Region to refresh (repeatable). Default: every region of the snapshot."
)
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Write here instead of the package's snapshot."
)
def cost_refresh_prices(regions: tuple[str, ...], out: str | None) -> None:
    """Rewrite the price snapshot from the AWS Price List API (needs network and credentials
    allowed pricing:GetProducts), with the filters the snapshot records."""
    from .cost.command import run_refresh_command

    sys.exit(run_refresh_command(out, list(regions), stdout=stdout, stderr=stderr))


@cli.command(
    short_help="The architecture of stacks or of the whole organisation, drawn from the plan.",
    epilog="""\b
Examples:
  mlrig graph                                  # the organisation (every bundle), its prod environment
  mlrig graph bundles/fraud-detection.yaml --env staging
  mlrig graph --format dot | dot -Tsvg > architecture.svg""",
)
@click.argument("bundles", nargs=-1, type=click.Path())
@click.option("--env", "environment", default=None, help="Environment to draw. Default: the first prod-tier one.")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
def graph(bundles: tuple[str, ...], environment: str | None, fmt: str) -> None:
    """Draw the platform, its clusters and the projects on them, with their pipelines, endpoints,
    pools, stores, registries and CI, from the offline plan of one environment (Mermaid, which
    GitHub renders, or Graphviz DOT)."""
    from .graph import graph_text
    from .plan.command import CommandError

    try:
        text = graph_text(list(bundles) or [default_bundles()], environment, fmt, stderr)
    except CommandError as error:
        if str(error):
            stderr.print(f"[red]error:[/] {escape(str(error))}", markup=True)
        sys.exit(error.code)
    sys.stdout.write(text)


@cli.command(
    short_help="Differences between a project's environments that no tier rule or override explains.",
    epilog="""\b
Examples:
  mlrig parity fraud-detection                         # dev:staging and staging:prod
  mlrig parity fraud-detection --pair staging:prod --format json

\b
Exit 0 when parity holds, 1 when an unexplained difference exists (a CI check), 2 usage error.""",
)
@click.argument("project")
@click.option("--pair", "pairs", multiple=True, metavar="A:B", help="Environments to compare (repeatable).")
@click.option(
    "--bundles", default=None, type=click.Path(), help="Bundle directory. Default: the repository's bundles/."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def parity(project: str, pairs: tuple[str, ...], bundles: str | None, fmt: str) -> None:
    """Plan two environments of PROJECT offline and report every difference between their
    resources (environment names, accounts and generated ids normalised away) that neither a
    tier rule of mlrig (parity.TIER_RULES) nor an override in the bundle
    (spec.environments.<env>) explains."""
    from .parity import run_parity_command

    sys.exit(run_parity_command(project, bundles or default_bundles(), list(pairs), fmt, stdout=stdout, stderr=stderr))


@cli.command(
    short_help="Rewrite bundles written for an older mlrig to the current format, keeping comments.",
    epilog="""\b
Examples:
  mlrig migrate --check          # in CI: exit 1 when a migration is pending
  mlrig migrate --diff           # show what would change
  mlrig migrate                  # rewrite bundles/ (all files or none)

\b
Migrations run in order (mlrig.migrate.registry): 0001 the platform admits its projects
(spec.tenancy, from what they use today), 0002 one secrets key per environment, 0003 files
named <metadata.name>.yaml. Lines marked `# review:` need a person's decision.""",
)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a migration is pending.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print the changes as a unified diff.")
def migrate(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Bring bundle files and directories (default: the repository's bundles/) up to the current
    bundle format. Rewrites preserve comments and formatting (ruamel.yaml round-trip positions,
    text spliced in place) and are written atomically."""
    from .migrate.command import run_migrate_command

    targets = list(paths) or [default_bundles()]
    sys.exit(run_migrate_command(targets, check=check, diff=show_diff, stdout=stdout, stderr=stderr))


# --- init ----------------------------------------------------------------------------------------


class _InitGroup(click.Group):
    """`init`, whose sub-commands are imported when one is run or its help is shown, not when the
    command line starts (they bring Jinja and ruamel)."""

    lazy_commands: ClassVar[dict[str, str]] = {
        "platform": ".init.commands:platform_command",
        "project": ".init.commands:project_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module, attribute = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module, __package__), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@cli.group(cls=_InitGroup, short_help="Start a platform repository, or add a team's project to one.")
def init() -> None:
    """Scaffold a new platform repository (`init platform`) or a team's project bundle and
    application repository (`init project`). On a terminal, what no flag says is asked;
    otherwise flags say everything. Existing files are never overwritten: if any file to
    write exists, nothing is written and the exit code is 1."""


# --- entry -----------------------------------------------------------------------------------------


def _silence_stdout() -> None:
    """After a failed write to standard output, the interpreter's own flush at exit would fail
    again and print a traceback-like warning; point stdout at /dev/null instead."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _flush_stdout() -> None:
    """Flush standard output; a failure is the command's: exit 2 naming it."""
    try:
        sys.stdout.flush()
    except OSError as error:
        _silence_stdout()
        stderr.print(f"[red]error:[/] standard output: {escape(error.strerror or str(error))}", markup=True)
        os._exit(2)


@dataclass(frozen=True)
class Process:
    """How the process running the command line may end: the console script's may end at once
    (`finish`); a test's or an embedding program's must return to its caller."""

    ends_at_once: bool = False


def finish(code: int) -> NoReturn:
    """End a command whose whole result is written. In the console script, at once: Python's own
    teardown would free what the command built object by object and run a last full collection
    over it, which costs validating a thousand files a tenth of its time, for nothing. Only for
    commands that leave nothing to clean up (no child processes, threads or temporary files)."""
    context = click.get_current_context(silent=True)
    process = context.find_object(Process) if context is not None else None
    if process is None or not process.ends_at_once:
        sys.exit(code)
    _flush_stdout()
    with suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def main(*, ends_at_once: bool = False) -> None:
    """The command line. `ends_at_once`: this process is the console script's (`entry.py`), so
    commands that allow it end with `os._exit` once their result is written (`finish`)."""
    try:
        cli(prog_name="mlrig", obj=Process(ends_at_once))
    finally:
        _flush_stdout()


if __name__ == "__main__":  # pragma: no cover
    main()
