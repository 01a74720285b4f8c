"""`mlrig plan --jobs N`: stacks planned in worker processes give exactly what a serial run gives
(the text, the JSON plan with its check results, the first error and the exit code), and a bad
`--jobs` is a usage error. Workers are separate processes: a test changes what they run through
the worker's start hook (`parallel.start_worker`), never through a monkeypatch of the parent."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from bundle.helpers import admitting, dump, example
from mlrig import examples
from mlrig.plan import parallel
from mlrig.plan.command import run_plan_command
from mlrig.plan.runner import Planner


def plan(bundles: list[str], out: Path, jobs: int, planner: Planner | None = None, envs=()) -> tuple[int, str, str]:
    """`mlrig plan BUNDLES --out OUT --jobs JOBS`: the text plan with its checks, the JSON in OUT."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_plan_command(
        bundles,
        list(envs),
        "text",
        str(out),
        stdout=Console(file=stdout, width=200, soft_wrap=True),
        stderr=Console(file=stderr, width=200, soft_wrap=True),
        planner=planner,
        jobs=jobs,
    )
    return code, stdout.getvalue(), stderr.getvalue()


def serial_and_parallel(tmp_path: Path, bundles: list[str], jobs: int, **kwargs: Any) -> tuple[tuple, tuple]:
    """The same command with --jobs 1 and --jobs JOBS: (code, text, stderr, JSON bytes) each."""
    runs = []
    for name, workers in (("serial", 1), ("parallel", jobs)):
        out = tmp_path / f"{name}.json"
        code, text, err = plan(bundles, out, workers, **kwargs)
        runs.append((code, text.replace(str(out), "OUT"), err, out.read_bytes() if out.exists() else None))
    return runs[0], runs[1]


@pytest.mark.slow
def test_the_examples_planned_by_two_workers_are_byte_identical_to_a_serial_plan(tmp_path: Path, example_planner):
    serial, parallel_run = serial_and_parallel(tmp_path, [str(examples.DIRECTORY)], 2, planner=example_planner)
    assert serial[0] == 0, serial[2]
    assert "Planned 9 stack(s) of 3 bundle(s)" in serial[1]
    assert parallel_run == serial


@pytest.fixture
def organisation(tmp_path: Path) -> Path:
    """The example platform admitting four renamed copies of the example projects."""
    projects = []
    for index, source in enumerate(["fraud", "rag", "fraud", "rag"]):
        project = example(source)
        name = f"{project['metadata']['name']}-{index}"
        project["metadata"]["name"] = name
        project["spec"]["repository"] = f"acme/{name}"
        projects.append(project)
    directory = tmp_path / "bundles"
    directory.mkdir()
    platform = admitting(example("platform"), *projects)
    for document in (platform, *projects):
        (directory / f"{document['metadata']['name']}.yaml").write_text(dump(document))
    return directory


@pytest.mark.slow
def test_an_organisation_planned_by_more_workers_than_cores_is_byte_identical_to_a_serial_plan(
    tmp_path: Path, organisation: Path
):
    """Three workers for five stacks: each worker plans the platform environment its projects
    read, and the results still come back in the serial order."""
    serial, parallel_run = serial_and_parallel(tmp_path, [str(organisation)], 3, envs=["staging"])
    assert serial[0] == 0, serial[2]
    assert "Planned 5 stack(s) of 5 bundle(s)" in serial[1]
    assert parallel_run == serial


@pytest.mark.slow
def test_on_a_terminal_the_progress_bar_counts_the_stacks_as_the_workers_finish_them():
    stderr = io.StringIO()
    code = run_plan_command(
        [str(examples.path("platform.yaml"))],
        ["dev", "prod"],
        "json",
        None,
        stdout=Console(file=io.StringIO()),
        stderr=Console(file=stderr, force_terminal=True, width=120),
        jobs=2,
    )
    assert code == 0
    shown = stderr.getvalue()
    assert "planning" in shown and "2/2" in shown
    assert "acme-ml.dev" in shown or "acme-ml.prod" in shown, "the last stack finished is named"


# --- errors --------------------------------------------------------------------------------------


def broken_deploy_platform(platform: Any, environment: Any, settings: Any = None) -> None:
    raise ValueError(f"no capacity for gpu pool in {environment.name}")


def start_broken_worker(parent_alive: Any) -> None:
    """A worker (its own process, with mlrig freshly imported) whose platform program fails as
    `broken_deploy_platform` makes it fail in a serial run."""
    import mlrig.platform.stack as platform_stack

    parallel.start_worker(parent_alive)
    platform_stack.deploy_platform = broken_deploy_platform


@pytest.mark.slow
def test_a_program_error_in_a_worker_is_reported_as_a_serial_run_reports_it(tmp_path: Path, monkeypatch):
    import mlrig.platform.stack as platform_stack

    projects = [str(examples.path(file)) for file in examples.PROJECTS]
    previous = "previous plan\n"
    runs = []
    for jobs in (1, 2):
        out = tmp_path / f"plan-{jobs}.json"
        out.write_text(previous)
        with monkeypatch.context() as patch:
            if jobs == 1:
                patch.setattr(platform_stack, "deploy_platform", broken_deploy_platform)
            else:
                patch.setattr(parallel, "start_worker", start_broken_worker)
            code, text, err = plan(projects, out, jobs, envs=["dev"])
        runs.append((code, text, err.replace(str(out), "OUT")))
        assert out.read_text() == previous, "a failed plan never replaces the --out file"
    assert runs[1] == runs[0]
    code, text, err = runs[1]
    assert code == 1 and text == ""
    assert "plan of project fraud-detection" in err and "environment dev" in err
    assert "while planning its platform stack acme-ml.dev" in err
    assert "ValueError: no capacity for gpu pool in dev" in err
    assert "Traceback" not in err


def crashing_on_fraud_detection(check_stack: Any) -> Any:
    """`check_stack`, except that it crashes (a bug in mlrig) on fraud-detection's stacks."""

    def check(target: Any, environment: str, *args: Any, **kwargs: Any) -> list:
        if target.name == "fraud-detection":
            raise RuntimeError(f"check crashed on {target.name}.{environment}")
        return check_stack(target, environment, *args, **kwargs)

    return check


def failing_rag_assistant(breaks_program: bool):
    from mlrig.project import stack as project_stack

    deploy_project = project_stack.deploy_project

    def deploy(project: Any, environment: Any, settings: Any = None) -> None:
        if breaks_program and project.name == "rag-assistant":
            raise ValueError("no capacity for gpu pool in rag-assistant")
        deploy_project(project, environment, settings)

    return deploy


def start_crashing_worker(parent_alive: Any, breaks_program: bool) -> None:
    """A worker whose checks crash on fraud-detection (a bug in mlrig) and, with
    `breaks_program`, whose program of rag-assistant fails."""
    from mlrig.project import stack as project_stack

    parallel.start_worker(parent_alive)
    parallel.check_stack = crashing_on_fraud_detection(parallel.check_stack)  # type: ignore[assignment]
    project_stack.deploy_project = failing_rag_assistant(breaks_program)


@pytest.mark.slow
@pytest.mark.parametrize("breaks_program", [True, False], ids=["and-a-later-program-fails", "alone"])
def test_a_check_that_crashes_is_reported_as_a_serial_run_reports_it(tmp_path: Path, monkeypatch, breaks_program):
    """The serial run plans every stack before it checks any: a later stack's program error wins
    over an earlier stack's crashed check, and a crash alone surfaces once everything is planned."""
    import functools

    import mlrig.plan.command as command
    from mlrig.project import stack as project_stack

    projects = [str(examples.path(file)) for file in examples.PROJECTS]  # fraud-detection, then rag-assistant
    outcomes = []
    for jobs in (1, 2):
        with monkeypatch.context() as patch:
            if jobs == 1:
                patch.setattr(command, "check_stack", crashing_on_fraud_detection(command.check_stack))
                patch.setattr(project_stack, "deploy_project", failing_rag_assistant(breaks_program))
            else:
                patch.setattr(
                    parallel, "start_worker", functools.partial(start_crashing_worker, breaks_program=breaks_program)
                )
            try:
                code, text, err = plan(projects, tmp_path / f"plan-{jobs}.json", jobs, envs=["dev"])
                outcomes.append(("exit", code, text, err))
            except RuntimeError as crash:
                outcomes.append(("crash", str(crash)))
    assert outcomes[1] == outcomes[0]
    if breaks_program:
        assert outcomes[0][0] == "exit" and "no capacity for gpu pool in rag-assistant" in outcomes[0][3]
    else:
        assert outcomes[0] == ("crash", "check crashed on fraud-detection.dev")


def test_an_error_a_worker_cannot_send_back_arrives_as_its_type_and_message():
    class Unpicklable(Exception):
        def __init__(self, stack: str, message: str):
            super().__init__(f"{stack}: {message}")

    sent = parallel._sendable(Unpicklable("acme-ml.dev", "boom"))
    assert isinstance(sent, RuntimeError)
    assert str(sent) == "Unpicklable: acme-ml.dev: boom"
    assert pickle.loads(pickle.dumps(sent)).args == sent.args
    assert parallel._sendable(KeyError("x")).__class__ is KeyError, "an ordinary error travels as itself"


# --- how many workers ----------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_jobs_below_one_is_a_usage_error(jobs: str):
    from mlrig.cli import cli

    result = CliRunner().invoke(cli, ["plan", str(examples.DIRECTORY), "--jobs", jobs])
    assert result.exit_code == 2
    assert "--jobs" in result.output and "Traceback" not in result.output


def test_a_library_caller_asking_for_no_workers_gets_a_usage_error(tmp_path: Path):
    code, text, err = plan([str(examples.path("platform.yaml"))], tmp_path / "plan.json", 0)
    assert code == 2 and text == ""
    assert "jobs must be at least 1" in err


def test_workers_are_never_more_than_the_stacks_and_default_to_the_usable_cores(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cores", lambda: 8)
    assert parallel.worker_count(None, 93) == 8
    assert parallel.worker_count(None, 3) == 3
    assert parallel.worker_count(2, 93) == 2
    assert parallel.worker_count(4, 1) == 1, "one stack is planned in the command's own process"


def test_the_usable_cores_are_those_this_process_may_run_on(monkeypatch):
    import os

    monkeypatch.setattr(parallel, "cgroup_cpu_quota", lambda: None)
    if hasattr(os, "sched_getaffinity"):
        assert parallel.usable_cores() == len(os.sched_getaffinity(0))
    assert parallel.usable_cores() >= 1


@pytest.mark.parametrize(("quota", "cores"), [(0.5, 1), (1.0, 1), (1.5, 2), (10_000.0, None)])
def test_a_cgroup_cpu_quota_bounds_the_default_workers(monkeypatch, quota, cores):
    # A runner pod limited to 2 CPUs on a 64-core node sees 64 cores in its affinity mask.
    monkeypatch.setattr(parallel, "cgroup_cpu_quota", lambda: quota)
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _: set(range(64)), raising=False)
    monkeypatch.delattr(parallel.os, "process_cpu_count", raising=False)
    assert parallel.usable_cores() == (cores or 64)
    assert parallel.worker_count(None, 93) == (cores or 64)


def cgroups(tmp_path: Path, self_cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "sys/fs/cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (tmp_path / "cgroup").write_text(self_cgroup)
    return root, tmp_path / "cgroup"


@pytest.mark.parametrize(
    ("self_cgroup", "files", "quota"),
    [
        # cgroup v2 in a container: the container's own cgroup at the mount's root.
        ("0::/\n", {"cpu.max": "200000 100000\n"}, 2.0),
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),
        # v2 on a host: the tightest of the process's cgroup and its ancestors.
        (
            "0::/kubepods/pod1/runner\n",
            {"kubepods/pod1/cpu.max": "150000 100000", "kubepods/pod1/runner/cpu.max": "max 100000"},
            1.5,
        ),
        # cgroup v1: the cpu controller's quota over its period; -1 is none.
        (
            "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n",
            {"cpu,cpuacct/cpu.cfs_quota_us": "300000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            3.0,
        ),
        ("2:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, None),
        # Nothing readable, or a line that is not a cgroup: no quota.
        ("0::/\n", {}, None),
        ("garbage\n", {"cpu.max": "100000 100000"}, None),
        ("0::/\n", {"cpu.max": "lots 0"}, None),
    ],
)
def test_the_cgroup_cpu_quota_is_read_as_the_kernel_writes_it(tmp_path: Path, self_cgroup, files, quota):
    root, self_file = cgroups(tmp_path, self_cgroup, files)
    assert parallel.cgroup_cpu_quota(root, self_file) == quota


def test_without_cgroups_there_is_no_quota(tmp_path: Path):
    assert parallel.cgroup_cpu_quota(tmp_path / "none", tmp_path / "no-such-file") is None


def test_one_stack_is_planned_without_starting_a_pool(tmp_path: Path, monkeypatch):
    import pulumi

    import mlrig.platform.stack as platform_stack

    def no_pool(workers: int) -> Any:
        raise AssertionError("a pool was started for one stack")

    monkeypatch.setattr(parallel, "worker_pool", no_pool)
    monkeypatch.setattr(
        platform_stack, "deploy_platform", lambda platform, env, settings=None: pulumi.export("clusterName", env.stack)
    )
    code, _, err = plan([str(examples.path("platform.yaml"))], tmp_path / "plan.json", 4, envs=["dev"])
    assert code == 0, err
