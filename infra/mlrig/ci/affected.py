"""`mlrig affected --base REF [--head REF]`: the stacks a change affects, for CI matrices.

- a project bundle → that project's stacks (only the environments whose resolved spec changed);
- a platform bundle → the platform's stacks and every project stack on it, in the environments
  whose resolved settings changed (all of them when platform-wide settings changed); a changed
  admission (`spec.tenancy.projects.<name>`) → that project's stacks only;
- shared program code (`infra/`, `ci/`, `Pulumi.yaml`, `pyproject.toml`, and in a platform
  repository `requirements.lock`, which pins the mlrig that is the program, and `__main__.py`)
  → every stack;
- a stack config `Pulumi.<stack>.yaml` → that stack;
- anything else (docs, tests, workflows) → nothing.

Stacks that existed at BASE and have no bundle at HEAD are reported, never planned: those of a
deleted bundle, of an environment removed from the platform, and of a renamed project (same
file with a new `metadata.name`, or a new file for the same repository). Their resources stay
deployed until someone destroys them deliberately; the note says how.

Exit codes: 0 success, 1 invalid bundles at HEAD (or a tree holding paths that would leave the
scratch directory), 2 bad ref or not a git repository.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from rich.console import Console

from ..bundle.resolved import Platform, Project
from ..bundle.root import BUNDLE_SUFFIXES, BUNDLES_DIR
from ..bundle.validate import UsageError, ValidationResult, validate_paths
from ..console import print_diagnostics

SHARED_PREFIXES = ("infra/", "ci/")
SHARED_FILES = ("Pulumi.yaml", "pyproject.toml", "requirements.lock", "__main__.py")
# Metadata that changes no resource: owners become CODEOWNERS, descriptions are prose.
COSMETIC_METADATA = {"owners", "description"}


class GitError(Exception):
    """A git command failed: a bad ref, or not a repository (exit code 2)."""


class UnsafeTreePath(Exception):
    """A commit's tree names a path that would be written outside the scratch directory (`..`,
    an absolute path): git itself never creates one, so the commit was crafted (exit code 1)."""

    def __init__(self, ref: str, path: str):
        super().__init__(
            f"{ref}: the tree holds the path {path!r}, which leaves the repository; refusing to read it "
            "(no file was written)"
        )


@dataclass(frozen=True)
class AffectedStack:
    stack: str
    bundle: str
    environment: str
    tier: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {
            "stack": self.stack,
            "bundle": self.bundle,
            "environment": self.environment,
            "tier": self.tier,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class DeletedBundle:
    """Stacks of BASE that HEAD no longer has, and why: `deleted` (the bundle), `environment`
    (an environment removed from the platform) or `renamed` (to `renamed_to`)."""

    bundle: str
    stacks: tuple[str, ...]
    reason: str = "deleted"
    name: str = ""
    renamed_to: str | None = None
    environments: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"bundle": self.bundle, "stacks": list(self.stacks)}
        if self.reason != "deleted":
            payload["reason"] = self.reason
        if self.renamed_to:
            payload["renamedTo"] = self.renamed_to
        return payload


@dataclass
class Affected:
    stacks: list[AffectedStack] = field(default_factory=list)
    deleted: list[DeletedBundle] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stacks": [s.stack for s in self.stacks],
            "include": [s.as_dict() for s in self.stacks],
            "deleted": [d.as_dict() for d in self.deleted],
        }


# --- git -----------------------------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise GitError("git is not installed") from error
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()
        raise GitError(message[-1] if message else f"git {' '.join(args)} failed")
    return done.stdout


def verify_ref(root: Path, ref: str) -> None:
    """A commit, branch, tag or tree (CI uses the empty tree as the base of a first push)."""
    if ref.startswith("-"):
        raise GitError(f"'{ref}' is not a git ref")
    try:
        git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{tree}}")
    except GitError:
        raise GitError(f"unknown git ref '{ref}'") from None


def changed_paths(root: Path, base: str, head: str | None) -> list[str]:
    """Paths added, modified or deleted between base and head (or the working tree, with
    untracked files, when head is None)."""
    if head is None:
        diff = git(root, "diff", "--no-renames", "--name-only", "-z", base, "--")
        untracked = git(root, "ls-files", "-z", "--others", "--exclude-standard")
        names = diff.split("\0") + untracked.split("\0")
    else:
        names = git(root, "diff", "--no-renames", "--name-only", "-z", base, head, "--").split("\0")
    return sorted({n for n in names if n})


def bundles_at(root: Path, ref: str | None, scratch: Path) -> ValidationResult | None:
    """The bundles of a ref (or the working tree), validated; None when there are none."""
    if ref is None:
        directory = root / BUNDLES_DIR
        return validate_paths([directory]) if directory.is_dir() else None
    listing = git(root, "ls-tree", "-r", "-z", "--name-only", ref, "--", f"{BUNDLES_DIR}/")
    files = [f for f in listing.split("\0") if f.endswith(BUNDLE_SUFFIXES)]
    if not files:
        return None
    targets = [(file, scratch_target(scratch, ref, file)) for file in files]
    for file, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(git(root, "show", f"{ref}:{file}"), encoding="utf-8")
    return validate_paths([scratch / BUNDLES_DIR])


def scratch_target(scratch: Path, ref: str, file: str) -> Path:
    """Where a bundle of the tree is copied: inside `scratch`, or UnsafeTreePath. Checked for
    every file before the first is written."""
    pure = PurePosixPath(file)
    if pure.is_absolute() or any(part in ("", ".", "..") for part in file.split("/")) or "\\" in file:
        raise UnsafeTreePath(ref, file)
    target = scratch.joinpath(*pure.parts)
    if not target.resolve().is_relative_to(scratch.resolve()):
        raise UnsafeTreePath(ref, file)
    return target


# --- bundles by path -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleSet:
    """The valid bundles of one side of the change, by path relative to the repository root."""

    platforms: dict[str, Platform]
    projects: dict[str, Project]

    @classmethod
    def of(cls, result: ValidationResult | None, base_dir: Path) -> BundleSet:
        if result is None:
            return cls({}, {})
        return cls(
            {_relative(p.file, base_dir): p for p in result.platforms.values()},
            {_relative(p.file, base_dir): p for p in result.projects.values()},
        )

    def platform_named(self, name: str) -> Platform | None:
        return next((p for p in self.platforms.values() if p.name == name), None)


def _relative(file: str, base_dir: Path) -> str:
    path = Path(file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        return absolute.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _identity(bundle: Any) -> dict[str, Any]:
    """What of a bundle outside `spec.environments` / `spec.cluster` shapes every stack (a
    platform's admissions, `spec.tenancy.projects`, shape only their own project's stacks)."""
    data: dict[str, Any] = bundle.model_dump(mode="json", exclude={"spec": {"environments", "cluster"}})
    data["metadata"] = {k: v for k, v in data["metadata"].items() if k not in COSMETIC_METADATA}
    tenancy = data["spec"].get("tenancy")
    if isinstance(tenancy, dict):
        data["spec"]["tenancy"] = {k: v for k, v in tenancy.items() if k != "projects"}
    return data


def changed_admissions(old: Platform | None, new: Platform) -> set[str]:
    """Projects whose admission (`spec.tenancy.projects.<name>`) was added, removed or changed."""
    before = old.bundle.spec.tenancy.projects if old is not None else {}
    after = new.bundle.spec.tenancy.projects
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def changed_platform_environments(old: Platform | None, new: Platform) -> list[str]:
    if old is None or _identity(old.bundle) != _identity(new.bundle):
        return list(new.environments)
    changed = []
    for name, env in new.environments.items():
        before = old.environments.get(name)
        if before is None or (before.index, before.spec) != (env.index, env.spec):
            changed.append(name)
    return changed


def changed_project_environments(old: Project | None, new: Project) -> list[str]:
    if old is None or _identity(old.bundle)["metadata"] != _identity(new.bundle)["metadata"]:
        return list(new.environments)
    changed = []
    for name, env in new.environments.items():
        before = old.environments.get(name)
        if before is None or _spec(before.spec) != _spec(env.spec):
            changed.append(name)
    return changed


def _spec(spec: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = spec.model_dump(mode="json", exclude={"environments"})
    return dumped


# --- the computation -----------------------------------------------------------------------------


def _is_shared(path: str) -> bool:
    return path in SHARED_FILES or path.startswith(SHARED_PREFIXES)


def _is_bundle(path: str) -> bool:
    return path.startswith(f"{BUNDLES_DIR}/") and path.endswith(BUNDLE_SUFFIXES)


def _stack_config(path: str) -> str | None:
    if "/" in path or not path.startswith("Pulumi.") or not path.endswith(".yaml") or path == "Pulumi.yaml":
        return None
    return path[len("Pulumi.") : -len(".yaml")]


def all_stacks(new: BundleSet) -> dict[tuple[str, str], AffectedStack]:
    """(bundle name, environment) → stack, in deployment order: per environment, the platform
    first (project stacks read its outputs), then the projects."""
    stacks: dict[tuple[str, str], AffectedStack] = {}
    for path, platform in sorted(new.platforms.items(), key=lambda item: item[1].name):
        for env in platform.environments.values():
            stacks[(platform.name, env.name)] = AffectedStack(env.stack, path, env.name, env.tier, "Platform")
    for path, project in sorted(new.projects.items(), key=lambda item: item[1].name):
        for project_env in project.environments.values():
            stacks[(project.name, project_env.name)] = AffectedStack(
                project_env.stack, path, project_env.name, project_env.tier, "Project"
            )
    return stacks


def _order(stack: AffectedStack, new: BundleSet) -> tuple[int, int, str]:
    platform = next(iter(new.platforms.values()), None)
    index = (
        platform.environments[stack.environment].index if platform and stack.environment in platform.environments else 0
    )
    return (index, 0 if stack.kind == "Platform" else 1, stack.stack)


def compute_affected(paths: Sequence[str], old: BundleSet | None, new: BundleSet) -> Affected:
    """`old` may be None when no bundle changed (it is then never needed)."""
    stacks = all_stacks(new)
    chosen: set[tuple[str, str]] = set()
    deleted: list[DeletedBundle] = []
    if any(_is_shared(p) for p in paths):
        chosen.update(stacks)
    by_stack = {s.stack: key for key, s in stacks.items()}
    for path in paths:
        stack = _stack_config(path)
        if stack in by_stack:
            chosen.add(by_stack[stack])
    previous = old or BundleSet({}, {})
    for path in filter(_is_bundle, paths):
        if path in new.platforms:
            platform = new.platforms[path]
            envs = changed_platform_environments(previous.platforms.get(path), platform)
            chosen.update((platform.name, e) for e in envs)
            admissions = changed_admissions(previous.platforms.get(path), platform)
            chosen.update(
                (project.name, e)
                for project in new.projects.values()
                if project.platform.name == platform.name
                for e in project.environments
                if e in envs or project.name in admissions
            )
        elif path in new.projects:
            project = new.projects[path]
            envs = changed_project_environments(previous.projects.get(path), project)
            chosen.update((project.name, e) for e in envs)
    if any(_is_bundle(p) for p in paths):
        deleted = orphaned_stacks(previous, new)
    selected = sorted((stacks[key] for key in chosen if key in stacks), key=lambda s: _order(s, new))
    return Affected(selected, deleted)


def orphaned_stacks(old: BundleSet, new: BundleSet) -> list[DeletedBundle]:
    """The stacks of `old` that `new` does not have, grouped by bundle, with the reason."""
    remaining_names = {s.stack for s in all_stacks(new).values()}
    renames = _renames(old, new)
    found: list[DeletedBundle] = []
    for path, bundle in sorted(_by_path(old), key=lambda item: item[0]):
        gone = [env for env in bundle.environments.values() if env.stack not in remaining_names]
        if not gone:
            continue
        stacks = tuple(env.stack for env in gone)
        if bundle.name in renames:
            found.append(DeletedBundle(path, stacks, "renamed", bundle.name, renames[bundle.name]))
        elif _still_named(new, bundle.name):
            found.append(DeletedBundle(path, stacks, "environment", bundle.name, None, tuple(e.name for e in gone)))
        else:
            found.append(DeletedBundle(path, stacks, "deleted", bundle.name))
    return found


def _by_path(bundles: BundleSet) -> list[tuple[str, Platform | Project]]:
    return [*bundles.platforms.items(), *bundles.projects.items()]


def _still_named(bundles: BundleSet, name: str) -> bool:
    return any(b.name == name for _, b in _by_path(bundles))


def _renames(old: BundleSet, new: BundleSet) -> dict[str, str]:
    """Old name → new name of bundles renamed between the two sets: the same file under a new
    `metadata.name`, or (projects) a vanished name whose repository a new name now has."""
    renames: dict[str, str] = {}
    now = dict(_by_path(new))
    for path, before in _by_path(old):
        after = now.get(path)
        same_file = after is not None and after.bundle.kind == before.bundle.kind
        if same_file and after is not None and after.name != before.name and not _still_named(new, before.name):
            renames[before.name] = after.name
    old_names = {b.name for _, b in _by_path(old)}
    by_repository = {p.bundle.spec.repository: p.name for p in new.projects.values() if p.name not in old_names}
    for before in old.projects.values():
        if before.name not in renames and not _still_named(new, before.name):
            successor = by_repository.get(before.bundle.spec.repository)
            if successor:
                renames[before.name] = successor
    return renames


def destroy_commands(stack: str) -> str:
    return f"pulumi destroy -s {stack} && pulumi stack rm {stack}"


def orphan_note(gone: DeletedBundle) -> str:
    """What happened to the stacks, that their resources are still deployed, and the commands
    that destroy them (several lines)."""
    stacks = ", ".join(gone.stacks)
    if gone.reason == "renamed":
        what = (
            f"{gone.name} was renamed to {gone.renamed_to} ({gone.bundle}): its old stacks {stacks} keep their "
            f"resources beside the new {gone.renamed_to}.* stacks, and both manage the same repository and names"
        )
    elif gone.reason == "environment":
        what = (
            f"environment {', '.join(gone.environments)} was removed from the platform: {stacks} "
            f"({gone.bundle}) keep their resources"
        )
    else:
        what = f"{gone.bundle} was deleted: its stacks {stacks} keep their resources"
    lines = [f"{what}. They are not previewed or applied any more; destroy them deliberately:"]
    lines += [f"  {destroy_commands(stack)}" for stack in gone.stacks]
    lines.append(
        "  (protected prod resources: `pulumi state unprotect --all -s <stack>` first; retained ones stay in AWS)"
    )
    return "\n".join(lines)


def affected_stacks(root: Path, base: str, head: str | None) -> Affected:
    """Raises GitError for a bad ref and UsageError/BundleInvalid for the bundles at head."""
    try:
        git(root, "rev-parse", "--git-dir")
    except GitError:
        raise GitError(
            f"{root.resolve()} is not in a git repository; run mlrig affected in the platform repository's "
            "clone, or pass --root DIR"
        ) from None
    verify_ref(root, base)
    if head is not None:
        verify_ref(root, head)
    paths = changed_paths(root, base, head)
    with tempfile.TemporaryDirectory(prefix="mlrig-affected-") as scratch:
        new_dir = Path(scratch) / "head"
        new_result = bundles_at(root, head, new_dir)
        if new_result is not None and not new_result.valid:
            raise InvalidBundles(new_result)
        new = BundleSet.of(new_result, root if head is None else new_dir)
        old: BundleSet | None = None
        if any(_is_bundle(p) for p in paths):
            old_dir = Path(scratch) / "base"
            old = BundleSet.of(bundles_at(root, base, old_dir), old_dir)
        return compute_affected(paths, old, new)


class InvalidBundles(Exception):
    def __init__(self, result: ValidationResult):
        self.result = result
        super().__init__("the bundles are invalid")


# --- the command ----------------------------------------------------------------------------------


def render_text(affected: Affected) -> Iterable[str]:
    return [s.stack for s in affected.stacks]


def run_affected_command(root: str, base: str, head: str | None, fmt: str, *, stdout: Console, stderr: Console) -> int:
    base_dir = Path(root)
    if not base_dir.is_dir():
        stderr.print(f"error: {root}: not a directory", markup=False)
        return 2
    try:
        affected = affected_stacks(base_dir, base, head)
    except GitError as error:
        stderr.print(f"error: {error}", markup=False)
        return 2
    except UsageError as error:
        stderr.print(f"error: {error}", markup=False)
        return 2
    except UnsafeTreePath as error:
        stderr.print(f"error: {error}", markup=False)
        return 1
    except InvalidBundles as invalid:
        print_diagnostics(stderr, invalid.result.diagnostics)
        stderr.print("error: the bundles are invalid; cannot tell which stacks a change affects", markup=False)
        return 1
    for gone in affected.deleted:
        stderr.print(f"note: {orphan_note(gone)}", markup=False)
    if fmt == "json":
        stdout.print(json.dumps(affected.as_dict(), indent=2), markup=False, highlight=False, emoji=False)
    else:
        for line in render_text(affected):
            stdout.print(line, markup=False, highlight=False, emoji=False)
    return 0
