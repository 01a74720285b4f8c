"""Plans of bundles: one stack per bundle and environment, platforms before their projects.

A project stack reads its platform environment's outputs through a StackReference; offline,
those outputs come from the platform's own plan of the same environment.
"""

from __future__ import annotations

from ..bundle.resolved import Platform, Project
from ..outputs import platform_stack_reference
from ..program import Target, stack_program
from .engine import StackPlan, plan_stack


def stack_config(target: Target, environment: str) -> dict[str, str]:
    """The config `mlrig generate` writes into Pulumi.<stack>.yaml, so the plan sees the same."""
    if isinstance(target, Platform):
        region = target.environments[environment].region
    else:
        region = target.environments[environment].platform_environment.region
    return {"mlrig:bundle": target.file, "mlrig:environment": environment, "aws:region": region}


class Planner:
    """Plans stacks, each once: a platform plan is needed by every project of its environment.
    Plans are remembered by bundle name and environment, so use one Planner per set of bundles."""

    def __init__(self) -> None:
        self._platforms: dict[tuple[str, str], StackPlan] = {}
        self._projects: dict[tuple[str, str], StackPlan] = {}

    def plan(self, target: Target, environment: str) -> StackPlan:
        if isinstance(target, Platform):
            return self.platform(target, environment)
        return self.project(target, environment)

    def platform(self, platform: Platform, environment: str) -> StackPlan:
        key = (platform.name, environment)
        if key not in self._platforms:
            from ..platform.stack import platform_dependencies

            # Under `namespace` isolation the shared cluster's stack is read by the others:
            # plan it first and answer their StackReference with its outputs.
            dependencies = platform_dependencies(platform, platform.environments[environment])
            stack_outputs = {
                platform_stack_reference(platform.name, dependency): self.platform(platform, dependency).outputs
                for dependency in dependencies
            }
            self._platforms[key] = plan_stack(
                stack_program(platform, environment),
                stack=platform.environments[environment].stack,
                config=stack_config(platform, environment),
                stack_outputs=stack_outputs or None,
            )
        return self._platforms[key]

    def project(self, project: Project, environment: str) -> StackPlan:
        key = (project.name, environment)
        if key not in self._projects:
            platform_plan = self.platform(project.platform, environment)
            reference = platform_stack_reference(project.platform.name, environment)
            self._projects[key] = plan_stack(
                stack_program(project, environment),
                stack=project.environments[environment].stack,
                config=stack_config(project, environment),
                stack_outputs={reference: platform_plan.outputs},
            )
        return self._projects[key]

    def forget(self, project: Project, environment: str) -> None:
        """Drop a project stack's plan once it is no longer needed (a worker that has sent it
        back); platform plans stay, as every project of their environment reads them."""
        self._projects.pop((project.name, environment), None)
