"""0.1.0 → 0.2.0: one Pulumi secrets key per environment.

`spec.state.secretsProvider` must name one key per environment through `{environment}`. A value
without it (0.1.0's single key) gets `-{environment}` after the alias name, and a `# review:`
comment: existing stacks move to their environment's key with `pulumi stack change-secrets-provider`.
"""

from __future__ import annotations

import re

from .document import Document
from .registry import Bundles, Migration
from .versions import CURRENT

ALIAS = re.compile(r"^(awskms://alias/[^?]+)(\?.*)?$")


def _provider(document: Document) -> str | None:
    state = document.spec.get("state")
    value = state.get("secretsProvider") if isinstance(state, dict) else None
    return value if isinstance(value, str) else None


def _needs(document: Document) -> bool:
    value = _provider(document)
    return document.kind == "Platform" and value is not None and "{environment}" not in value


def per_environment(value: str) -> str:
    match = ALIAS.match(value)
    if not match:
        return value
    return f"{match.group(1)}-{{environment}}{match.group(2) or ''}"


def pending(bundles: Bundles) -> list[str]:
    return [
        f"{d.path}: spec.state.secretsProvider {_provider(d)!r} names one key for every environment"
        for d in bundles
        if _needs(d)
    ]


def apply(bundles: Bundles) -> list[str]:
    done = []
    for document in bundles:
        if not _needs(document):
            continue
        old = str(_provider(document))
        new = per_environment(old)
        if new == old:
            done.append(f"{document.path}: spec.state.secretsProvider {old!r} is not a KMS alias URL; set it by hand")
            continue
        state = document.spec["state"]
        document.replace_value(state, "secretsProvider", new)
        document.add_comment_above(
            document.spec["state"],
            "secretsProvider",
            "review: one key per environment; move each stack with `pulumi stack change-secrets-provider`",
        )
        done.append(f"{document.path}: spec.state.secretsProvider {old!r} → {new!r}")
    return done


MIGRATION = Migration("0002-secrets-provider", CURRENT, "one secrets key per environment", pending, apply)
