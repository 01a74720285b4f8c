"""The `mlrig` console script. Ctrl-C handling comes first, before the command line and its
imports (click, rich, pydantic, the Pulumi SDK) are loaded, so an interrupt during start-up is
as clean as one during a plan."""

from __future__ import annotations

from . import collector, interrupt


def main() -> None:
    interrupt.install()
    with collector.paused():  # the command line's modules live as long as the process
        from .cli import main as run

    run(ends_at_once=True)
