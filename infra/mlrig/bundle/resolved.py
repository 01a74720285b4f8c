"""What the rest of mlrig consumes: validated bundles with every default and override resolved.

A `Platform` has one `PlatformEnvironment` per environment; a `Project` has one
`ProjectEnvironment` per environment of its platform. Components take these, never raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .diagnostics import Path, format_path
from .loader import Document
from .model import EnvironmentSpec, Isolation, PlatformBundle, ProjectBundle, ProjectSpec, Tier

if TYPE_CHECKING:
    from ..tenancy import Bounds


def locate(file: str, document: Document | None, path: Path, *, key: bool = True) -> str:
    """`platform.yaml:40:7 spec.tenancy.projects`: where a field is written (or, when it is not,
    the nearest field that is), for messages that name a second file."""
    if document is None:
        return f"{file} {format_path(path)}"
    line, column = document.position(path, key=key)
    written = path in document.key_positions or path in document.positions
    return f"{file}:{line}:{column} {format_path(path)}" + ("" if written else " (unset: its default applies)")


@dataclass(frozen=True)
class PlatformEnvironment:
    name: str
    index: int
    spec: EnvironmentSpec  # network fully resolved, cluster = spec.cluster merged with overrides
    platform_name: str
    isolation: Isolation

    @property
    def tier(self) -> Tier:
        return self.spec.tier

    @property
    def region(self) -> str:
        return self.spec.region

    @property
    def account(self) -> str | None:
        return self.spec.account

    @property
    def stack(self) -> str:
        return f"{self.platform_name}.{self.name}"


@dataclass(frozen=True)
class Platform:
    file: str
    bundle: PlatformBundle
    environments: dict[str, PlatformEnvironment] = field(default_factory=dict)
    # The loaded file, so that errors in a project can point at the platform bound it breaks.
    document: Document | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.bundle.metadata.name

    def where(self, *path: str | int) -> str:
        """`platform.yaml:40:7 spec.tenancy.projects`, for messages about project files."""
        return locate(self.file, self.document, path)

    @property
    def isolation(self) -> Isolation:
        return self.bundle.spec.isolation

    @cached_property
    def tenancy_bounds(self) -> Bounds:
        """`tenancy.bounds` of the bundle, computed once: the tenancy rules ask for every
        environment of every project, and the bounds copy the platform's admissions."""
        from ..tenancy import bounds

        return bounds(self.bundle)


@dataclass(frozen=True)
class ProjectEnvironment:
    name: str
    spec: ProjectSpec  # overrides merged, defaults resolved
    platform_environment: PlatformEnvironment
    project: ProjectBundle

    @property
    def tier(self) -> Tier:
        return self.platform_environment.tier

    @property
    def stack(self) -> str:
        return f"{self.project.metadata.name}.{self.name}"


@dataclass(frozen=True)
class Project:
    file: str
    bundle: ProjectBundle
    platform: Platform
    environments: dict[str, ProjectEnvironment] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.bundle.metadata.name
