"""`mlrig generate [--check]`: every file derived from `bundles/`, computed in memory, then written.

Generated: `Pulumi.<stack>.yaml` for every bundle and environment, the platform repository's
workflows in `.github/workflows/`, each project repository's workflows in
`.github/projects/<project>/.github/workflows/` (for review; the project stack commits them),
`.github/CODEOWNERS`, `schemas/bundle.schema.json`, the deployer role's documents in `aws/`
(`mlrig-deployer-policy.json`, and under `account` isolation `mlrig-deployer-trust-<account>.json`
per environment account) and (when its renderer is installed) `docs/bundle-reference.md`. Stack
configs and workflows carry a header; files with that header, and trust documents, that no
bundle produces any more are deleted. The run is all or nothing: every new file is first
written beside its target and every file to delete moved aside, and only then are they renamed
into place, so a failed write (a directory that is not writable, a file where a directory must
be) leaves the tree as it was, and an interrupted run leaves old or new files, never half.

`--check` writes nothing and exits 1 listing every stale, missing or extra file (`--diff`: with
a unified diff of each). A deleted stack config means a stack left without a bundle (a deleted
bundle or environment, a renamed project): its resources are still deployed, and a note on
stderr says so and how to destroy them.

Never outside `--root`: a path to write or delete that runs through a symbolic link, or resolves
outside the root, stops the run before anything is written (exit 1). A bundle value that cannot be
written into a generated file safely (`mlrig.ci.render.UnsafeValue`) does the same.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Iterable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from rich.console import Console

from . import interrupt, state
from .bundle.loader import LoadError, load_text
from .bundle.resolved import Platform, Project, locate
from .bundle.root import BUNDLES_DIR
from .bundle.validate import UsageError, ValidationResult, validate_paths
from .ci.affected import DeletedBundle, GitError, git, orphan_note
from .ci.render import (
    GENERATED_HEADER,
    WORKFLOWS_DIR,
    UnsafeValue,
    is_mlrig_source,
    render_codeowners,
    render_platform_workflows,
    render_project_workflows,
)
from .console import print_diagnostics

SCHEMA_FILE = "schemas/bundle.schema.json"
REFERENCE_FILE = "docs/bundle-reference.md"
CODEOWNERS_FILE = ".github/CODEOWNERS"
# Each project repository's workflows, as its stack commits them (GitHub does not run them here).
PROJECT_WORKFLOWS_DIR = ".github/projects"
# Keys Pulumi itself writes into a stack config (`pulumi stack init`); kept across regenerations.
# (`secretsprovider` is mlrig's: each environment's own key, from `spec.state.secretsProvider`.)
PULUMI_OWNED_KEYS = ("encryptedkey", "encryptionsalt")
# Stack settings that are not derived from bundles: the image tag CI sets after building images.
PRESERVED_CONFIG_KEYS = ("mlrig:imageTag",)


@dataclass(frozen=True)
class GeneratedFile:
    path: str  # relative to the repository root, with forward slashes
    content: str


@dataclass(frozen=True)
class Change:
    path: str
    status: str  # "missing" | "stale" | "extra"
    summary: str = ""


# --- what the bundles produce ------------------------------------------------------------------


def relative_bundle_path(root: Path, file: str) -> str:
    path = Path(file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def stack_config(
    stack: str, bundle_path: str, environment: str, region: str, secrets_provider: str, preserved: dict[str, Any]
) -> str:
    config: dict[str, Any] = {
        "aws:region": region,
        "mlrig:bundle": bundle_path,
        "mlrig:environment": environment,
    }
    config.update(preserved.get("config", {}))
    document: dict[str, Any] = {"secretsprovider": secrets_provider}
    document.update({k: v for k, v in preserved.items() if k != "config"})
    document["config"] = config
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return f"# {GENERATED_HEADER}\n# Stack {stack}: bundle {bundle_path}, environment {environment}.\n{body}"


def preserved_pulumi_keys(path: Path) -> dict[str, Any]:
    """What an existing stack config holds that bundles do not decide: the secrets-provider keys
    `pulumi stack init` wrote and the image tag CI set."""
    try:
        existing = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    if not isinstance(existing, dict):
        return {}
    preserved: dict[str, Any] = {key: existing[key] for key in PULUMI_OWNED_KEYS if key in existing}
    config = existing.get("config")
    if isinstance(config, dict):
        kept = {key: config[key] for key in PRESERVED_CONFIG_KEYS if key in config}
        if kept:
            preserved["config"] = kept
    return preserved


def stack_configs(root: Path, platforms: Iterable[Platform], projects: Iterable[Project]) -> list[GeneratedFile]:
    files = []
    entries: list[tuple[str, str, str, str, str]] = []  # stack, bundle file, environment, region, provider
    for platform in platforms:
        entries += [
            (env.stack, platform.file, env.name, env.region, state.secrets_provider(platform, env))
            for env in platform.environments.values()
        ]
    for project in projects:
        entries += [
            (
                env.stack,
                project.file,
                env.name,
                env.platform_environment.region,
                state.secrets_provider(project.platform, env.platform_environment),
            )
            for env in project.environments.values()
        ]
    for stack, file, environment, region, provider in entries:
        path = f"Pulumi.{stack}.yaml"
        preserved = preserved_pulumi_keys(root / path) if path_problem(root, path) is None else {}
        bundle_path = relative_bundle_path(root, file)
        files.append(GeneratedFile(path, stack_config(stack, bundle_path, environment, region, provider, preserved)))
    return files


def deployer_documents(platforms: Iterable[Platform]) -> list[GeneratedFile]:
    """The deployer role's permissions and trust documents (JSON: no header; `owned_files` knows
    them by name). The same path from two platforms is one file when they agree."""
    from .init.policy import deployer_files

    documents: dict[str, str] = {}
    for platform in platforms:
        for path, text in deployer_files(platform).items():
            if documents.setdefault(path, text) != text:
                raise UnsafeValue(f"platform {platform.name}", path, "one trust policy per account across platforms")
    return [GeneratedFile(path, text) for path, text in documents.items()]


def reference_markdown() -> str | None:
    """The bundle reference, when the renderer is part of this installation."""
    try:
        from .bundle.reference import render_reference_markdown  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    text: str = render_reference_markdown()
    return text


def generated_files(root: Path, result: ValidationResult) -> list[GeneratedFile]:
    from .bundle.schema import bundle_schema_text

    platforms = sorted(result.platforms.values(), key=lambda p: p.name)
    projects = sorted(result.projects.values(), key=lambda p: p.name)
    files = stack_configs(root, platforms, projects)
    from_checkout = is_mlrig_source(root)
    for platform in platforms:
        rendered = render_platform_workflows(platform, projects, mlrig_from_checkout=from_checkout)
        files += [GeneratedFile(path, text) for path, text in rendered.items()]
    for project in projects:
        # Reviewable here, committed to the project repository by its stack (or copied by hand).
        rendered = render_project_workflows(project)
        files += [
            GeneratedFile(f"{PROJECT_WORKFLOWS_DIR}/{project.name}/{path}", text) for path, text in rendered.items()
        ]
    files += deployer_documents(platforms)
    bundle_paths = {p.name: relative_bundle_path(root, p.file) for p in platforms}
    bundle_paths.update({p.name: relative_bundle_path(root, p.file) for p in projects})
    files.append(GeneratedFile(CODEOWNERS_FILE, render_codeowners(platforms, projects, bundle_paths)))
    files.append(GeneratedFile(SCHEMA_FILE, bundle_schema_text()))
    reference = reference_markdown()
    if reference is not None:
        files.append(GeneratedFile(REFERENCE_FILE, reference))
    return sorted(files, key=lambda f: f.path)


def owned_files(root: Path) -> list[str]:
    """Files an earlier run generated (they carry the header) that may have become stale."""
    candidates = [p for p in root.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml"]
    workflows = root / WORKFLOWS_DIR
    if workflows.is_dir():
        candidates += [p for p in workflows.iterdir() if p.suffix in (".yml", ".yaml")]
    project_workflows = root / PROJECT_WORKFLOWS_DIR
    if project_workflows.is_dir():
        candidates += [p for p in project_workflows.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()]
    owned = owned_documents(root)
    for path in candidates:
        try:
            with path.open(encoding="utf-8") as handle:
                head = handle.readline()
        except (OSError, UnicodeDecodeError):
            continue
        if GENERATED_HEADER in head:
            owned.append(path.relative_to(root).as_posix())
    return sorted(owned)


def owned_documents(root: Path) -> list[str]:
    """The deployer documents in `aws/`, known by name (JSON carries no header)."""
    from .init.policy import POLICY_FILE, TRUST_FILE

    directory = root / PurePosixPath(POLICY_FILE).parent
    if not directory.is_dir():
        return []
    names = [p.relative_to(root).as_posix() for p in directory.iterdir() if p.is_file()]
    return [name for name in names if name == POLICY_FILE or TRUST_FILE.fullmatch(name)]


# --- never outside the root ----------------------------------------------------------------------


def path_problem(root: Path, relative: str) -> str | None:
    """Why writing or deleting `relative` (a generated path) could reach outside `root`: a part
    that is a symbolic link (a committed link is repository content, so possibly hostile), a path
    that resolves outside, or one that is not plain. None when the path is safe."""
    pure = PurePosixPath(relative)
    if not pure.parts or pure.is_absolute() or ".." in pure.parts:
        return "is not a plain path inside the repository"
    current = root
    for part in pure.parts:
        current = current / part
        if current.is_symlink():
            link = current.relative_to(root).as_posix()
            return f"{link} is a symbolic link (to {os.readlink(current)}); replace it with a directory or file"
    try:
        (root / relative).resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return "resolves outside the repository"
    return None


def unsafe_paths(root: Path, paths: Iterable[str]) -> list[tuple[str, str]]:
    found = ((path, path_problem(root, path)) for path in sorted(set(paths)))
    return [(path, problem) for path, problem in found if problem is not None]


# --- comparing and writing -----------------------------------------------------------------------


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return ""


def diff_summary(old: str, new: str) -> str:
    added = removed = 0
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return f"+{added} -{removed} lines"


def changes(root: Path, files: list[GeneratedFile]) -> list[Change]:
    found = []
    expected = {f.path for f in files}
    for file in files:
        try:
            current = read_text(root / file.path)
        except OSError as error:  # a directory where the file goes, a file where a directory does
            raise WriteFailed(file_problem(root, file.path, error, "read")) from None
        if current is None:
            found.append(Change(file.path, "missing", f"+{len(file.content.splitlines())} lines"))
        elif current != file.content:
            found.append(Change(file.path, "stale", diff_summary(current, file.content)))
    for path in owned_files(root):
        if path not in expected:
            found.append(Change(path, "extra", "its bundle or environment no longer exists"))
    return found


class WriteFailed(Exception):
    """A generated file could not be written or deleted; the tree is as it was before the run."""


def file_problem(root: Path, relative: str, error: OSError, verb: str = "write") -> str:
    """What stops mlrig from writing or deleting `relative`, named where the user can act: the
    file that stands where a directory must be, the directory that is not writable, the
    directory that stands where a file must be. Paths are relative to `root`."""
    target = root / relative
    current = root
    for part in PurePosixPath(relative).parent.parts:
        current = current / part
        if current.exists() and not current.is_dir():
            where = current.relative_to(root).as_posix()
            return f"{where} is a file, but mlrig writes {relative} inside a directory of that name: move the file away"
    if target.is_dir():
        return f"{relative} is a directory where mlrig writes a file: move the directory away"
    if isinstance(error, PermissionError):
        existing = target if verb == "read" and target.exists() else target.parent
        while not existing.exists() and existing != root:
            existing = existing.parent
        where = existing.relative_to(root).as_posix() if existing != root else "the repository root"
        access = "readable" if verb == "read" else "writable"
        return f"cannot {verb} {relative}: {where} is not {access} by this user: make it {access}, or run as its owner"
    return f"cannot {verb} {relative}: {error.strerror or error}"


def _make_directories(directory: Path, made: list[Path]) -> None:
    """`mkdir -p directory`, recording each directory created (outermost first)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir()
        made.append(path)


@dataclass
class _Staged:
    """What `apply_changes` did before anything took effect, so that it can be undone."""

    written: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, target)
    aside: list[tuple[Path, Path]] = field(default_factory=list)  # (moved-aside name, original)
    made: list[Path] = field(default_factory=list)  # directories created

    def undo(self) -> None:
        for temporary, _ in self.written:
            with suppress(OSError):
                temporary.unlink(missing_ok=True)
        for moved, original in reversed(self.aside):
            with suppress(OSError):
                os.rename(moved, original)
        for directory in reversed(self.made):
            with suppress(OSError):
                directory.rmdir()


def apply_changes(root: Path, files: list[GeneratedFile], found: list[Change]) -> None:
    """Write every changed file and delete every extra one, all or nothing. First each new
    content is written to a temporary file beside its target and each file to delete is moved
    aside under a temporary name; only when all of that worked are the temporary files renamed
    into place and the moved-aside ones removed. A failure on the way (a directory that is not
    writable, a file where a directory must be, a full disk) undoes what was staged and raises
    WriteFailed, so a failed run leaves the tree exactly as it was."""
    contents = {f.path: f.content for f in files}
    staged = _Staged()
    with ExitStack() as registered:  # an interrupt removes the temporary files written so far
        current = ""
        try:
            for change in found:
                current = change.path
                target = root / change.path
                if change.status == "extra":
                    if target.exists():
                        moved = target.with_name(f".{target.name}.{os.getpid()}.deleted")
                        os.rename(target, moved)
                        staged.aside.append((moved, target))
                        # Interrupted, the run deletes what it was deleting, and leaves no litter.
                        registered.enter_context(interrupt.removed_if_interrupted(moved))
                    continue
                _make_directories(target.parent, staged.made)
                temporary = _stage(target, contents[change.path])
                registered.enter_context(interrupt.removed_if_interrupted(temporary))
                staged.written.append((temporary, target))
        except BaseException as error:
            staged.undo()
            if isinstance(error, OSError):
                raise WriteFailed(file_problem(root, current, error)) from None
            raise
        for temporary, target in staged.written:
            os.replace(temporary, target)
    for moved, _ in staged.aside:
        moved.unlink(missing_ok=True)


def _stage(target: Path, content: str) -> Path:
    """`content` in a new temporary file beside `target` (removed again if writing it fails)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(content)
        os.chmod(temporary, 0o644)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


# --- the command ----------------------------------------------------------------------------------


VERBS = {"missing": "created", "stale": "updated", "extra": "deleted"}


def unified_diff(root: Path, files: list[GeneratedFile], found: list[Change]) -> str:
    """The unified diff that `mlrig generate` would apply."""
    contents = {f.path: f.content for f in files}
    chunks: list[str] = []
    for change in found:
        before = read_text(root / change.path) or ""
        after = "" if change.status == "extra" else contents[change.path]
        chunks.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                fromfile="/dev/null" if change.status == "missing" else f"a/{change.path}",
                tofile="/dev/null" if change.status == "extra" else f"b/{change.path}",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def orphaned_stacks(root: Path, found: list[Change], result: ValidationResult) -> list[DeletedBundle]:
    """Stack configs about to be deleted, as stacks left without a bundle, grouped by their
    former bundle, with the reason (read from the config itself: its bundle and environment)."""
    targets: list[Platform | Project] = [*result.platforms.values(), *result.projects.values()]
    bundles = {relative_bundle_path(root, b.file): b for b in targets}
    names = {b.name for b in bundles.values()}
    groups: dict[tuple[str, str, str | None], list[tuple[str, str]]] = {}
    for change in found:
        stack = _stack_of(change)
        if stack is None:
            continue
        config = preserved_config(root / change.path)
        bundle_path = str(config.get("mlrig:bundle", "?"))
        environment = str(config.get("mlrig:environment", stack.rsplit(".", 1)[-1]))
        old_name = stack.rsplit(".", 1)[0]
        now = bundles.get(bundle_path) or _successor(root, bundle_path, result, old_name)
        key: tuple[str, str, str | None]
        if now is not None and now.name != old_name and old_name not in names:
            key = (bundle_path, "renamed", now.name)
        elif old_name in names:
            key = (bundle_path, "environment", None)
        else:
            key = (bundle_path, "deleted", None)
        groups.setdefault(key, []).append((stack, environment))
    return [
        DeletedBundle(
            bundle,
            tuple(s for s, _ in stacks),
            reason,
            stacks[0][0].rsplit(".", 1)[0],
            renamed_to,
            tuple(e for _, e in stacks),
        )
        for (bundle, reason, renamed_to), stacks in groups.items()
    ]


def _successor(root: Path, bundle_path: str, result: ValidationResult, old_name: str) -> Project | None:
    """A project renamed into a new file (a bundle's file is named after it): the project that
    now has the repository the committed `bundle_path` had. None without git or a match."""
    try:
        text = git(root, "show", f"HEAD:{bundle_path}")
        document = load_text(text, bundle_path).data
    except (GitError, LoadError, OSError):
        return None
    spec = document.get("spec") if isinstance(document, dict) else None
    repository = spec.get("repository") if isinstance(spec, dict) else None
    matches = [p for p in result.projects.values() if p.bundle.spec.repository == repository and p.name != old_name]
    return matches[0] if len(matches) == 1 else None


def _stack_of(change: Change) -> str | None:
    name = Path(change.path).name
    if change.status != "extra" or "/" in change.path or not name.startswith("Pulumi.") or name == "Pulumi.yaml":
        return None
    return name[len("Pulumi.") : -len(".yaml")]


def preserved_config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    config = data.get("config") if isinstance(data, dict) else None
    return config if isinstance(config, dict) else {}


def lock_note(root: Path) -> str | None:
    """A platform repository pins mlrig in its lock: generating with another version writes
    files CI (which installs from the lock) would not."""
    from .init.lock import LOCK_FILE, installed_version, locked_version

    try:
        text = (root / LOCK_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    pinned, running = locked_version(text), installed_version()
    if pinned is None or pinned == running:
        return None
    return (
        f"{LOCK_FILE} pins mlrig {pinned} but this is mlrig {running}: install the locked version "
        f"(pip install --require-hashes -r {LOCK_FILE}) and generate again, or the files will differ from CI's"
    )


def run_generate_command(root: str, *, check: bool, stdout: Console, stderr: Console, diff: bool = False) -> int:
    base = Path(root)
    if not base.is_dir():
        stderr.print(f"error: {root}: not a directory", markup=False)
        return 2
    if not (base / BUNDLES_DIR).is_dir():
        stderr.print(
            f"error: {base / BUNDLES_DIR}: no bundles directory (is --root the repository root?)", markup=False
        )
        return 2
    try:
        result = validate_paths([base / BUNDLES_DIR])
    except UsageError as error:
        stderr.print(f"error: {error}", markup=False)
        return 2
    if not result.reports:
        # As `mlrig validate` refuses it: an emptied bundles/ (a bad checkout, the wrong --root)
        # would otherwise delete every stack config and workflow as if each bundle were removed.
        stderr.print(
            f"error: {base / BUNDLES_DIR}: no bundle files (*.yaml, *.yml); nothing was generated or deleted "
            "(is --root the platform repository?)",
            markup=False,
        )
        return 2
    if not result.valid:
        print_diagnostics(stderr, result.diagnostics)
        stderr.print("error: the bundles are invalid; nothing was generated (see `mlrig validate`)", markup=False)
        return 1
    several = several_platforms(base, result)
    if several:
        stderr.print(f"error: {several}", markup=False)
        stderr.print("error: nothing was generated", markup=False)
        return 1
    note = lock_note(base)
    if note:
        stderr.print(f"warning: {note}", markup=False)
    try:
        files = generated_files(base, result)
    except UnsafeValue as error:
        stderr.print(f"error: {error}", markup=False)
        stderr.print("error: nothing was generated", markup=False)
        return 1
    try:
        found = changes(base, files)
    except WriteFailed as error:
        stderr.print(f"error: {error}", markup=False)
        stderr.print("error: nothing was generated", markup=False)
        return 2
    unsafe = unsafe_paths(base, [f.path for f in files] + [c.path for c in found])
    if unsafe:
        for path, problem in unsafe:
            stderr.print(f"error: {path}: {problem}", markup=False)
        stderr.print(
            "error: mlrig generate never writes or deletes outside the repository; nothing was generated",
            markup=False,
        )
        return 1
    orphans = orphaned_stacks(base, found, result)
    if check:
        if diff and found:
            stdout.file.write(unified_diff(base, files, found))
        code = report_check(found, stdout, stderr)
    else:
        try:
            apply_changes(base, files, found)
        except WriteFailed as error:
            stderr.print(f"error: {error}", markup=False)
            stderr.print("error: nothing was generated; the repository is as it was", markup=False)
            return 2
        for change in found:
            stdout.print(f"{VERBS[change.status]} {change.path} ({change.summary})", markup=False)
        code = None
    for gone in orphans:
        stderr.print(f"note: {orphan_note(gone)}", markup=False)
    if code is not None:
        return code
    unchanged = len(files) - sum(c.status != "extra" for c in found)
    stdout.print(f"{len(found)} file(s) changed, {unchanged} unchanged", markup=False)
    return 0


def several_platforms(root: Path, result: ValidationResult) -> str | None:
    """Why these bundles cannot be generated into one repository, or None: a platform
    repository's workflows (`.github/workflows/`) deploy one platform's stacks with that
    platform's roles and state, so a second Platform bundle would silently replace the first's
    workflows (every file of the same name, written twice)."""
    platforms = sorted(result.platforms.values(), key=lambda p: p.name)
    if len(platforms) < 2:
        return None
    where = [
        f"{locate(relative_bundle_path(root, p.file), p.document, ('metadata', 'name'))} ({p.name})" for p in platforms
    ]
    return (
        f"{BUNDLES_DIR}/ holds {len(platforms)} Platform bundles: {', '.join(where)}; a platform repository holds "
        f"one, since its workflows in {WORKFLOWS_DIR}/ deploy one platform's stacks with that platform's roles: "
        "keep one Platform bundle here and move each other platform, with its projects, to a repository of its own"
    )


def report_check(found: list[Change], stdout: Console, stderr: Console) -> int:
    if not found:
        stdout.print("generated files are up to date", markup=False)
        return 0
    for change in found:
        stderr.print(f"{change.status}: {change.path} ({change.summary})", markup=False)
    stderr.print(
        f"error: {len(found)} generated file(s) out of date; run `mlrig generate` and commit the result", markup=False
    )
    return 1
