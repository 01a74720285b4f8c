"""mlrig: one validated YAML bundle per team, turned into its MLOps platform by a Pulumi program.

Pydantic's plugins are turned off here, before any bundle model is built, in every process that
imports mlrig: the `mlrig` command, the Pulumi program `pulumi up` runs, `mlrig plan`'s workers.
Pydantic would otherwise load the plugin of every installed distribution into every model it
builds; mlrig's models judge untrusted bundles, so what they accept must not depend on what else
is installed, nor may a plugin see a team's bundle. This is pydantic's documented switch; an
explicit `PYDANTIC_DISABLE_PLUGINS` is kept (an empty value turns them back on).
"""

import os

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
