"""How every command prints a bundle diagnostic: `file:line:column: path: message`, with user
values escaped so that text such as `[/x]` is printed verbatim instead of read as markup."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape

from .bundle.diagnostics import Diagnostic


def print_diagnostics(console: Console, diagnostics: Iterable[Diagnostic], *, indent: str = "") -> None:
    for d in diagnostics:
        console.print(
            f"{indent}[bold]{escape(d.file)}:{d.line}:{d.column}[/]: [cyan]{escape(d.path)}[/]: {escape(d.message)}",
            markup=True,
            highlight=False,
        )
