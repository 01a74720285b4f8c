"""The files of a new platform repository, and everything `mlrig generate` derives from them.

The Platform bundle is rendered from the answers and validated before anything else is made;
the generated files (stack configs, workflows, CODEOWNERS, schema, reference) come from running
the same functions `mlrig generate` runs over the new repository, so a fresh repository passes
`mlrig generate --check` from its first commit.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..bundle.diagnostics import BundleError
from ..bundle.loader import LoadError, load_text
from ..bundle.resolved import Platform
from ..bundle.validate import validate_documents, validate_paths
from ..ci.render import GITHUB_TIERS
from ..generate import generated_files
from ..naming import DRIFT_GITHUB_ENVIRONMENT
from ..platform.bootstrap import operator_profiles, state_backend
from ..state import state_account
from . import lock, policy
from .templates import render
from .tree import FileTree

PLATFORM_BUNDLE = "bundles/platform.yaml"
MLRIG_URL = "https://pypi.org/project/mlrig/"
TIERS = ("dev", "staging", "prod")
ISOLATIONS = ("account", "cluster", "namespace")


@dataclass(frozen=True)
class EnvironmentAnswer:
    name: str
    tier: str
    region: str
    account: str | None = None
    cidr: str = ""


@dataclass(frozen=True)
class PlatformAnswers:
    name: str
    isolation: str
    environments: tuple[EnvironmentAnswer, ...]
    owners: tuple[str, ...] = ()
    github_organization: str | None = None
    repository: str | None = None
    state_account: str | None = None  # holds the state; its administrators run bootstrap and the first apply


def default_cidr(index: int) -> str:
    """10.10.0.0/16, 10.20.0.0/16, …: disjoint VPC ranges, one per environment."""
    return f"10.{10 * (index + 1)}.0.0/16"


def platform_bundle(answers: PlatformAnswers) -> str:
    return render("platform/platform.yaml.j2", a=answers)


def checked_platform(text: str, display: str) -> Platform:
    """The resolved Platform of a rendered bundle; BundleError with every diagnostic otherwise."""
    try:
        document = load_text(text, display)
    except LoadError as error:
        raise BundleError([error.diagnostic]) from None
    result = validate_documents([document])
    if not result.valid or not result.platforms:
        raise BundleError(result.diagnostics)
    return next(iter(result.platforms.values()))


def platform_repository(answers: PlatformAnswers, lock_text: str | None, *, display_root: str = ".") -> FileTree:
    """Every file of the new repository. `lock_text` is the hash-locked requirements (None:
    the README says how to produce it)."""
    bundle = platform_bundle(answers)
    platform = checked_platform(bundle, f"{display_root.rstrip('/')}/{PLATFORM_BUNDLE}")
    version = lock.installed_version()
    tree = FileTree()
    tree.add(PLATFORM_BUNDLE, bundle)
    tree.add("Pulumi.yaml", render("platform/Pulumi.yaml.j2", a=answers))
    tree.add("__main__.py", render("platform/__main__.py.j2"))
    tree.add(".gitignore", render("platform/gitignore.j2"))
    tree.add(".pre-commit-config.yaml", render("platform/pre-commit-config.yaml.j2"))
    tree.add(lock.REQUIREMENTS_IN, lock.requirements_in(version))
    if lock_text is not None:
        tree.add(lock.LOCK_FILE, lock_text)
    tree.add("README.md", readme(platform, version, locked=lock_text is not None))
    tree.update(generated(tree))
    return tree


def deployer_policies(platform: Platform) -> FileTree:
    """The deployer role's documents in `aws/` (what `mlrig generate` writes, `generated` below)."""
    tree = FileTree()
    for path, text in policy.deployer_files(platform).items():
        tree.add(path, text)
    return tree


@dataclass(frozen=True)
class _ReadmeEnvironment:
    name: str
    stack: str
    account: str | None
    role: str


def readme(platform: Platform, version: str, *, locked: bool) -> str:
    environments = [
        _ReadmeEnvironment(env.name, env.stack, env.account, env.spec.deployment_role)
        for env in platform.environments.values()
    ]
    return render(
        "platform/README.md.j2",
        platform=platform,
        version=version,
        locked=locked,
        environments=environments,
        deploy_roles=sorted({env.role for env in environments}),
        # The GitHub environments whose jobs mint a GitHub App token for the project repositories.
        app_key_environments=[
            *(env.name for env in platform.environments.values() if env.tier in GITHUB_TIERS),
            DRIFT_GITHUB_ENVIRONMENT,
        ],
        drift_environment=DRIFT_GITHUB_ENVIRONMENT,
        backend=state_backend(platform),
        state_account=state_account(platform),
        profiles=operator_profiles(platform),
        lock_command=lock.lock_command_text(),
        python_version=lock.PYTHON_VERSION,
        mlrig_url=MLRIG_URL,
    )


def generated(tree: FileTree) -> FileTree:
    """What `mlrig generate` writes for these files, computed in a scratch copy."""
    with tempfile.TemporaryDirectory(prefix="mlrig-init-") as scratch:
        root = Path(scratch)
        tree.materialize(root)
        result = validate_paths([root / "bundles"])
        if not result.valid:
            raise BundleError(result.diagnostics)
        out = FileTree()
        for file in generated_files(root, result):
            out.add(file.path, file.content)
        return out
