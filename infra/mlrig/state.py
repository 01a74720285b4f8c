"""Where Pulumi keeps the state of a platform's stacks and which key encrypts their secrets.

One state backend per platform (`spec.state.backend`, default `s3://<platform>-pulumi-state`) and
one KMS key per environment (`spec.state.secretsProvider`, default
`awskms://alias/<platform>-{environment}-pulumi-secrets`): a role of one environment can never
decrypt the secrets of another. `mlrig generate` writes each stack's provider into its
`Pulumi.<stack>.yaml`, the CI workflows pass it to `pulumi stack select --create`, the CI roles are
allowed exactly their environment's key, and `mlrig bootstrap` creates the keys.
"""

from __future__ import annotations

from . import naming
from .bundle.resolved import Platform, PlatformEnvironment

ENVIRONMENT_PLACEHOLDER = "{environment}"
KMS_SCHEME = "awskms://"


def backend_url(platform: Platform) -> str:
    return platform.bundle.spec.state.backend or f"s3://{naming.state_bucket(platform.name)}"


def state_bucket(platform: Platform) -> str:
    return naming.state_bucket_of(platform.bundle.spec.state.backend, platform.name)


def secrets_provider(platform: Platform, environment: PlatformEnvironment) -> str:
    """The `awskms://alias/...?region=...` URL of one environment's stacks."""
    configured = platform.bundle.spec.state.secrets_provider
    if configured:
        url = configured.replace(ENVIRONMENT_PLACEHOLDER, environment.name)
    else:
        url = KMS_SCHEME + naming.secrets_key_alias(platform.name, environment.name)
    if "?" not in url:
        url += f"?region={environment.region}"
    return url


def secrets_key_alias(platform: Platform, environment: PlatformEnvironment) -> str:
    """`alias/<name>` of the environment's key (what KMS and IAM conditions see)."""
    return secrets_provider(platform, environment).removeprefix(KMS_SCHEME).split("?", 1)[0]


def secrets_key_region(platform: Platform, environment: PlatformEnvironment) -> str:
    query = secrets_provider(platform, environment).partition("?")[2]
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "region" and value:
            return value
    return environment.region
