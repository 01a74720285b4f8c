"""Secrets a person fills after an apply: third-party credentials mlrig must never see (LLM
provider API keys, Slack webhook URLs, PagerDuty routing keys).

This list is the one source: the components create exactly these Secrets Manager secrets
(empty: no `SecretVersion`, no value in Pulumi state), the Kubernetes side reads them optionally,
and `mlrig secrets` prints them with the command that fills each. Nothing Pulumi waits for
depends on one of them (`awaited` stays False, and tests/project hold the program to it): an
apply succeeds before anyone has filled anything, and the feature starts working once they do.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import naming
from ..bundle.resolved import ProjectEnvironment
from ..hub import hub_models

GATEWAY = "llm-gateway"

# LiteLLM's model prefix and the environment variable holding each provider's key (None: the
# provider authenticates with the pod's AWS identity and needs no secret).
GATEWAY_PROVIDERS: dict[str, tuple[str, str | None]] = {
    "openai": ("openai", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "ANTHROPIC_API_KEY"),
    "azure-openai": ("azure", "AZURE_API_KEY"),
    "bedrock": ("bedrock", None),
    "vertex-ai": ("vertex_ai", "VERTEXAI_CREDENTIALS"),
    "mistral": ("mistral", "MISTRAL_API_KEY"),
    "cohere": ("cohere", "COHERE_API_KEY"),
    "groq": ("groq", "GROQ_API_KEY"),
}


# Settings a provider's client cannot work without besides its key: LiteLLM sends Azure OpenAI
# requests to the resource's own endpoint (`AZURE_API_BASE`, https://<resource>.openai.azure.com).
# The secret of such a provider holds a JSON object: the key and these settings, by variable.
GATEWAY_PROVIDER_SETTINGS: dict[str, tuple[str, ...]] = {"azure-openai": ("AZURE_API_BASE",)}


@dataclass(frozen=True)
class FilledSecret:
    """One Secrets Manager secret under `mlrig/<project>/<env>/<purpose>` that a person fills."""

    purpose: str
    description: str  # what it is for
    value: str  # what the secret string must be
    consumer: str  # what reads it in the cluster
    after_filling: str  # what happens once it has a value (`{namespace}`: the project's namespace)
    awaited: bool = False  # whether anything Pulumi waits for needs its value (never, by design)


def gateway_secret_purpose(provider: str) -> str:
    return f"{GATEWAY}/{provider}"


def gateway_key_env(provider: str) -> str | None:
    return GATEWAY_PROVIDERS[provider][1]


def gateway_secret_variables(provider: str) -> tuple[str, ...]:
    """The environment variables a provider's secret fills: its key, then its settings."""
    key_env = gateway_key_env(provider)
    return (key_env, *GATEWAY_PROVIDER_SETTINGS.get(provider, ())) if key_env else ()


def _variables_text(provider: str) -> str:
    variables = gateway_secret_variables(provider)
    return f"environment variable{'s' if len(variables) > 1 else ''} {', '.join(variables)}"


def _gateway_secret_value(provider: str) -> str:
    variables = gateway_secret_variables(provider)
    if len(variables) == 1:
        return f"the {provider} API key, as a plain string"
    fields = ", ".join(f'"{v}": "..."' for v in variables)
    return f"a JSON object {{{fields}}}: the API key and the endpoint of the {provider} resource"


def gateway_secrets(environment: ProjectEnvironment) -> list[FilledSecret]:
    gateway = environment.spec.llm.gateway
    if gateway is None:
        return []
    return [
        FilledSecret(
            purpose=gateway_secret_purpose(provider),
            description=f"{provider} API key{' and endpoint' if provider in GATEWAY_PROVIDER_SETTINGS else ''} of the LLM gateway",
            value=_gateway_secret_value(provider),
            consumer=f"Deployment {GATEWAY} ({_variables_text(provider)}, optional)",
            after_filling=(
                f"External Secrets syncs it within the hour; then restart the gateway "
                f"(kubectl -n {{namespace}} rollout restart deployment/{GATEWAY}) so it reads the key"
            ),
        )
        for provider in gateway.providers
        if gateway_key_env(provider) is not None
    ]


def alert_route_secrets(environment: ProjectEnvironment) -> list[FilledSecret]:
    found: dict[str, FilledSecret] = {}
    for route in environment.spec.monitoring.alerts:
        purpose = naming.alert_route_secret(route.type, route.target)
        if purpose is None or purpose in found:
            continue
        value = {
            "slack": "the Slack incoming-webhook URL",
            "pagerduty": "the PagerDuty routing key",
            "webhook": f"the full webhook URL, with its tokens, starting with {route.target}",
        }[route.type]
        found[purpose] = FilledSecret(
            purpose=purpose,
            description=f"{route.type} alert route credential ({route.target})",
            value=value,
            consumer="Alertmanager, through the AlertmanagerConfig mlrig-alert-routes",
            after_filling="External Secrets syncs it within the hour; Alertmanager reloads it by itself",
        )
    return [found[p] for p in sorted(found)]


MODEL_HUB_TOKEN = "model-hub/huggingface"
MODEL_HUB_TOKEN_ENV = "HF_TOKEN"


def model_hub_secrets(environment: ProjectEnvironment) -> list[FilledSecret]:
    """The Hugging Face token the model hub mirrors gated models with (Llama, Mistral, …)."""
    if not hub_models(environment.spec):
        return []
    return [
        FilledSecret(
            purpose=MODEL_HUB_TOKEN,
            description="Hugging Face access token of the model hub mirror (gated models need one)",
            value="a Hugging Face user access token (read), as a plain string",
            consumer=f"CronWorkflow {naming.MODEL_HUB} (environment variable {MODEL_HUB_TOKEN_ENV}, optional)",
            after_filling=(
                "External Secrets syncs it within the hour; the next hourly mirror run uses it "
                f"(or now: argo -n {{namespace}} submit --from workflowtemplate/{naming.MODEL_HUB})"
            ),
        )
    ]


def person_filled_secrets(environment: ProjectEnvironment) -> list[FilledSecret]:
    """Every secret of `environment` that a person must fill, in a stable order."""
    return [*gateway_secrets(environment), *model_hub_secrets(environment), *alert_route_secrets(environment)]
