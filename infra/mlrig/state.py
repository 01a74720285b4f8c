"""Where Pulumi keeps the state of a platform's stacks and which key encrypts their secrets.

One state backend per platform (`spec.state.backend`, default `s3://<platform>-pulumi-state`), in
the state account (`spec.state.account`), and one KMS key per environment
(`spec.state.secretsProvider`, default `alias/<platform>-{environment}-pulumi-secrets`) in that
environment's account: a role of one environment can never decrypt the secrets of another.
`mlrig generate` writes each stack's provider into its `Pulumi.<stack>.yaml`, the CI workflows
pass it to `pulumi stack select --create`, the CI roles are allowed exactly their environment's
key, and `mlrig bootstrap` creates the keys.

Where the environment's account is known the provider names its key by alias ARN
(`awskms:///arn:aws:kms:<region>:<account>:alias/...`): KMS resolves an alias name in the account
of the caller's credentials, an alias ARN in the account it names, so CI and people reach the same
key (or fail) whatever account they run in. The empty host (`:///`) is gocloud's form for an ARN,
whose colons a URL host cannot hold.
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


TRUST_ORDER = ("prod", "staging", "dev")  # whose administrators may administer the others


def state_account(platform: Platform) -> str | None:
    """The account of the state backend, whose principals administer the platform: declared, else
    (`account` isolation) the most trusted environment's, else the one account the environments
    name; None when only the credentials will tell."""
    declared = platform.bundle.spec.state.account
    if declared:
        return declared
    environments = [env for env in platform.environments.values() if env.account]
    if platform.isolation == "account":
        ranked = sorted(environments, key=lambda env: TRUST_ORDER.index(env.tier))
        return ranked[0].account if ranked else None
    return environments[0].account if environments else None


def _configured(platform: Platform, environment: PlatformEnvironment) -> tuple[str, str]:
    """(`alias/<name>`, region) of the environment's secrets key."""
    configured = platform.bundle.spec.state.secrets_provider
    if configured:
        url = configured.replace(ENVIRONMENT_PLACEHOLDER, environment.name)
    else:
        url = KMS_SCHEME + naming.secrets_key_alias(platform.name, environment.name)
    alias, _, query = url.removeprefix(KMS_SCHEME).partition("?")
    region = environment.region
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "region" and value:
            region = value
    return alias, region


def secrets_key_alias(platform: Platform, environment: PlatformEnvironment) -> str:
    """`alias/<name>` of the environment's key (what KMS and IAM conditions see)."""
    return _configured(platform, environment)[0]


def secrets_key_region(platform: Platform, environment: PlatformEnvironment) -> str:
    return _configured(platform, environment)[1]


def secrets_key_alias_arn(platform: Platform, environment: PlatformEnvironment) -> str | None:
    """The alias ARN of the environment's key, when its account is known."""
    if not environment.account:
        return None
    alias, region = _configured(platform, environment)
    return naming.kms_alias_arn(environment.account, region, alias)


def secrets_provider(platform: Platform, environment: PlatformEnvironment) -> str:
    """The `awskms:///<alias ARN>?region=...` URL of one environment's stacks (`awskms://alias/...`
    when the environment names no account)."""
    alias, region = _configured(platform, environment)
    arn = secrets_key_alias_arn(platform, environment)
    key = f"/{arn}" if arn else alias
    return f"{KMS_SCHEME}{key}?region={region}"
