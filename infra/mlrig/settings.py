"""Deployment settings that come from outside the bundle: read once by the entry point
(`program.main`) and passed down, so that components never read config or environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_IMAGE_TAG = "ci"


@dataclass(frozen=True)
class DeploySettings:
    # CI previews run as the read-only preview role and set MLRIG_ASSUME_DEPLOYMENT_ROLE=false:
    # the program must then not assume the (writing) deployment role on their behalf.
    assume_deployment_role: bool = True
    # The immutable image tag CI pushed (`pulumi config set mlrig:imageTag <tag>`).
    image_tag: str = DEFAULT_IMAGE_TAG

    @classmethod
    def read(cls, environ: Mapping[str, str], image_tag: str | None) -> DeploySettings:
        flag = environ.get("MLRIG_ASSUME_DEPLOYMENT_ROLE", "true").strip().lower()
        return cls(assume_deployment_role=flag not in ("false", "0", "no"), image_tag=image_tag or DEFAULT_IMAGE_TAG)
