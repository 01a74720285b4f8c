"""The security baseline of the policy pack: encryption at rest, no public access, prod stateful
resources protected, required tags, no wildcard data access, pinned images, scoped CI trust."""

from __future__ import annotations

from . import ci_trust, data_access, encryption, images, protection, public_access, tags  # noqa: F401
