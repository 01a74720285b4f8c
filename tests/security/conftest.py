"""The example project's dev plan, and the admission policy a module is about (its `POLICY`)."""

from __future__ import annotations

import pytest

from .admission import named


@pytest.fixture(scope="module")
def dev_plan(project_plan):
    return project_plan("fraud-detection", "dev")


@pytest.fixture(scope="module")
def policy(dev_plan, request):
    """The ValidatingAdmissionPolicy named by the test module's `POLICY`."""
    return named(dev_plan, "ValidatingAdmissionPolicy", request.module.POLICY)
