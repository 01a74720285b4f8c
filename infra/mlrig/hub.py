"""What a project's model hub holds: one answer for validation (the names the mirror's identity
takes) and for the stack (the mirror, its identity and its token)."""

from __future__ import annotations

from .bundle.defaults import LARGE_MODEL_RUNTIMES
from .bundle.model import ProjectSpec


def hub_models(spec: ProjectSpec) -> list[str]:
    """The base models the model hub mirrors: `llm.modelHub.models`, and every model the project
    reads from the hub (what its `vllm`/`huggingface` endpoints serve, what fine-tuning starts
    from), unless the bundle turns the hub off (`llm.modelHub.enabled: false`)."""
    hub = spec.llm.model_hub
    if hub is not None and not hub.enabled:
        return []
    wanted = list(hub.models) if hub is not None else []
    wanted += [e.model or e.name for e in spec.serving.endpoints if e.runtime in LARGE_MODEL_RUNTIMES]
    wanted += [p.base_model for p in spec.pipelines.values() if p.base_model]
    return list(dict.fromkeys(wanted))
