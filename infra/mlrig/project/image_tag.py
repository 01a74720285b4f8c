"""The tag of the project images its pipelines and endpoints run.

Two writers set it on the same objects: the project stack creates the WorkflowTemplates and
InferenceServices, and the project repository's release CI rolls them to each new image. Both
must write the same value, or the next `pulumi up` conflicts with the roll-out (server-side
apply) or undoes it. So the CI records the tag it rolls out in an SSM parameter of the
environment (`ProjectNames.image_tag_parameter`) before rolling, and the stack builds its images
with that tag, and only then forces its apply over the roll-out's ownership. The stack setting
`mlrig:imageTag` is the tag before the first roll-out (and the one `mlrig plan` shows: offline,
no parameter is recorded); without a record (no parameter, or the `naming.NOT_RECORDED` the
stack creates it with, in `registries.py`) the stack never forces, so it can never undo a
roll-out it does not know of.

The stack owns the parameter, so `pulumi destroy` deletes it: a record the CI created would
outlive the environment, and the environment created again would build with, and force, a tag
its new, empty repositories never held. Environments whose CI recorded before that keep a
CI-created parameter (`ProjectNames.legacy_image_tag_parameter`): the stack reads it while its own
record holds nothing, so their first apply after the change neither fails nor rolls images back.

The stack reads it with the other writers' records (`release_records.py`).

The parameter is written by the team's own CI: a value that is not a valid image tag is ignored
(with a warning), never put into an image reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pulumi

from .. import naming

# An OCI image tag (distribution spec): what may follow `<repository>:`.
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def recorded_image_tag(recorded: Mapping[str, str], parameter: str, legacy: str | None = None) -> str | None:
    """The tag recorded in `parameter` (among the `recorded` parameters), if it is one; while it
    holds nothing (`naming.NOT_RECORDED`, or absent), the tag of the `legacy` parameter."""
    tag = recorded.get(parameter)
    if tag is None or tag == naming.NOT_RECORDED:  # the CI has not rolled out since the stack made it
        return recorded_image_tag(recorded, legacy) if legacy is not None else None
    if not IMAGE_TAG.fullmatch(tag):
        pulumi.log.warn(f"{parameter} holds {tag!r}, which is no image tag: ignored")
        return None
    return tag
