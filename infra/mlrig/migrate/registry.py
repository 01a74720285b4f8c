"""The migrations `mlrig migrate` knows, in the order they run.

A migration is one small module (`m<NNNN>_<what>.py`) exporting `MIGRATION`: an id, the bundle
format version it applies to (`apiVersion`), a title, `pending(bundles)` (why it is needed, from
the files' content; empty when it is not) and `apply(bundles)` (edits the documents in memory,
returning what it did). Within one version, migrations repair what an earlier mlrig wrote (this
round: 0.1.0 → 0.2.0); a migration to a new format version (a future `mlrig/v2`) is one more
entry under the version it starts from, rewrites `apiVersion` last, and is listed in
`versions.OLDER` so `validate` points at it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .document import Document

Bundles = list[Document]


@dataclass(frozen=True)
class Migration:
    id: str
    version: str
    title: str
    pending: Callable[[Bundles], list[str]]
    apply: Callable[[Bundles], list[str]]


def migrations() -> list[Migration]:
    from . import m0001_tenancy, m0002_secrets_provider, m0003_file_names, m0004_gateway_caps

    return [
        m0001_tenancy.MIGRATION,
        m0002_secrets_provider.MIGRATION,
        m0003_file_names.MIGRATION,
        m0004_gateway_caps.MIGRATION,
    ]


def by_version() -> dict[str, list[Migration]]:
    found: dict[str, list[Migration]] = {}
    for migration in migrations():
        found.setdefault(migration.version, []).append(migration)
    return found


def applicable(documents: Bundles) -> list[Migration]:
    """The migrations for the versions the documents are written in, in registry order."""
    versions = {str(d.data.get("apiVersion")) for d in documents}
    return [m for m in migrations() if m.version in versions]
