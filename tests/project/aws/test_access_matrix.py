"""The access table (Table 1 of the Big Book of MLOps), proven cell by cell against the plans' real IAM documents.

Every persona role of every environment of both example projects is loaded into moto with its
policies, assumed, and made to read and write every data class of every environment. moto
enforces the identity policies for real; the bucket and key policies are evaluated beside it
(`iam_eval.py`), so the cross-account cells need both sides, as in AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from .conftest import ENVIRONMENTS, PROJECTS, SAMPLE_KEYS, AwsWorld
from .iam_eval import StackIam

PERSONAS = ("data-scientist", "ml-engineer")
DATA_CLASSES = ("data", "artifacts", "logs")
OPERATIONS = ("read", "write")

# The access table, in each persona's own environment.
OWN_ENVIRONMENT_RIGHTS: dict[tuple[str, str], set[str]] = {
    ("data-scientist", "dev"): {"read", "write"},
    ("data-scientist", "staging"): {"read"},
    ("data-scientist", "prod"): {"read"},
    ("ml-engineer", "dev"): {"read", "write"},
    ("ml-engineer", "staging"): {"read", "write"},
    ("ml-engineer", "prod"): {"read"},
}


def expected(
    persona: str, home: str, target: str, data_class: str, operation: str, *, prod_read_from_dev: bool
) -> bool:
    """The access table: own environment per tier; across environments only dev reads staging
    data (and prod data when allowed); nobody writes across environments."""
    if home == target:
        return operation in OWN_ENVIRONMENT_RIGHTS[(persona, home)]
    if operation == "write" or home != "dev" or data_class != "data":
        return False
    return target == "staging" or (target == "prod" and prod_read_from_dev)


@dataclass(frozen=True)
class Cell:
    project: str
    persona: str
    home: str
    target: str
    data_class: str
    operation: str
    allowed: bool

    @property
    def id(self) -> str:
        verb = "can" if self.allowed else "cannot"
        where = "" if self.home == self.target else f"{self.target} "
        return f"{self.project}: {self.persona} in {self.home} {verb} {self.operation} {where}{self.data_class}"


CELLS = [
    Cell(
        project,
        persona,
        home,
        target,
        data_class,
        operation,
        expected(persona, home, target, data_class, operation, prod_read_from_dev=True),
    )
    for project in PROJECTS
    for persona in PERSONAS
    for home in ENVIRONMENTS
    for target in ENVIRONMENTS
    for data_class in DATA_CLASSES
    for operation in OPERATIONS
]


def probe_key(data_class: str, operation: str) -> str:
    return SAMPLE_KEYS[data_class][0] if operation == "read" else f"{SAMPLE_KEYS[data_class][0]}.probe"


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_access_table_cell(cell: Cell, examples_world: AwsWorld, example_iam: dict[str, dict[str, StackIam]]) -> None:
    home, target = example_iam[cell.project][cell.home], example_iam[cell.project][cell.target]
    role = home.persona_role(cell.persona)
    bucket = target.bucket(cell.data_class)
    assert examples_world.can(role, cell.operation, bucket, probe_key(cell.data_class, cell.operation)) is cell.allowed


ISOLATION_CASES = [
    (project, other, persona, home)
    for project in PROJECTS
    for other in PROJECTS
    if other != project
    for persona in PERSONAS
    for home in ENVIRONMENTS
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("project", "other", "persona", "home"),
    ISOLATION_CASES,
    ids=[f"{p}: {persona} in {home} reaches nothing of {o}" for p, o, persona, home in ISOLATION_CASES],
)
def test_no_persona_reaches_another_projects_buckets(
    project: str,
    other: str,
    persona: str,
    home: str,
    examples_world: AwsWorld,
    example_iam: dict[str, dict[str, StackIam]],
) -> None:
    role = example_iam[project][home].persona_role(persona)
    reached = [
        f"{operation} {bucket}"
        for stack in example_iam[other].values()
        for bucket, data_class in stack.buckets.items()
        for operation in OPERATIONS
        if data_class in SAMPLE_KEYS and examples_world.can(role, operation, bucket, probe_key(data_class, operation))
    ]
    assert reached == []


def test_the_matrix_covers_every_cell_of_the_table() -> None:
    """2 personas × 3 homes × 3 targets × 3 data classes × read/write, for both projects, and
    both outcomes are present (a matrix that only ever expects 'denied' proves nothing)."""
    assert len(CELLS) == len(PROJECTS) * 2 * 3 * 3 * 3 * 2
    assert {c.allowed for c in CELLS} == {True, False}
    assert any(c.allowed and c.home == "dev" and c.target == "prod" for c in CELLS)


# --- workloads: least privilege per pipeline type, in their own environment only ---------------

# Rights per workload type: a data class (whole bucket) or `class:prefix`.
WORKLOAD_RIGHTS: dict[str, dict[str, set[str]]] = {
    "feature-refresh": {"read": {"data"}, "write": {"data"}},
    "training": {"read": {"data", "artifacts"}, "write": {"artifacts"}},
    "model-deployment": {"read": {"data", "artifacts"}, "write": {"artifacts"}},
    "batch-inference": {"read": {"data", "artifacts"}, "write": {"data:predictions/", "logs:inference/"}},
    "monitoring": {"read": {"data", "logs"}, "write": {"logs:metrics/"}},
    # Human feedback is what fine-tuning learns from.
    "fine-tuning": {"read": {"data", "artifacts", "logs:feedback/"}, "write": {"artifacts"}},
    "vector-index-refresh": {"read": {"data"}, "write": set()},
    "serving": {"read": {"artifacts"}, "write": {"logs:inference/"}},
    "tracking": {"read": {"artifacts:mlflow/"}, "write": {"artifacts:mlflow/"}},
    "gateway": {"read": set(), "write": {"logs:llm-gateway/"}},  # spend logs of every request
    "feedback": {"read": set(), "write": set()},  # puts records into Firehose, touches no bucket
    "model-hub": {"read": {"artifacts:hub/"}, "write": {"artifacts:hub/"}},  # mirrors base models
}


def workload_may(rights: dict[str, set[str]], operation: str, data_class: str, key: str) -> bool:
    granted = rights[operation]
    return data_class in granted or any(
        g.startswith(f"{data_class}:") and key.startswith(g.split(":", 1)[1]) for g in granted
    )


def example_workloads(example_result) -> list[tuple[str, str, str, str]]:  # type: ignore[no-untyped-def]
    cases = []
    for project in PROJECTS:
        for environment in ("dev", "prod"):
            env = example_result.projects[project].environments[environment]
            kinds = {name: p.type for name, p in env.spec.pipelines.items()}
            kinds |= {"tracking": "tracking"} | ({"serving": "serving"} if env.spec.serving.endpoints else {})
            if env.spec.llm.gateway and env.spec.llm.gateway.providers:
                kinds["gateway"] = "gateway"
            if env.spec.llm.feedback.enabled:
                kinds["feedback"] = "feedback"
            if env.spec.llm.model_hub and env.spec.llm.model_hub.models:
                kinds["model-hub"] = "model-hub"
            cases += [(project, environment, name, kind) for name, kind in sorted(kinds.items())]
    return cases


def _load_example_workloads() -> list[tuple[str, str, str, str]]:
    from mlrig import examples
    from mlrig.bundle.validate import validate_paths

    return example_workloads(validate_paths([examples.DIRECTORY]))


WORKLOAD_CASES = _load_example_workloads()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("project", "environment", "workload", "kind"),
    WORKLOAD_CASES,
    ids=[f"{p}: {kind} workload {w!r} in {e} gets exactly its rights" for p, e, w, kind in WORKLOAD_CASES],
)
def test_workload_least_privilege(
    project: str,
    environment: str,
    workload: str,
    kind: str,
    examples_world: AwsWorld,
    example_iam: dict[str, dict[str, StackIam]],
) -> None:
    home = example_iam[project][environment]
    role = f"{project}--{environment}--wl--{workload}"
    assert role in home.roles, f"no workload role {role}"
    wrong = []
    for target_env, target in example_iam[project].items():
        for bucket, data_class in target.buckets.items():
            for key in SAMPLE_KEYS.get(data_class, ()):
                for operation in OPERATIONS:
                    want = target_env == environment and workload_may(WORKLOAD_RIGHTS[kind], operation, data_class, key)
                    probe = key if operation == "read" else f"{key}.probe"
                    got = examples_world.can(role, operation, bucket, probe, list_bucket=False)
                    if got != want:
                        wrong.append(f"{operation} {target_env}/{data_class}/{key}: expected {want}, got {got}")
    assert wrong == []


def test_workload_cases_cover_every_pipeline_type_of_the_examples() -> None:
    assert {kind for *_, kind in WORKLOAD_CASES} == set(WORKLOAD_RIGHTS)
