"""The bundle pipeline: load → schema → resolve (overrides, defaults) → semantic rules.

`validate_paths` validates every file it is given, reporting every error of every file, and
returns the resolved platforms and projects of the valid ones. Context bundles (the other files
of a given file's bundles root, see `root.bundles_root`) are loaded to resolve references and
check names across files, but not reported.
"""

from __future__ import annotations

import copy
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from .. import collector
from . import rules
from .defaults import ProjectDefaults, copied, resolve_environment
from .diagnostics import Diagnostic, Path, UsageError, did_you_mean, format_path, sanitize
from .loader import Document, LoadError, load_file
from .model import (
    API_VERSION,
    BUNDLE_MODELS,
    OVERRIDABLE_KEYS,
    ClusterSettings,
    PlatformBundle,
    ProjectBundle,
    ProjectSpec,
    single_field_model,
)
from .resolve import Merged, merge_override
from .resolved import Platform, PlatformEnvironment, Project, ProjectEnvironment
from .root import bundle_files_under, bundles_root
from .schema_errors import describe_all, non_ascii_hint

BUNDLE_SUFFIXES = (".yaml", ".yml")


@dataclass
class FileReport:
    file: str
    kind: str | None = None
    name: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    context: bool = False  # loaded only to resolve references
    # The file of this project's platform when that platform is invalid: the project cannot be
    # checked against it, and the platform's errors are the ones to fix (reported there, once).
    blocked_by: str | None = None

    @property
    def valid(self) -> bool:
        return not self.diagnostics and self.blocked_by is None

    def as_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "file": self.file,
            "valid": self.valid,
            "kind": self.kind,
            "name": self.name,
            "errors": [d.as_dict() for d in sorted(self.diagnostics)],
        }
        if self.blocked_by is not None:
            payload["blockedBy"] = self.blocked_by
        return payload


@dataclass
class ValidationResult:
    reports: list[FileReport]
    platforms: dict[str, Platform]
    projects: dict[str, Project]

    @property
    def valid(self) -> bool:
        return all(r.valid for r in self.reports if not r.context)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Every error, Platform bundles' first: a project waits for its platform."""
        own = [r for r in self.reports if not r.context]
        return sorted((d for r in own for d in r.diagnostics), key=lambda d: (d.file not in self._platform_files, d))

    @property
    def _platform_files(self) -> set[str]:
        return {r.file for r in self.reports if r.kind == "Platform"}

    @property
    def blocked(self) -> list[FileReport]:
        """Projects not checked against their platform because it is invalid."""
        return [r for r in self.reports if not r.context and r.blocked_by is not None]


def collect_files(
    paths: Sequence[str | FsPath], rejected: list[Diagnostic] | None = None, real: _RealPaths | None = None
) -> list[FsPath]:
    """The bundle files under `paths` (files, or directories walked recursively). A file reached
    through a symbolic link must stay inside the directory it was found in (for a named file, its
    own directory): a link out of it (to credentials, say) is refused unread, and a dangling or
    looping link is reported, each as a diagnostic appended to `rejected`."""
    real = real or _RealPaths()
    files: list[FsPath] = []
    for raw in paths:
        path = FsPath(raw)
        if path.is_dir():
            root = real.of(path)
            found = sorted(path.rglob("*"))
            candidates = [p for p in found if p.suffix in BUNDLE_SUFFIXES]
            if rejected is not None:
                rejected += [
                    _misnamed(p)
                    for p in found
                    if p.suffix.lower() in BUNDLE_SUFFIXES and p.suffix not in BUNDLE_SUFFIXES
                ]
        elif path.is_file() or path.is_symlink():
            root = real.of(path.absolute().parent)
            candidates = [path]
        else:
            raise UsageError(f"{raw}: no such file or directory")
        for candidate in candidates:
            problem = _link_problem(candidate, root, real)
            if problem is not None:
                if rejected is not None:
                    rejected.append(Diagnostic(sanitize(str(candidate)), 1, 1, "(document)", problem, "load"))
            elif candidate.is_file():
                files.append(candidate)
    seen: set[FsPath | None] = set()
    unique = []
    for f in files:
        key = real.of(f)  # never None: the file passed the link check
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _misnamed(path: FsPath) -> Diagnostic:
    """A file that looks meant as a bundle but that no command reads (`team.YAML`): every command
    finds bundles by their lower-case suffix, so it would be left out silently."""
    fixed = path.with_suffix(path.suffix.lower()).name
    message = f"not read: bundle files end in .yaml or .yml (lower case); rename it to {fixed}"
    return Diagnostic(sanitize(str(path)), 1, 1, "(document)", message, "load")


class _RealPaths:
    """Paths resolved (symbolic links followed, strictly), each once per run. A file that is not a
    symbolic link is its resolved directory and its own name: a directory of a thousand bundles
    costs a thousand `lstat`s, not a thousand walks of every component of their paths."""

    def __init__(self) -> None:
        self._known: dict[FsPath, FsPath | None] = {}

    def of(self, path: FsPath) -> FsPath | None:
        """`path` resolved, or None when it does not exist or its links loop."""
        if path not in self._known:
            self._known[path] = self._resolve(path)
        return self._known[path]

    def _resolve(self, path: FsPath) -> FsPath | None:
        name = path.name
        if name and name not in (".", "..") and path.parent != path:
            try:
                mode = path.lstat().st_mode
            except OSError:
                return None
            if not stat.S_ISLNK(mode) and not stat.S_ISDIR(mode):
                directory = self.of(path.parent)
                return directory / name if directory is not None else None
        return _resolved(path)


def _resolved(path: FsPath) -> FsPath | None:
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None


def _link_problem(candidate: FsPath, root: FsPath | None, real: _RealPaths) -> str | None:
    """Why a file found under `root` may not be read, or None. Its content is never echoed."""
    target = real.of(candidate)
    if target is None:
        if candidate.is_symlink():
            return "a symbolic link that points nowhere or loops; remove it or make it a file"
        return "the file cannot be reached; check its permissions"
    if root is None or not target.is_relative_to(root):
        return (
            "a symbolic link to a file outside the bundles directory; mlrig reads no file outside it "
            "(the target was not read)"
        )
    return None


# --- per-file phases --------------------------------------------------------------------------


class _FileCheck:
    """Validation state of one file."""

    def __init__(self, report: FileReport, document: Document | None):
        self.report = report
        self.document = document
        self.bundle: PlatformBundle | ProjectBundle | None = None
        self._seen: set[tuple[str, str]] = set()
        # Mappings that lost an invalid value so validation could go on; semantic findings about
        # them would judge the default that replaced it, so they are not reported.
        self.pruned: set[Path] = set()
        # Read, but not a loadable YAML document (a syntax error): what it was meant to be can
        # still be guessed from its name and text.
        self.unloadable = False

    def add(self, path: Path, message: str, *, key: bool = False, rule: str = "schema") -> None:
        if rule != "schema" and any(tuple(path[: len(p)]) == p for p in self.pruned):
            return
        if rule != "schema" and "U+" not in message:
            # A rule refuses a value that looks right ('ml@аcme.example' with a Cyrillic 'а'):
            # name the character, as schema errors do, or the message reads as nonsense.
            message += non_ascii_hint(path[-1] if key and path else _value_at(self.document, path))
        text_path = format_path(path)
        if (text_path, message) in self._seen:
            return
        self._seen.add((text_path, message))
        assert self.document is not None
        line, column = self.document.position(path, key=key)
        self.report.diagnostics.append(Diagnostic(self.report.file, line, column, text_path, message, rule))

    def add_diagnostic(self, diagnostic: Diagnostic) -> None:
        if (diagnostic.path, diagnostic.message) not in self._seen:
            self._seen.add((diagnostic.path, diagnostic.message))
            self.report.diagnostics.append(diagnostic)


def _schema_errors(
    check: _FileCheck,
    kind: str,
    error: ValidationError,
    merged: Merged | None = None,
    prefix: Path = (),
    data: Any = None,
) -> None:
    """Report pydantic errors. `prefix` is where the validated value `data` sits in the bundle;
    with `merged`, paths are mapped back from the merged document to the lines the user wrote."""
    for path, message, at_key in describe_all(kind, error.errors(include_url=False), prefix, data):
        source = merged.source_of(path[len(prefix) :]) if merged is not None else path
        check.add(source, message, key=at_key)


def _check_header(check: _FileCheck) -> str | None:
    assert check.document is not None
    data = check.document.data
    api = data.get("apiVersion")
    kind = data.get("kind")
    ok = True
    if _foreign(api, kind):
        check.add(
            ("apiVersion",),
            f"not an mlrig bundle (apiVersion {api!r}, kind {kind!r}): every YAML file of the bundles directory "
            f"is a Platform or Project bundle (apiVersion: {API_VERSION}); move this file out of it",
        )
        return None
    if api is None and kind is None:
        check.add(
            ("apiVersion",),
            f"missing apiVersion and kind: a bundle starts with `apiVersion: {API_VERSION}` and `kind: Platform` or "
            "`kind: Project`; a file of another tool does not belong in the bundles directory",
            key=True,
        )
        return None
    if api is None:
        check.add(("apiVersion",), f"missing required key 'apiVersion'; set it to {API_VERSION}", key=True)
        ok = False
    elif api != API_VERSION:
        from ..migrate.versions import version_hint

        hint = version_hint(api).replace("{file}", check.report.file)
        check.add(("apiVersion",), f"unsupported apiVersion {api!r}; this mlrig reads {API_VERSION}: {hint}")
        ok = False
    if kind is None:
        check.add(("kind",), "missing required key 'kind'; use Platform or Project", key=True)
        return None
    if not isinstance(kind, str) or kind not in BUNDLE_MODELS:
        check.add(("kind",), f"unknown kind {kind!r}; use Platform or Project{did_you_mean(str(kind), BUNDLE_MODELS)}")
        return None
    check.report.kind = kind
    name = (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
    check.report.name = name if isinstance(name, str) else None
    return kind if ok else None


def _foreign(api: Any, kind: Any) -> bool:
    """Whether a document is another tool's (a Kubernetes manifest, say): neither an mlrig
    apiVersion nor a bundle kind."""
    return isinstance(api, str) and "/" in api and not api.startswith("mlrig/") and kind not in BUNDLE_MODELS


def _validate_schema(check: _FileCheck, kind: str) -> None:
    assert check.document is not None
    try:
        check.bundle = BUNDLE_MODELS[kind].model_validate(check.document.data)  # type: ignore[assignment]
    except ValidationError as error:
        _schema_errors(check, kind, error, data=check.document.data)
        repaired = _without_invalid_values(check.document.data, kind, error, check.pruned)
        if repaired is not None:
            # Carry on without the invalid values (their defaults apply), so that one run also
            # shows the semantic errors; the file stays invalid.
            check.document.data = repaired
            check.bundle = BUNDLE_MODELS[kind].model_validate(repaired)  # type: ignore[assignment]
        elif kind == "Project":
            _check_raw_overrides(check)
        else:
            check.bundle = _platform_without_broken_environments(check.document.data, error)


# Values other parts of a bundle are judged against: collections whose items other fields name
# (`pool: gpu-train`, `image: training`) and a pool's GPUs. Dropping one that fails the schema
# would turn each reference to it into an error of its own (int: any list index).
_READ_BY_OTHER_RULES: tuple[tuple[str | type, ...], ...] = (
    ("spec", "compute", "pools"),
    ("spec", "registries"),
    ("spec", "compute", "pools", int, "gpu"),
)


def _read_by_other_rules(loc: tuple[str | int, ...]) -> bool:
    return any(
        len(loc) == len(pattern)
        and all((p is int and isinstance(part, int)) or p == part for p, part in zip(pattern, loc, strict=True))
        for pattern in _READ_BY_OTHER_RULES
    )


def _without_invalid_values(
    data: dict[str, Any], kind: str, error: ValidationError, pruned: set[Path]
) -> dict[str, Any] | None:
    """A copy of `data` without the mapping keys whose values failed the schema, if that makes it
    valid. None when an error cannot be dropped that way (a missing key, a bad list item or key)."""
    repaired = copy.deepcopy(data)
    for _ in range(3):
        for detail in error.errors(include_url=False):
            loc = detail["loc"]
            if detail["type"] == "missing" or not loc or not isinstance(loc[-1], str) or loc[-1] == "[key]":
                return None
            parent: Any = repaired
            for part in loc[:-1]:
                if isinstance(parent, dict) and isinstance(part, str) and part in parent:
                    parent = parent[part]
                elif isinstance(parent, list) and isinstance(part, int) and 0 <= part < len(parent):
                    parent = parent[part]
                else:
                    return None
            if not isinstance(parent, dict) or loc[-1] not in parent or loc[:2] == ("spec", "environments"):
                return None
            if _read_by_other_rules(tuple(loc)):
                return None  # without it, what refers to it would be judged against a default
            del parent[loc[-1]]
            pruned.add(tuple(loc[:-1]))
        try:
            BUNDLE_MODELS[kind].model_validate(repaired)
            return repaired
        except ValidationError as again:
            error = again
    return None


def _platform_without_broken_environments(data: dict[str, Any], error: ValidationError) -> PlatformBundle | None:
    """When every schema error of a platform lies inside some of its environments, the others
    are still worth the semantic rules, so one run shows every error. The file stays invalid."""
    broken: set[str] = set()
    for detail in error.errors(include_url=False):
        loc = detail["loc"]
        if len(loc) < 3 or loc[:2] != ("spec", "environments") or not isinstance(loc[2], str):
            return None
        broken.add(loc[2])
    environments = {k: v for k, v in data["spec"]["environments"].items() if k not in broken}
    if not environments:
        return None
    try:
        return PlatformBundle.model_validate({**data, "spec": {**data["spec"], "environments": environments}})
    except ValidationError:
        return None


def _check_raw_overrides(check: _FileCheck) -> None:
    """A project whose schema fails still has its overrides checked, so one run shows every
    error: each is merged over the raw spec, keeping only the errors inside the override."""
    assert check.document is not None
    spec = check.document.data.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("environments"), dict):
        return
    raw_spec = {k: v for k, v in spec.items() if k != "environments"}
    for env_name, override in spec["environments"].items():
        if not isinstance(override, dict) or not override:
            continue
        scratch = _FileCheck(FileReport(check.report.file), check.document)
        _merge_project_override(scratch, None, raw_spec, override, env_name)
        inside = format_path(("spec", "environments", env_name))
        for d in scratch.report.diagnostics:
            if d.path == inside or d.path.startswith((inside + ".", inside + "[")):
                check.add_diagnostic(d)


# --- platforms ---------------------------------------------------------------------------------


def _resolve_platform(check: _FileCheck) -> Platform | None:
    bundle = check.bundle
    assert isinstance(bundle, PlatformBundle) and check.document is not None
    raw_spec = check.document.data["spec"]
    base_cluster = raw_spec.get("cluster") or {}
    environments: dict[str, PlatformEnvironment] = {}
    failed = False
    for index, (name, env) in enumerate(bundle.spec.environments.items()):
        raw_env = raw_spec["environments"][name]
        if isinstance(raw_env.get("cluster"), dict):
            merged_raw, merged = merge_override(
                base_cluster, raw_env["cluster"], ("spec", "cluster"), ("spec", "environments", name, "cluster")
            )
            try:
                cluster = ClusterSettings.model_validate(merged_raw)
            except ValidationError as error:
                _schema_errors(check, "Platform", error, merged, prefix=("spec", "cluster"), data=merged_raw)
                failed = True
                continue
        else:
            cluster = bundle.spec.cluster
        spec = resolve_environment(env.model_copy(update={"cluster": cluster}), index)
        environments[name] = PlatformEnvironment(name, index, spec, bundle.metadata.name, bundle.spec.isolation)
    if failed:
        return None
    return Platform(check.report.file, bundle, environments, document=check.document)


def _run_platform_rules(check: _FileCheck, platform: Platform) -> None:
    for rule in rules.PLATFORM_RULES:
        for finding in rule(platform):
            check.add(finding.path, finding.message, key=finding.key, rule=rule.__name__)


# --- projects ----------------------------------------------------------------------------------


_PER_PROJECT_KEYS = ("platform", "repository", "environments")


def _merge_project_override(
    check: _FileCheck, base: ProjectSpec | None, raw_spec: dict[str, Any], override: dict[str, Any], env_name: str
) -> tuple[ProjectSpec | None, Merged]:
    """The project spec of one environment: the override deep-merged over the raw spec. Only the
    top-level blocks the override touches are validated again; the rest is the base model's."""
    source = ("spec", "environments", env_name)
    touched = {key: value for key, value in override.items() if key in OVERRIDABLE_KEYS}
    for key in override.keys() - touched.keys():
        if key in _PER_PROJECT_KEYS:
            message = f"`{key}` is the same in every environment; set it once under `spec`"
        else:
            hint = did_you_mean(key, OVERRIDABLE_KEYS) or f"; an override may hold {', '.join(OVERRIDABLE_KEYS)}"
            message = f"unknown key '{key}'{hint}"
        check.add((*source, key), message, key=True)
    # Only the touched blocks are merged (and validated again): any other path of the spec maps
    # to itself (`Merged.source_of` falls back to the base), as it would had they been merged.
    raw_blocks = {key: raw_spec[key] for key in touched if key in raw_spec}
    merged_raw, merged = merge_override(raw_blocks, touched, ("spec",), source)
    update: dict[str, Any] = {}
    for key in touched:
        field_name, block = single_field_model(key)
        try:
            update[field_name] = getattr(block.model_validate({key: merged_raw[key]}), field_name)
        except ValidationError as error:
            _schema_errors(check, "Project", error, merged, prefix=("spec",), data={key: merged_raw[key]})
    if len(update) < len(override) or base is None:
        return None, merged
    return copied(base, update), merged


def _project_views(check: _FileCheck, platform: Platform | None) -> Iterable[tuple[rules.ProjectView, Merged | None]]:
    bundle = check.bundle
    assert isinstance(bundle, ProjectBundle) and check.document is not None
    raw_spec = {k: v for k, v in check.document.data["spec"].items() if k != "environments"}
    project = bundle.metadata.name
    names: list[str | None] = list(platform.environments) if platform else [*bundle.spec.environments] or [None]
    resolved_by_tier: dict[tuple[int, str], ProjectSpec] = {}
    defaults = ProjectDefaults(project, platform.bundle if platform else None, bundle.spec.deployment_pattern)
    for env_name in names:
        override = bundle.spec.environments.get(env_name, {}) if env_name else {}
        merged: Merged | None = None
        spec: ProjectSpec | None
        if override:
            spec, merged = _merge_project_override(check, bundle.spec, raw_spec, override, str(env_name))
            if spec is None:
                continue
        else:
            spec = bundle.spec
        platform_env = platform.environments.get(env_name) if platform and env_name else None
        tier = platform_env.tier if platform_env else "dev"
        key = (id(spec), tier)  # environments without overrides share the base spec: resolve it once per tier
        if key not in resolved_by_tier:
            resolved_by_tier[key] = defaults.resolve(spec, tier)
        resolved = resolved_by_tier[key]
        yield rules.ProjectView(bundle, resolved, env_name if platform_env else None, platform, platform_env), merged


def _check_project(check: _FileCheck, platforms: dict[str, Platform], platform_files: dict[str, str]) -> Project | None:
    """Semantic rules of one project in every environment of its platform (`platform_files`:
    the file of every platform in the set, valid or not)."""
    bundle = check.bundle
    assert isinstance(bundle, ProjectBundle)
    platform = platforms.get(bundle.spec.platform)
    environments: dict[str, ProjectEnvironment] = {}
    before = len(check.report.diagnostics)
    # A finding may hold in every environment (reported once) or only in some, because of their
    # overrides (reported naming them): (path, message, key, rule) -> environments.
    findings: dict[tuple[Path, str, bool, str], list[str]] = {}
    views = 0
    for view, merged in _project_views(check, platform):
        views += 1
        for rule in rules.PROJECT_RULES:
            for finding in rule(view):
                path = finding.path
                if merged is not None and path[:1] == ("spec",):
                    path = merged.source_of(path[1:])
                findings.setdefault((path, finding.message, finding.key, rule.__name__), []).append(
                    view.environment or ""
                )
        if view.platform_environment is not None and view.environment is not None:
            environments[view.environment] = ProjectEnvironment(
                view.environment, view.spec, view.platform_environment, bundle
            )
    for (path, message, key, rule_name), where in findings.items():
        if len(where) < views and all(where):
            label = "environment" if len(where) == 1 else "environments"
            message = f"in {label} {', '.join(where)}: {message}"
        check.add(path, message, key=key, rule=rule_name)
    if platform is None:
        if bundle.spec.platform in platform_files:
            check.report.blocked_by = platform_files[bundle.spec.platform]
        return None
    if len(check.report.diagnostics) > before:
        return None
    return Project(check.report.file, bundle, platform, environments)


def _value_at(document: Document | None, path: Path) -> object:
    """The value written at `path` in the document, or None where there is none."""
    value: object = document.data if document is not None else None
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return None
    return value


# --- the whole set -----------------------------------------------------------------------------


def _load(path: FsPath, context: bool) -> _FileCheck:
    display = sanitize(str(path))
    report = FileReport(display, context=context)
    try:
        document = load_file(path, display)
    except LoadError as error:
        report.diagnostics.append(error.diagnostic)
        failed = _FileCheck(report, None)
        failed.unloadable = True
        return failed
    except OSError as error:
        report.diagnostics.append(
            Diagnostic(display, 1, 1, "(document)", f"cannot read the file: {error.strerror or error}", "load")
        )
        return _FileCheck(report, None)
    check = _FileCheck(report, document)
    kind = _check_header(check)
    if kind:
        _validate_schema(check, kind)
    return check


def validate_paths(paths: Sequence[str | FsPath], *, with_context: bool = True) -> ValidationResult:
    """Validate files and directories; raises UsageError for paths that do not exist."""
    # Validation allocates millions of small, acyclic objects (values, positions, models) and
    # keeps them until the end: pausing the collector halves the time of validating a thousand files.
    with collector.paused():
        return _validate_paths(paths, with_context=with_context)


def _validate_paths(paths: Sequence[str | FsPath], *, with_context: bool) -> ValidationResult:
    rules.load_all()
    rejected: list[Diagnostic] = []
    real = _RealPaths()
    files = collect_files(paths, rejected, real)
    context_files = _context_files(files, real) if with_context else []
    refused = [_FileCheck(FileReport(d.file, diagnostics=[d]), None) for d in rejected]
    # Context first: a name clash is reported on the file being validated (the changed one),
    # and among the files being validated on the later one.
    checks = [_load(f, True) for f in context_files] + [_load(f, False) for f in files] + refused
    return _validate_checks(checks)


def _context_files(files: Sequence[FsPath], real: _RealPaths) -> list[FsPath]:
    """Every other bundle of the bundles roots of `files` (see `root.bundles_root`)."""
    targets = {real.of(f) for f in files}
    # A file's bundles root is its directory's: look for each directory once, not once per file
    # (each look lists the directory and sniffs its files for a Platform bundle).
    context: dict[FsPath, FsPath] = {}
    here = FsPath.cwd().resolve()
    directories = {target.parent for target in targets if target is not None}
    for root in sorted({bundles_root(directory) for directory in directories}):
        inside = real.of(root)
        for candidate in bundle_files_under(root):
            key = real.of(candidate)
            if key in targets or _link_problem(candidate, inside, real) is not None:
                continue  # validated anyway, or a context file that links out of the bundles: never read
            assert key is not None
            if key not in context:
                context[key] = _shown(candidate, here)
    return list(context.values())


def _shown(path: FsPath, here: FsPath) -> FsPath:
    """`path` relative to the working directory `here` when it lies below it, as the user names
    files: messages that cite a neighbouring bundle then read `bundles/platform.yaml:22:9`."""
    try:
        return path.relative_to(here)
    except ValueError:
        return path


def validate_documents(documents: Sequence[Document]) -> ValidationResult:
    """Validate already loaded documents (used by tests and the fuzzer)."""
    rules.load_all()
    checks = []
    for document in documents:
        check = _FileCheck(FileReport(document.file), document)
        kind = _check_header(check)
        if kind:
            _validate_schema(check, kind)
        checks.append(check)
    return _validate_checks(checks)


def _unloadable_platforms(wanted: set[str], unloadable: list[str]) -> dict[str, str]:
    """The platforms projects name that no bundle defines, but that a file which does not load
    (a syntax error) is most likely the bundle of: named `<platform>.yaml` or `platform.yaml`, or
    reading like it (`kind: Platform`, `name: <platform>`).
    Their projects wait for that file to be fixed, instead of each reporting a missing platform."""
    found: dict[str, str] = {}
    for name in sorted(wanted):
        named = [f for stem in (name, "platform") for f in unloadable if FsPath(f).stem == stem]
        file = next(iter(named), None) or next((f for f in unloadable if _declares_platform(f, name)), None)
        if file is not None:
            found[name] = file
    return found


def _declares_platform(file: str, name: str) -> bool:
    """Whether the text of a file that does not load reads like the Platform bundle `name`."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(16_384).decode("utf-8", "replace")
    except OSError:
        return False
    kind = re.search(r"^kind:\s*[\"']?Platform\b", head, re.MULTILINE)
    named = re.search(rf"\bname:\s*[\"']?{re.escape(name)}[\"']?\s*[,}}#\n]", head)
    return bool(kind and named)


def _validate_checks(checks: list[_FileCheck]) -> ValidationResult:
    platforms_ = [(c.report.file, c.bundle) for c in checks if isinstance(c.bundle, PlatformBundle)]
    projects_ = [(c.report.file, c.bundle) for c in checks if isinstance(c.bundle, ProjectBundle)]
    broken = {
        c.report.name: c.report.file
        for c in checks
        if c.report.kind == "Platform" and c.bundle is None and c.report.name
    }
    defined = {bundle.metadata.name for _, bundle in platforms_} | broken.keys()
    wanted = {bundle.spec.platform for _, bundle in projects_} - defined
    broken |= _unloadable_platforms(wanted, [c.report.file for c in checks if c.unloadable])
    set_view = rules.BundleSetView(
        platforms=platforms_,
        projects=projects_,
        broken_platforms=broken,
        documents={c.report.file: c.document for c in checks if c.document is not None},
    )
    by_file = {c.report.file: c for c in checks}
    for rule in rules.SET_RULES:
        for file, finding in rule(set_view):
            by_file[file].add(finding.path, finding.message, key=finding.key, rule=rule.__name__)

    platforms: dict[str, Platform] = {}
    for check in checks:
        if isinstance(check.bundle, PlatformBundle):
            platform = _resolve_platform(check)
            if platform is not None:
                _run_platform_rules(check, platform)
                if check.report.valid and platform.name not in platforms:
                    platforms[platform.name] = platform
    projects: dict[str, Project] = {}
    for check in checks:
        if isinstance(check.bundle, ProjectBundle):
            known = {b.metadata.name: file for file, b in set_view.platforms} | set_view.broken_platforms
            project = _check_project(check, platforms, known)
            if project is not None and project.name not in projects and check.report.valid:
                projects[project.name] = project
    return ValidationResult([c.report for c in checks], platforms, projects)
