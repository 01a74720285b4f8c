"""`mlrig migrate [PATH…] [--check] [--diff]`: bring bundles written for an older mlrig up to date.

Each file is first read by mlrig's own safe loader (so bad YAML gets `validate`'s diagnostics and
hostile files are refused before ruamel sees them), then every applicable migration runs in
memory. `--check` writes nothing and exits 1 when a migration is pending; `--diff` prints what
would change; otherwise every changed or renamed file is written at once: all files or none.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from ..bundle.loader import LoadError, load_file
from ..console import print_diagnostics
from .document import Document, load_documents
from .registry import applicable


class MigrateError(Exception):
    pass


def pending_reasons(documents: list[Document]) -> list[tuple[str, str]]:
    return [(m.id, reason) for m in applicable(documents) for reason in m.pending(documents)]


def migrate(documents: list[Document]) -> list[tuple[str, str]]:
    """Apply every pending migration, in order; (migration id, what it did)."""
    done = []
    for migration in applicable(documents):
        if migration.pending(documents):
            done += [(migration.id, line) for line in migration.apply(documents)]
    return done


def unified_diff(document: Document) -> str:
    before, after = str(document.path), str(document.new_path or document.path)
    lines = difflib.unified_diff(
        document.original.splitlines(keepends=True), document.text.splitlines(keepends=True), before, after
    )
    text = "".join(lines)
    if document.new_path is not None and not text:
        text = f"rename {before} → {after}\n"
    return text


def write_all(documents: list[Document]) -> None:
    """Write every changed document, then remove the old files of renamed ones. Temporary files
    are written first; if any step fails, every file is put back as it was."""
    changed = [d for d in documents if d.changed]
    staged: list[tuple[Path, Path]] = []  # (temporary, destination)
    backups: list[tuple[Path, Path]] = []  # (backup, original)
    moved: list[Path] = []
    try:
        for document in changed:
            destination = document.new_path or document.path
            fd, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
            with os.fdopen(fd, "w", encoding="utf-8", newline=document.newline) as handle:
                handle.write(document.text)
            os.chmod(temp_name, document.path.stat().st_mode & 0o777)
            staged.append((Path(temp_name), destination))
            fd, backup_name = tempfile.mkstemp(
                prefix=f".{document.path.name}.", suffix=".bak", dir=document.path.parent
            )
            os.close(fd)
            shutil.copyfile(document.path, backup_name)  # byte for byte: line endings, BOM and all
            backups.append((Path(backup_name), document.path))
        for temp, destination in staged:
            os.replace(temp, destination)
            moved.append(destination)
        for document in changed:
            if document.new_path is not None and document.new_path != document.path:
                document.path.unlink()
    except BaseException:
        for destination in moved:
            destination.unlink(missing_ok=True)
        for backup, original in backups:
            os.replace(backup, original)
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    for backup, _ in backups:
        backup.unlink(missing_ok=True)


def run_migrate_command(paths: Sequence[str], *, check: bool, diff: bool, stdout: Console, stderr: Console) -> int:
    targets = [Path(p) for p in paths]
    missing = [p for p in targets if not p.exists()]
    if missing:
        stderr.print(f"error: {missing[0]}: no such file or directory", markup=False)
        return 2
    diagnostics = []
    for file in _files(targets):
        try:
            load_file(file)
        except LoadError as error:
            diagnostics.append(error.diagnostic)
    if diagnostics:
        print_diagnostics(stderr, diagnostics)
        stderr.print(f"error: {len(diagnostics)} file(s) cannot be read; nothing migrated", markup=False)
        return 1
    documents = load_documents(targets)
    if not documents:
        stderr.print(f"error: no bundle files (*.yaml, *.yml) in {', '.join(map(str, targets))}", markup=False)
        return 2
    reasons = pending_reasons(documents)
    if not reasons:
        stdout.print(f"{len(documents)} bundle(s) up to date: no migration pending", markup=False, highlight=False)
        return 0
    done = migrate(documents)
    if check or diff:
        for migration, reason in reasons:
            stdout.print(f"pending {migration}: {reason}", markup=False, highlight=False)
        if diff:
            for document in documents:
                if document.changed:
                    stdout.file.write(unified_diff(document))
        return 1 if check else 0
    try:
        write_all(documents)
    except OSError as error:
        stderr.print(f"error: {error.filename or ''}: {error.strerror or error}; no file was changed", markup=False)
        return 2
    for migration, line in done:
        stdout.print(f"{migration}: {line}", markup=False, highlight=False)
    stdout.print(
        f"migrated {sum(d.changed for d in documents)} file(s); review the `# review:` comments, then run "
        "mlrig validate and mlrig generate",
        markup=False,
        highlight=False,
    )
    return 0


def _files(targets: list[Path]) -> list[Path]:
    files = []
    for target in targets:
        if target.is_dir():
            files += [p for p in sorted(target.rglob("*")) if p.suffix in (".yaml", ".yml") and p.is_file()]
        else:
            files.append(target)
    return files
