"""What the project's other writers recorded of the values they wrote into its objects.

Two writers besides the project stack write fields of the project's Kubernetes objects: the
release CI rolls every image of the project's repositories to each new tag (field manager
`mlrig-release`, `image_tag.py`), and the model CD pipeline's promote step points each
InferenceService at a promoted model (field manager `mlrig-promote`). KServe's and Argo's CRDs
declare no list types, so after either patch that writer owns a whole list under server-side
apply (a WorkflowTemplate's `spec.templates`, a custom server's `spec.predictor.containers`), and a
bundle change there would fail `pulumi up` on the conflict, or, forced, put back an older value.

So each writer records the value before it writes it, in an SSM parameter of the environment
under `ProjectNames.release_parameters()`: the CI the tag (`rolled-image-tag`), the promote step the
model URI of each InferenceService (`model-uri/<inference service>`). The stack reads them all in
one call and builds its objects with the recorded values; an object whose every field another
writer writes is recorded is applied with force (it then writes exactly what the writers last
wrote, and takes back the lists). A parameter that does not exist, or still holds
`naming.NOT_RECORDED` (the stack creates the model URI parameters with it), means "nothing
recorded": the stack then never forces, so it can never undo a write it does not know of.

The values come from the team's own CI and pipeline code: a value that is not an image tag, or
not a model location in the environment's own artifacts bucket or model cache, is ignored with a
warning, never written into an object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from .. import naming
from ..naming import ProjectNames
from .context import ProjectContext
from .image_tag import recorded_image_tag

# A model URI: no whitespace or control characters, bounded (and no `..` segment, below).
MODEL_URI = re.compile(r"[^\s\x00-\x1f\x7f]{1,2048}")


@dataclass(frozen=True)
class ReleaseRecords:
    """The recorded image tag (None before the first roll-out) and model URIs by InferenceService
    (those the promote step recorded)."""

    image_tag: str | None = None
    model_uris: Mapping[str, str] = field(default_factory=dict)


def model_locations(names: ProjectNames) -> tuple[str, ...]:
    """Where a promoted model may be: the environment's artifacts bucket, or the model cache the
    endpoints mount (`pvc://model-hub/…`)."""
    return (f"s3://{names.bucket('artifacts')}/", f"pvc://{naming.MODEL_CACHE}/")


def recorded_model_uri(value: str | None, parameter: str, locations: tuple[str, ...]) -> str | None:
    """`value` of the model URI `parameter`, if it is a model location of the environment."""
    if value is None or value == naming.NOT_RECORDED:
        return None
    if not MODEL_URI.fullmatch(value) or ".." in value.split("/") or not value.startswith(locations):
        pulumi.log.warn(f"{parameter} holds {value!r}, which is no model location of this environment: ignored")
        return None
    return value


def records_of(recorded: Mapping[str, str], names: ProjectNames) -> ReleaseRecords:
    """The records among the `recorded` parameters (name -> value) of the environment."""
    prefix = names.model_uri_parameters() + "/"
    locations = model_locations(names)
    uris = {
        parameter.removeprefix(prefix): uri
        for parameter, value in sorted(recorded.items())
        if parameter.startswith(prefix) and (uri := recorded_model_uri(value, parameter, locations)) is not None
    }
    return ReleaseRecords(
        image_tag=recorded_image_tag(recorded, names.image_tag_parameter(), names.legacy_image_tag_parameter()),
        model_uris=uris,
    )


def read_release_records(ctx: ProjectContext) -> ReleaseRecords:
    """Everything recorded under the environment's release path, read in one call (recursive: the
    model URIs are one level down). A parameter not yet written is no error."""
    names = ctx.names
    found = aws.ssm.get_parameters_by_path(
        path=names.release_parameters(),
        recursive=True,
        opts=pulumi.InvokeOptions(provider=ctx.aws_provider),
    )
    return records_of(dict(zip(found.names or [], found.values or [], strict=False)), names)
