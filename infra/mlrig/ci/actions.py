"""Every third-party GitHub Action the generated workflows use, pinned to a full commit SHA.

A tag can be moved to malicious code; a commit cannot. The version in the comment is what the
SHA was released as. To update: resolve the new tag to its commit
(`git ls-remote https://github.com/<repo> refs/tags/<tag>`), replace both fields, regenerate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedAction:
    repository: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        """The `uses:` value with its version comment, as written into workflows."""
        return f"{self.repository}@{self.sha} # {self.version}"


CHECKOUT = PinnedAction("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2")
SETUP_PYTHON = PinnedAction("actions/setup-python", "0b93645e9fea7318ecaed2b359559ac225c90a2b", "v5.3.0")
CONFIGURE_AWS_CREDENTIALS = PinnedAction(
    "aws-actions/configure-aws-credentials", "e3dd6a429d7300a6a4c196c26e071d42e0343502", "v4.0.2"
)
# Installs the Pulumi CLI only (no `command:`); commands run in `run:` steps we control.
PULUMI = PinnedAction("pulumi/actions", "8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0")
# The Pulumi CLI the apply, release and drift jobs install (`pulumi-version` of PULUMI): the same
# version as the `pulumi` SDK pinned in requirements.lock (tests/ci/test_lock.py keeps them equal),
# so bumping one means bumping the other.
PULUMI_CLI_VERSION = "3.272.0"
# A short-lived installation token of the platform's GitHub App for the jobs that apply project
# stacks (their ProjectRepository resources administer the project repositories).
CREATE_GITHUB_APP_TOKEN = PinnedAction(
    "actions/create-github-app-token", "1b10c78c7865c340bc4f6099eb2f838309f1e8c3", "v3.1.1"
)

ALL: tuple[PinnedAction, ...] = (CHECKOUT, SETUP_PYTHON, CONFIGURE_AWS_CREDENTIALS, PULUMI, CREATE_GITHUB_APP_TOKEN)
