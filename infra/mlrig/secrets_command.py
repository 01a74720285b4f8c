"""`mlrig secrets [BUNDLE…] [--env E]… [--format text|json]`: every secret a person must fill
after an apply, where it lives, what it is for, and the command that fills it.

The list comes from `project/filled_secrets.py`, the same code the components create the
secrets from, so it cannot miss one. Platform bundles have none: the platform's own secrets
(Grafana's admin password, database master passwords) are generated, never typed by a person.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from . import console
from .bundle.resolved import Project, ProjectEnvironment
from .bundle.validate import ValidationResult, validate_paths
from .project.context import project_names
from .project.filled_secrets import FilledSecret, person_filled_secrets

UNKNOWN_ACCOUNT = "the deploying account"
VALUE_VARIABLE = "SECRET_VALUE"


@dataclass(frozen=True)
class SecretToFill:
    project: str
    environment: str
    stack: str
    name: str
    account: str
    region: str
    description: str
    value: str
    read_by: str
    after_filling: str
    awaited_by_pulumi: bool
    command: str

    def as_dict(self) -> dict[str, object]:
        """camelCase keys, like the bundles and the plan JSON."""
        return {_camel(k): v for k, v in asdict(self).items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def fill_command(name: str, region: str) -> str:
    """The value comes from a shell variable, so it never lands in shell history or in mlrig."""
    return (
        f"aws secretsmanager put-secret-value --region {shlex.quote(region)} "
        f'--secret-id {shlex.quote(name)} --secret-string "${VALUE_VARIABLE}"'
    )


def entries_of(project: Project, environment: ProjectEnvironment) -> list[SecretToFill]:
    platform_env = environment.platform_environment
    account = platform_env.account or UNKNOWN_ACCOUNT
    names = project_names(project, environment, default_account=account)
    return [
        _entry(
            project, environment, names.secret(filled.purpose), account, platform_env.region, filled, names.namespace
        )
        for filled in person_filled_secrets(environment)
    ]


def _entry(
    project: Project,
    environment: ProjectEnvironment,
    name: str,
    account: str,
    region: str,
    filled: FilledSecret,
    namespace: str,
) -> SecretToFill:
    return SecretToFill(
        project=project.name,
        environment=environment.name,
        stack=environment.stack,
        name=name,
        account=account,
        region=region,
        description=filled.description,
        value=filled.value,
        read_by=filled.consumer,
        after_filling=filled.after_filling.format(namespace=namespace),
        awaited_by_pulumi=filled.awaited,
        command=fill_command(name, region),
    )


def projects_given(result: ValidationResult) -> list[Project]:
    """Projects of the files named on the command line (not the context bundles beside them)."""
    given = {Path(r.file).resolve() for r in result.reports if not r.context}
    return sorted((p for p in result.projects.values() if Path(p.file).resolve() in given), key=lambda p: p.name)


def collect(result: ValidationResult, environments: list[str]) -> list[SecretToFill]:
    entries: list[SecretToFill] = []
    for project in projects_given(result):
        for name, environment in project.environments.items():
            if not environments or name in environments:
                entries.extend(entries_of(project, environment))
    return entries


def render_text(entries: list[SecretToFill], out: Console) -> None:
    if not entries:
        out.print("No secret to fill: nothing in these bundles waits for a person.")
        return
    stacks: dict[str, list[SecretToFill]] = {}
    for entry in entries:
        stacks.setdefault(entry.stack, []).append(entry)
    out.print(
        f"{len(entries)} secret(s) to fill. Set the value first without echoing it "
        f"(read -rs {VALUE_VARIABLE}; export {VALUE_VARIABLE}), with credentials of the account named, "
        "then run the command. Nothing an apply waits for needs them.",
        markup=False,
    )
    for stack, found in stacks.items():
        first = found[0]
        out.print(f"\n[bold]{escape(stack)}[/] (account {escape(first.account)}, {escape(first.region)})", markup=True)
        for entry in found:
            out.print(f"  {entry.name}", markup=False)
            for label, text in (
                ("for", entry.description),
                ("value", entry.value),
                ("read by", entry.read_by),
                ("then", entry.after_filling),
                ("fill", entry.command),
            ):
                out.print(f"    {label + ':':<9}{text}", markup=False)


def run_secrets_command(
    paths: list[str], environments: list[str], fmt: str, *, stdout: Console, stderr: Console
) -> int:
    result = validate_paths(paths)
    if not result.valid:
        console.print_diagnostics(stderr, result.diagnostics)
        return 1
    known = {name for project in projects_given(result) for name in project.environments}
    unknown = sorted(set(environments) - known)
    if unknown:
        stderr.print(
            f"[red]error:[/] no environment {escape(', '.join(unknown))} in these bundles "
            f"(known: {escape(', '.join(sorted(known)) or 'none')})",
            markup=True,
        )
        return 2
    entries = collect(result, environments)
    if fmt == "json":
        stdout.print(json.dumps({"secrets": [e.as_dict() for e in entries]}, indent=2), markup=False, highlight=False)
    else:
        render_text(entries, stdout)
    return 0
