"""Semantic rules: what the schema cannot say.

A rule is a small function that looks at one resolved bundle and yields `Finding`s. Add one by
writing the function in the module of its concern, decorating it, and adding its failing and
passing cases to `tests/bundle/rules/` (a test there fails for a rule without them). Importing
this package registers every rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..diagnostics import Path
from ..loader import Document
from ..model import PlatformBundle, ProjectBundle, ProjectSpec
from ..resolved import Platform, PlatformEnvironment, locate


@dataclass(frozen=True)
class Finding:
    path: Path
    message: str
    key: bool = False  # the position is the key's, not the value's


@dataclass(frozen=True)
class ProjectView:
    """One project as a rule sees it: in one environment (overrides merged, defaults resolved),
    or without environment when its platform is unknown."""

    bundle: ProjectBundle
    spec: ProjectSpec
    environment: str | None
    platform: Platform | None
    platform_environment: PlatformEnvironment | None

    @property
    def deployment_pattern(self) -> str:
        """The project's deployment pattern, as rules read it in every environment: an
        environment that overrides it is one error (`deployment_pattern_same_in_every_environment`),
        not also each rule the other pattern breaks there (a `retrainOnDrift` in prod, say)."""
        return self.bundle.spec.deployment_pattern


@dataclass(frozen=True)
class BundleSetView:
    platforms: list[tuple[str, PlatformBundle]]  # (file, bundle)
    projects: list[tuple[str, ProjectBundle]]
    # Platforms named in a file whose schema failed: they exist, but cannot be checked further.
    broken_platforms: dict[str, str] = field(default_factory=dict)  # name -> file
    documents: dict[str, Document] = field(default_factory=dict)  # file -> loaded document

    def where(self, file: str, *path: str | int) -> str:
        """`fraud-detection.yaml:14:3 spec.repository`, for messages that name a second file."""
        return locate(file, self.documents.get(file), path)


PlatformRule = Callable[[Platform], Iterable[Finding]]
ProjectRule = Callable[[ProjectView], Iterable[Finding]]
SetRule = Callable[[BundleSetView], Iterable[tuple[str, Finding]]]

PLATFORM_RULES: list[PlatformRule] = []
PROJECT_RULES: list[ProjectRule] = []
SET_RULES: list[SetRule] = []


def platform_rule(fn: PlatformRule) -> PlatformRule:
    PLATFORM_RULES.append(fn)
    return fn


def project_rule(fn: ProjectRule) -> ProjectRule:
    PROJECT_RULES.append(fn)
    return fn


def set_rule(fn: SetRule) -> SetRule:
    SET_RULES.append(fn)
    return fn


def load_all() -> None:
    """Import every rule module (registration happens on import)."""
    from . import compute, gpu, names, network, patterns, references, schedules, tenancy, values  # noqa: F401
