"""The `mlrig` console script. Ctrl-C handling comes first, before the command line and its
imports (click, rich, pydantic, the Pulumi SDK) are loaded, so an interrupt during start-up is
as clean as one during a plan."""

from __future__ import annotations

import os

from . import collector, interrupt


def main() -> None:
    interrupt.install()
    # Pydantic loads the plugins of every installed distribution into every model it builds
    # (it lists them all from their metadata, on the first model). mlrig's models judge
    # untrusted bundles: what they accept must not depend on what else is installed, nor
    # should a plugin see a team's bundle. Pydantic's documented switch turns them off for this
    # process; an explicit PYDANTIC_DISABLE_PLUGINS is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    with collector.paused():  # the command line's modules live as long as the process
        from .cli import main as run

    run(ends_at_once=True)
