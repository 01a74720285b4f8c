"""Where a project's models are, as every step that hands a model on sees it: the model hub
(base models), the champion each endpoint serves and batch inference scores with, and the
InferenceServices of each endpoint's rollout that the CD pipeline's promote step updates.

One module, so that what the CD step writes and what serving and batch inference read cannot
disagree (pipelines.py and serving.py both ask it)."""

from __future__ import annotations

from .. import naming
from ..bundle.model import Endpoint
from .context import ProjectContext

# vLLM's OpenAI API under KServe's Hugging Face server (`/openai/v1/chat/completions`, …).
OPENAI_API_BASE = "/openai/v1"
SPLIT_VARIANTS = naming.SPLIT_VARIANTS


def model_hub_uri(ctx: ProjectContext, model: str) -> str:
    """Where the model hub mirrors a base model: the artifacts bucket's `hub/` prefix."""
    return f"s3://{ctx.names.bucket('artifacts')}/{naming.ARTIFACT_PREFIXES['hub']}{model}"


def champion_uri(ctx: ProjectContext, model: str | None = None) -> str:
    """The champion of a model (default: the project's): what a custom endpoint serves and batch
    inference scores with, and where the CD pipeline's promote step puts a promoted model."""
    return f"s3://{ctx.names.bucket('artifacts')}/{naming.model_prefix(model or ctx.project.name, 'champion')}"


def has_server(endpoint: Endpoint) -> bool:
    """Whether `Serving` makes the endpoint's InferenceServices: a custom server needs an image."""
    return endpoint.runtime != "custom" or endpoint.image is not None


def rollout_services(endpoint: Endpoint) -> dict[str, str]:
    """The endpoint's InferenceServices by their part in the rollout: `stable`/`canary`, `a`/`b`,
    `primary`/`shadow`, or `primary` alone."""
    return naming.rollout_service_names(endpoint.name, endpoint.rollout.strategy)
