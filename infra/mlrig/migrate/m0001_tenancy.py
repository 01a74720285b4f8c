"""0.1.0 → 0.2.0: the platform admits its projects (`spec.tenancy`).

mlrig 0.1.0 had no tenancy: any project bundle deployed with whatever repository, principals and
approvers it named, and dev could read prod data unless a project said otherwise. From 0.2.0 a
project deploys only once its platform admits it. This migration writes, into each platform that
has projects but no `spec.tenancy`, exactly what its projects use today:

- `projects.<name>`: `{repository, principals, prodApprovers}`: every access principal (base and
  per-environment overrides), and `ci.prodApprovers` or else the bundle's owners (0.1.0's default
  reviewers);
- `principalAccounts`: the environments' accounts (the default) plus every principal's account;
- `githubOrganizations`, only when a project's repository is outside `github.organization`;
- `prodReadAccessFromDev: true`, with a `# review:` comment, when a project relied on dev reading
  prod data (0.1.0's default was true: its prod `storage.prodReadAccessFromDev` is unset or true).
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from .document import Document
from .registry import Bundles, Migration
from .versions import CURRENT

PERSONAS = ("dataScientists", "mlEngineers")
# Where `tenancy` goes in a platform's spec: before the first of these keys it has.
BEFORE = ("cluster", "environments", "tags")


def _platforms(bundles: Bundles) -> list[Document]:
    return [d for d in bundles if d.kind == "Platform"]


def _projects_of(platform: Document, bundles: Bundles) -> list[Document]:
    return sorted(
        (d for d in bundles if d.kind == "Project" and d.spec.get("platform") == platform.name),
        key=lambda d: str(d.name),
    )


def _needs(platform: Document, bundles: Bundles) -> bool:
    return "tenancy" not in platform.spec and bool(_projects_of(platform, bundles))


def pending(bundles: Bundles) -> list[str]:
    return [
        f"{p.path}: platform {p.name} has projects ({', '.join(str(d.name) for d in _projects_of(p, bundles))}) "
        "but no spec.tenancy admitting them"
        for p in _platforms(bundles)
        if _needs(p, bundles)
    ]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def principals(project: Document) -> list[str]:
    spec = project.spec
    found: list[str] = []
    sources = [_mapping(spec.get("access"))]
    sources += [_mapping(_mapping(o).get("access")) for o in _mapping(spec.get("environments")).values()]
    for access in sources:
        for persona in PERSONAS:
            for arn in access.get(persona) or []:
                if isinstance(arn, str) and arn not in found:
                    found.append(arn)
    return sorted(found)


def approvers(project: Document) -> list[str]:
    ci = _mapping(project.spec.get("ci"))
    chosen = ci.get("prodApprovers") or _mapping(project.data.get("metadata")).get("owners") or []
    return [str(a) for a in chosen]


def relies_on_prod_reads(project: Document, platform: Document) -> bool:
    """0.1.0 let dev read prod data unless the prod environment's storage said no."""
    spec = project.spec
    base = _mapping(spec.get("storage")).get("prodReadAccessFromDev")
    prod_envs = [n for n, e in _mapping(platform.spec.get("environments")).items() if _mapping(e).get("tier") == "prod"]
    for env in prod_envs:
        override = _mapping(_mapping(_mapping(spec.get("environments")).get(env)).get("storage"))
        value = override.get("prodReadAccessFromDev", base)
        if value is None or value is True:
            return True
    return False


def _flow(values: list[str]) -> CommentedSeq:
    seq = CommentedSeq(DoubleQuotedScalarString(v) for v in values)
    seq.fa.set_flow_style()
    return seq


def _block(values: list[str]) -> CommentedSeq:
    return CommentedSeq(values)


def tenancy_block(platform: Document, bundles: Bundles) -> tuple[CommentedMap, list[str]]:
    spec = platform.spec
    projects = _projects_of(platform, bundles)
    tenancy = CommentedMap()
    notes: list[str] = []
    organization = _mapping(spec.get("github")).get("organization")
    organizations = sorted(
        {str(p.spec.get("repository", "")).split("/")[0] for p in projects}
        | ({organization} if organization else set())
    )
    if organizations != ([organization] if organization else []):
        tenancy["githubOrganizations"] = _flow(organizations)
        tenancy.yaml_add_eol_comment(
            "review: every organisation a project's repository belongs to today", "githubOrganizations"
        )
    accounts = {
        str(_mapping(e).get("account"))
        for e in _mapping(spec.get("environments")).values()
        if _mapping(e).get("account")
    }
    accounts |= {arn.split(":")[4] for p in projects for arn in principals(p) if arn.count(":") >= 5}
    tenancy["principalAccounts"] = _flow(sorted(accounts))
    tenancy.yaml_add_eol_comment("the environments' accounts and every admitted principal's", "principalAccounts")
    relying = [str(p.name) for p in projects if relies_on_prod_reads(p, platform)]
    if relying:
        tenancy["prodReadAccessFromDev"] = True
        tenancy.yaml_add_eol_comment(
            f"review: mlrig 0.1.0 let dev read prod data by default and {', '.join(relying)} relied on it; "
            "false forbids it",
            "prodReadAccessFromDev",
        )
        notes.append(f"prodReadAccessFromDev: true kept for {', '.join(relying)}: review it")
    admitted = CommentedMap()
    for project in projects:
        entry = CommentedMap()
        entry["repository"] = str(project.spec.get("repository"))
        entry["principals"] = _block(principals(project))
        entry["prodApprovers"] = _flow(approvers(project))
        if not entry["prodApprovers"]:
            entry.yaml_add_eol_comment(
                "review: no approvers or owners in the bundle; name at least one", "prodApprovers"
            )
            notes.append(f"{project.name}: no prod approvers to admit; add at least one")
        admitted[str(project.name)] = entry
    tenancy["projects"] = admitted
    return tenancy, notes


def apply(bundles: Bundles) -> list[str]:
    done: list[str] = []
    for platform in _platforms(bundles):
        if not _needs(platform, bundles):
            continue
        block, notes = tenancy_block(platform, bundles)
        platform.insert_into_spec(
            "tenancy",
            block,
            BEFORE,
            comment=(
                "Written by `mlrig migrate` from what the projects used under mlrig 0.1.0: every field that\n"
                "decides who reaches a project is admitted here, in the platform team's file.\n"
                "review: each admission copies what the project's own bundle asks for; check it before merging."
            ),
        )
        names = ", ".join(block["projects"])
        done.append(f"{platform.path}: spec.tenancy admits {names}" + "".join(f"; {n}" for n in notes))
    return done


MIGRATION = Migration("0001-tenancy", CURRENT, "the platform admits its projects (spec.tenancy)", pending, apply)
