"""Images are pinned: every container names a tag or a digest, and never `latest`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .. import Violation, check
from ..graph import StackGraph
from ..scheduling import WORKLOAD_TYPES


def images_of(value: Any) -> Iterator[str]:
    """Every `image:` of containers anywhere in a spec (pod templates, predictors, workflow steps)."""
    if isinstance(value, Mapping):
        image = value.get("image")
        if isinstance(image, str):
            yield image
        for item in value.values():
            yield from images_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from images_of(item)


def pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return False
    return name.rsplit(":", 1)[1] not in ("", "latest")


@check(
    "MLRIG-SEC-006",
    "Container images are pinned to a tag or digest, never latest",
    "An unpinned image changes under a running deployment: a restart pulls different code than was "
    "reviewed and tested, and a rollback cannot return to what ran.",
    applies_to=WORKLOAD_TYPES,
)
def images_are_pinned(graph: StackGraph) -> Iterator[Violation]:
    for workload in graph.of_type(*WORKLOAD_TYPES):
        for image in sorted(set(images_of(workload.spec))):
            if "{{" in image:
                continue  # filled in by the workflow engine at run time
            if not pinned(image):
                yield Violation(
                    workload,
                    f"{workload.k8s_name} runs image {image} without a tag or digest (or with latest)",
                    "pin a version tag or an @sha256 digest",
                )
