"""`mlrig init platform [DIR]` and `mlrig init project NAME`: answers from flags, or from prompts
on a terminal for what the flags leave open; then every file at once, or nothing.

Exit codes: 0 written, 1 a file exists already or the answers make an invalid bundle (nothing
written), 2 a malformed flag or no platform repository found.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from ..bundle import model
from ..bundle.diagnostics import BundleError
from ..bundle.resolved import Platform, Project
from ..bundle.root import BUNDLES_DIR, repository_root
from ..bundle.validate import ValidationResult, validate_paths
from ..console import print_diagnostics
from . import lock
from .admission import AdmissionConflict, admit
from .app import application_repository
from .platform import ISOLATIONS, TIERS, EnvironmentAnswer, PlatformAnswers, default_cidr, platform_repository
from .project import TEMPLATES, ProjectAnswers, default_owners, project_bundle, tier_environments
from .tree import ExistingFiles, FileTree, write_new

out = Console(soft_wrap=True, highlight=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)


# --- answers: a flag, else a prompt on a terminal, else a default or an error --------------------


class Asker:
    """Asks only on a terminal, and only for what no flag said."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def value(
        self,
        given: Any,
        question: str,
        *,
        default: Any = None,
        flag: str,
        check: Callable[[str], str | None] | None = None,
        choices: Sequence[str] | None = None,
    ) -> Any:
        if given is not None:
            return _checked(given, flag, check)
        if not self.interactive:
            if default is None:
                usage(f"{flag} is required (or run on a terminal to be asked)")
            return default
        while True:
            answer = click.prompt(
                question,
                default=default,
                type=click.Choice(list(choices)) if choices else str,
                show_default=default not in (None, ""),
            )
            problem = check(answer) if check and answer != "" else None
            if problem is None:
                return answer
            err.print(f"{answer!r} is not {problem}", markup=False)


def _checked(value: Any, flag: str, check: Callable[[str], str | None] | None) -> Any:
    problem = check(value) if check and isinstance(value, str) and value != "" else None
    if problem:
        usage(f"{flag} {value!r} is not {problem}")
    return value


def matches(pattern: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if re.match(pattern, value) else model.PATTERN_HINTS[pattern]

    return check


def usage(message: str) -> NoReturn:
    err.print(f"[red]error:[/] {message}", markup=True, highlight=False)
    sys.exit(2)


def is_interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty() and sys.stdout.isatty()


# --- mlrig init platform -------------------------------------------------------------------------

PLATFORM_EPILOG = """\b
Examples:
  mlrig init platform acme-platform          # asks on a terminal for what flags leave open
  mlrig init platform acme-platform --no-input --name acme-ml --isolation account \\
      --state-account 444444444444 --env dev:dev:us-east-1:111111111111 \\
      --env staging:staging:us-east-1:222222222222 --env prod:prod:us-east-1:333333333333 \\
      --github-org acme --owner @acme/platform

\b
--env NAME:TIER:REGION[:ACCOUNT] adds an environment (TIER is dev, staging or prod; ACCOUNT is
required with account isolation). Without --env: dev, staging and prod in --region.
--state-account is the account that holds the Pulumi state, runs mlrig bootstrap and administers
the environments' deployment roles: a management or tooling account (default: prod's).
The lock (requirements.lock) comes from --lock FILE, or is compiled with uv or pip-compile
(network needed); with --no-lock, or when neither tool is installed, the README says how."""


def parse_environment(text: str, index: int) -> EnvironmentAnswer:
    parts = text.split(":")
    if len(parts) not in (3, 4):
        usage(f"--env {text!r}: expected NAME:TIER:REGION[:ACCOUNT], e.g. prod:prod:us-east-1:333333333333")
    name, tier, region = parts[:3]
    account = parts[3] if len(parts) == 4 and parts[3] else None
    _checked(name, "--env name", matches(model.DNS_LABEL))
    if tier not in TIERS:
        usage(f"--env {text!r}: tier {tier!r} is not one of {', '.join(TIERS)}")
    _checked(region, "--env region", matches(model.REGION))
    if account is not None:
        _checked(account, "--env account", matches(model.ACCOUNT_ID))
    return EnvironmentAnswer(name, tier, region, account, default_cidr(index))


def platform_answers(asker: Asker, directory: Path, options: dict[str, Any]) -> PlatformAnswers:
    name = asker.value(
        options["name"],
        "Platform name (names every stack and cluster)",
        default=_dns_label(directory.resolve().name) or None,
        flag="--name",
        check=matches(model.DNS_LABEL),
    )
    isolation = asker.value(
        options["isolation"],
        "Isolation of the environments (account: an AWS account each; cluster: a cluster each in one account; namespace: one cluster)",
        default="cluster",
        flag="--isolation",
        choices=ISOLATIONS,
    )
    environments = [parse_environment(text, i) for i, text in enumerate(options["env"])]
    if not environments:
        region = asker.value(
            options["region"], "AWS region", default="us-east-1", flag="--region", check=matches(model.REGION)
        )
        accounts = dict(_account_flag(text) for text in options["account"])
        for index, tier in enumerate(TIERS):
            account = accounts.get(tier)
            if isolation == "account" and account is None:
                account = asker.value(
                    None, f"AWS account of {tier}", flag=f"--account {tier}=ID", check=matches(model.ACCOUNT_ID)
                )
            environments.append(EnvironmentAnswer(tier, tier, region, account, default_cidr(index)))
    state_account = options["state_account"]
    if isolation == "account" or state_account is not None:
        state_account = asker.value(
            state_account,
            "AWS account of the Pulumi state, where mlrig bootstrap runs and whose administrators run each "
            "environment's first apply: a management or tooling account (empty: the prod environment's)",
            default="",
            flag="--state-account",
            check=matches(model.ACCOUNT_ID),
        )
    organization = asker.value(
        options["github_org"],
        "GitHub organisation of the platform and project repositories (empty: none, no CI roles)",
        default="",
        flag="--github-org",
        check=matches(model.GITHUB_ORG),
    )
    organization = organization or None
    repository = None
    if organization:
        repository = asker.value(
            options["repository"],
            "Platform repository (org/name)",
            default=f"{organization}/{name}-platform",
            flag="--repository",
            check=matches(model.REPOSITORY),
        )
    owners = tuple(options["owner"])
    if not owners:
        team = asker.value(
            None,
            "Platform team (a GitHub team handle; owns this repository)",
            default=f"@{organization}/platform" if organization else "",
            flag="--owner",
            check=matches(model.GITHUB_OWNER),
        )
        owners = (team,) if team else ()
    for owner in owners:
        _checked(owner, "--owner", matches(model.GITHUB_OWNER))
    return PlatformAnswers(
        name=name,
        isolation=isolation,
        environments=tuple(environments),
        owners=tuple(o for o in owners if o),
        github_organization=organization,
        repository=repository,
        state_account=state_account or None,
    )


def _account_flag(text: str) -> tuple[str, str]:
    tier, _, account = text.partition("=")
    if tier not in TIERS or not account:
        usage(f"--account {text!r}: expected TIER=ACCOUNT, e.g. prod=333333333333")
    _checked(account, "--account", matches(model.ACCOUNT_ID))
    return tier, account


def _dns_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return label if re.match(model.DNS_LABEL, label) else ""


def lock_text(lock_file: str | None, no_lock: bool) -> tuple[str | None, str | None]:
    """(the lock, why there is none)."""
    version = lock.installed_version()
    if lock_file is not None:
        text = Path(lock_file).read_text(encoding="utf-8")
        problems = lock.lock_problems(text, version)
        if problems:
            usage(f"--lock {lock_file}: cannot be installed with --require-hashes: {'; '.join(problems)}")
        return text, None
    if no_lock:
        return None, "--no-lock"
    try:
        return lock.compile_lock(version), None
    except lock.LockError as error:
        return None, str(error)


@click.command(
    "platform",
    short_help="Write a new platform repository: Pulumi project, platform bundle, lock, CI.",
    epilog=PLATFORM_EPILOG,
)
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Platform name: a DNS label, e.g. acme-ml.")
@click.option("--isolation", type=click.Choice(ISOLATIONS), default=None, help="How environments are isolated.")
@click.option("--env", multiple=True, metavar="NAME:TIER:REGION[:ACCOUNT]", help="An environment (repeatable).")
@click.option("--region", default=None, help="Region of the default environments (without --env).")
@click.option("--account", multiple=True, metavar="TIER=ACCOUNT", help="Account of a default environment.")
@click.option(
    "--state-account",
    default=None,
    metavar="ACCOUNT",
    help="Account of the Pulumi state, where mlrig bootstrap runs (default: the prod environment's).",
)
@click.option("--github-org", default=None, help="GitHub organisation of the platform and project repositories.")
@click.option("--repository", default=None, help="The platform repository, org/name.")
@click.option("--owner", multiple=True, help="GitHub team owning the platform, e.g. @acme/platform (repeatable).")
@click.option(
    "--lock",
    "lock_file",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="A prebuilt requirements.lock to use.",
)
@click.option("--no-lock", is_flag=True, help="Do not compile requirements.lock (the README says how).")
@click.option("--no-input", is_flag=True, help="Never prompt, even on a terminal.")
def platform_command(directory: str, lock_file: str | None, no_lock: bool, no_input: bool, **options: Any) -> None:
    """Write a new platform repository into DIRECTORY (default: the current directory): the
    Pulumi project running mlrig's program, bundles/platform.yaml, requirements.in and the
    hash-locked requirements.lock, the AWS deployer-role policies in aws/, a README with the
    first steps, and everything `mlrig generate` derives (stack configs, workflows, CODEOWNERS,
    schema). Nothing is written if any of these files exists."""
    destination = Path(directory)
    answers = platform_answers(Asker(is_interactive(no_input)), destination, options)
    locked, missing_lock = lock_text(lock_file, no_lock)
    try:
        tree = platform_repository(answers, locked, display_root=directory)
    except BundleError as error:
        print_diagnostics(err, error.diagnostics)
        fail("these answers make an invalid platform bundle; nothing was written")
    write_or_refuse(tree, destination)
    out.print(f"wrote {len(tree.files)} files into {destination}", markup=False)
    steps = [f"cd {directory}"] if directory != "." else []
    if missing_lock:
        err.print(f"note: requirements.lock was not written ({missing_lock})", markup=False)
        steps.append(lock.lock_command_text() + "   # where there is network; commit the lock")
    steps += [
        "python3 -m venv .venv && .venv/bin/pip install --require-hashes -r requirements.lock",
        ".venv/bin/mlrig validate && .venv/bin/mlrig plan",
        "git init && git add . && git commit -m 'mlrig platform'",
        "then README.md: AWS prerequisites (aws/), mlrig bootstrap, pulumi login, stack init, first apply",
    ]
    print_next(steps)


def write_or_refuse(tree: FileTree, destination: Path) -> None:
    try:
        write_new(tree, destination)
    except ExistingFiles as existing:
        shown = ", ".join(existing.paths[:8]) + (
            f" and {len(existing.paths) - 8} more" if len(existing.paths) > 8 else ""
        )
        fail(f"{destination} already has {shown}; nothing was written (mlrig init never overwrites)")


def print_next(steps: list[str]) -> None:
    out.print("next:", markup=False)
    for step in steps:
        out.print(f"  {step}", markup=False)


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/] {message}", markup=True, highlight=False)
    sys.exit(1)


# --- mlrig init project --------------------------------------------------------------------------

PROJECT_EPILOG = """\b
Examples:
  mlrig init project fraud-detection --platform acme-ml --repository acme/fraud-detection
  mlrig init project ads-ranking --template vision --repository acme/ads-ranking \\
      --data-scientist arn:aws:iam::111111111111:role/ads-scientists --app-dir ../ads-ranking

\b
Templates: tabular (features, GPU training, model CD, batch and online inference, monitoring),
llm (vector database, fine-tuning, vLLM serving, LLM gateway, feedback), vision (GPU training,
GPU batch inference, a GPU endpoint)."""


def load_repository(root: Path) -> ValidationResult:
    bundles = root / BUNDLES_DIR
    if not bundles.is_dir():
        usage(f"{bundles}: no bundles directory (is --root the platform repository?)")
    result = validate_paths([bundles])
    if not result.platforms:
        print_diagnostics(err, result.diagnostics)
        fail(f"no valid Platform bundle in {bundles}; fix it first (mlrig validate)")
    return result


def project_answers(asker: Asker, name: str, platform: Platform, options: dict[str, Any]) -> ProjectAnswers:
    organization = platform.bundle.spec.github.organization
    repository = asker.value(
        options["repository"],
        "The team's application repository (org/name)",
        default=f"{organization}/{name}" if organization and asker.interactive else None,
        flag="--repository",
        check=matches(model.REPOSITORY),
    )
    template = asker.value(options["template"], "Template", default="tabular", flag="--template", choices=TEMPLATES)
    team = asker.value(options["team"], "Team", default=name, flag="--team", check=matches(model.DNS_LABEL))
    owners = tuple(options["owner"]) or default_owners(repository, team)
    for owner in owners:
        _checked(owner, "--owner", matches(model.GITHUB_OWNER))
    principal = matches(model.PRINCIPAL_ARN)
    scientists = tuple(_checked(a, "--data-scientist", principal) for a in options["data_scientist"])
    engineers = tuple(_checked(a, "--ml-engineer", principal) for a in options["ml_engineer"])
    approvers = tuple(_checked(a, "--prod-approver", matches(model.GITHUB_OWNER)) for a in options["prod_approver"])
    cost_center = options["cost_center"]
    if cost_center is not None and not re.match(r"^[A-Za-z0-9._-]{1,64}$", cost_center):
        usage(f"--cost-center {cost_center!r} is not letters, digits, '.', '_' or '-'")
    dev, prod = tier_environments(platform)
    return ProjectAnswers(
        name=name,
        platform=platform.name,
        repository=repository,
        template=template,
        team=team,
        owners=owners,
        cost_center=cost_center,
        data_scientists=scientists,
        ml_engineers=engineers,
        prod_approvers=approvers or owners,
        dev_environment=dev,
        prod_environment=prod,
    )


def checked_project(root: Path, answers: ProjectAnswers, text: str, platform_edit: tuple[Path, str]) -> Project:
    """Validate the new bundle with every bundle of the repository (and the platform bundle as
    `platform_edit` would leave it), in a scratch copy: the repository is untouched until
    everything is known to be valid."""
    relative = f"{BUNDLES_DIR}/{answers.name}.yaml"
    with tempfile.TemporaryDirectory(prefix="mlrig-init-") as scratch:
        copy = Path(scratch) / BUNDLES_DIR
        shutil.copytree(root / BUNDLES_DIR, copy, ignore=shutil.ignore_patterns(".*"))
        (copy / f"{answers.name}.yaml").write_text(text, encoding="utf-8")
        platform_file, platform_text = platform_edit
        (copy / platform_file.resolve().relative_to((root / BUNDLES_DIR).resolve())).write_text(
            platform_text, encoding="utf-8"
        )
        result = validate_paths([copy / f"{answers.name}.yaml"])
        own = [r for r in result.reports if not r.context]
        if not own or not own[0].valid or answers.name not in result.projects:
            shown = [dataclasses.replace(d, file=str(root / relative)) for d in result.diagnostics]
            print_diagnostics(err, shown)
            fail(f"the new bundle {relative} would be invalid; nothing was written")
        return result.projects[answers.name]


@click.command(
    "project",
    short_help="Add a team's project bundle (tabular, llm or vision) and its repository skeleton.",
    epilog=PROJECT_EPILOG,
)
@click.argument("name")
@click.option("--platform", "platform_name", default=None, help="The platform (default: the repository's only one).")
@click.option("--repository", default=None, help="The team's application repository, org/name.")
@click.option("--template", type=click.Choice(TEMPLATES), default=None, help="Starting point (default: tabular).")
@click.option("--team", default=None, help="Team name (default: NAME).")
@click.option("--owner", multiple=True, help="GitHub team owning the bundle (default: @<org>/<team>).")
@click.option("--cost-center", default=None, help="Cost centre tag of the project's resources.")
@click.option("--data-scientist", multiple=True, metavar="ARN", help="IAM principal of a data scientist (repeatable).")
@click.option("--ml-engineer", multiple=True, metavar="ARN", help="IAM principal of an ML engineer (repeatable).")
@click.option("--prod-approver", multiple=True, help="Who approves prod deployments (default: the owners).")
@click.option(
    "--app-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Also write the application repository skeleton here.",
)
@click.option(
    "--root", default=None, type=click.Path(file_okay=False), help="The platform repository (default: found upward)."
)
@click.option("--no-input", is_flag=True, help="Never prompt, even on a terminal.")
def project_command(
    name: str,
    platform_name: str | None,
    app_dir: str | None,
    root: str | None,
    no_input: bool,
    **options: Any,
) -> None:
    """Add bundles/NAME.yaml to the platform repository: a project from a template, validated
    with every other bundle before anything is written. With --app-dir, also write the team's
    application repository skeleton (entry points for every pipeline step, a Dockerfile per
    registry, unit and integration tests) that its generated workflows expect."""
    _checked(name, "NAME", matches(model.DNS_LABEL))
    base = Path(root) if root else repository_root()
    if base is None:
        usage("no platform repository here or above (a directory with Pulumi.yaml and bundles/); pass --root DIR")
    result = load_repository(base)
    platform = choose_platform(result, platform_name)
    asker = Asker(is_interactive(no_input))
    answers = project_answers(asker, name, platform, options)
    text = project_bundle(answers)
    platform_file = Path(platform.file)
    try:
        admitted = admit(platform_file.read_text(encoding="utf-8"), answers)
    except AdmissionConflict as conflict:
        fail(f"{platform_file}: {conflict}; nothing was written")
    project = checked_project(base, answers, text, (platform_file, admitted))
    bundle_tree = FileTree()
    bundle_tree.add(f"{BUNDLES_DIR}/{name}.yaml", text)
    app_tree = application_repository(project) if app_dir else None
    existing = bundle_tree.existing_in(base) + (app_tree.existing_in(Path(app_dir)) if app_tree and app_dir else [])
    if existing:
        fail(f"{', '.join(existing)} already exist(s); nothing was written (mlrig init never overwrites)")
    write_or_refuse(bundle_tree, base)
    out.print(f"wrote {base / BUNDLES_DIR / (name + '.yaml')} (template {answers.template})", markup=False)
    if admitted != platform_file.read_text(encoding="utf-8"):
        replace_text(platform_file, admitted)
        out.print(
            f"admitted {name} in {platform_file} (spec.tenancy.projects.{name}): the platform team reviews this",
            markup=False,
        )
    if app_tree is not None and app_dir is not None:
        write_or_refuse(app_tree, Path(app_dir))
        out.print(
            f"wrote the application repository skeleton into {app_dir} ({len(app_tree.files)} files)", markup=False
        )
    print_next(
        [
            f"mlrig validate && mlrig plan {BUNDLES_DIR}/{name}.yaml && mlrig generate",
            f"open a pull request with {BUNDLES_DIR}/{name}.yaml, the platform bundle's admission and the "
            "generated files (the platform team approves the admission)",
            f"create {answers.repository} on GitHub"
            + (f" and push {app_dir} to it" if app_dir else " (mlrig init project --app-dir DIR writes its skeleton)"),
            "put the alert credentials into Secrets Manager (see the bundle's monitoring.alerts comments)",
        ]
    )


def replace_text(path: Path, text: str) -> None:
    """Rewrite an existing file atomically (a temporary file beside it, then a rename)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def choose_platform(result: ValidationResult, name: str | None) -> Platform:
    platforms = result.platforms
    if name is not None:
        if name not in platforms:
            usage(f"--platform {name!r}: no such platform in the repository (platforms: {', '.join(platforms)})")
        return platforms[name]
    if len(platforms) > 1:
        usage(f"the repository has several platforms ({', '.join(platforms)}); choose one with --platform")
    return next(iter(platforms.values()))
