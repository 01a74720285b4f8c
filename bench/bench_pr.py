"""How long does the pull-request workflow take for a one-bundle change? The mlrig part, measured.

Builds a scratch platform repository from the example bundles (`mlrig.examples`, never the live
`bundles/`), runs `mlrig generate`, commits, then changes one project bundle (a pipeline added to
`fraud-detection`), regenerates and commits again: the pull request. It then runs the `run:`
steps of the generated `.github/workflows/mlrig-pull-request.yml`, verbatim, with `bash -e`, in
the order the workflow runs them, with `BASE_SHA` set to the base commit and this virtual
environment as `.venv`, and times each step (wall seconds, best of `--repeat`).

Not measured here (no runner): queueing, checkout, `setup-python`, and the install from the
hash-locked requirements (a cold `pip install` of the lock; the steps say where they are).

Baseline, same run: `mlrig plan` of the changed bundle alone (all its environments, one
process), the least work a pull request could do. The ratio says what the workflow adds to it.

Reference, same run: the diff as the step ran it before it reused the plan step's files
(`mlrig diff` planning base and head itself, serially: `--jobs 1`, no `--head-plans`), timed in
the same rounds as the steps, so that a burst of load from other jobs stretches both alike.

    .venv/bin/python bench/bench_pr.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from process_timing import load_average

from mlrig import examples

VENV = Path(sys.executable).parent.parent
CHANGED = "fraud-detection"
NOT_RUN = ("Install", "Check out", "Set up Python")  # runner setup: not measurable here
REPLANNING_DIFF = '.venv/bin/mlrig diff --base "$BASE_SHA" --head HEAD --format markdown --jobs 1 > /dev/null'
NEW_PIPELINE = """\
    nightly-backfill:
      type: batch-inference
      image: training
      pool: cpu-batch
      schedule: "0 3 * * *"
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def mlrig(repo: Path, *args: str) -> None:
    subprocess.run([str(VENV / "bin" / "mlrig"), *args], cwd=repo, check=True, stdout=subprocess.DEVNULL)


def pull_request(repo: Path) -> str:
    """A platform repository whose HEAD changes one project bundle; returns the base commit."""
    examples.copy_to(repo / "bundles")
    (repo / ".venv").symlink_to(VENV)
    (repo / ".gitignore").write_text(".venv\naffected.json\nplans/\npr-report/\nreport.md\ncomment.md\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@example.com")
    git(repo, "config", "user.name", "bench")
    mlrig(repo, "generate")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    bundle = repo / "bundles" / f"{CHANGED}.yaml"
    text = bundle.read_text(encoding="utf-8")
    assert "\n  pipelines:\n" in text, "the example project has pipelines"
    bundle.write_text(text.replace("\n  pipelines:\n", "\n  pipelines:\n" + NEW_PIPELINE, 1), encoding="utf-8")
    mlrig(repo, "generate")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a pipeline more")
    return base


def steps(repo: Path) -> list[tuple[str, str, str]]:
    """(job, step name, script) of every `run:` step of the pull-request workflow, in order."""
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "mlrig-pull-request.yml").read_text())
    found = []
    for job_id, job in workflow["jobs"].items():
        if job_id == "comment":
            continue  # posts to GitHub
        for step in job["steps"]:
            if "run" in step and not str(step.get("name", "")).startswith(NOT_RUN):
                found.append((job_id, str(step.get("name", "")), str(step["run"])))
    return found


def run_step(repo: Path, script: str, environment: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=environment, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="mlrig-bench-pr-") as tmp:
        repo = Path(tmp) / "repo"
        base = pull_request(repo)
        environment = {
            **os.environ,
            "BASE_SHA": base,
            "GITHUB_OUTPUT": str(Path(tmp) / "github-output"),
            "GITHUB_STEP_SUMMARY": str(Path(tmp) / "step-summary"),
        }
        found = steps(repo)
        timings: dict[tuple[str, str], float] = {}
        baseline = reference = float("inf")
        for _ in range(args.repeat):
            for job, name, script in found:
                elapsed = run_step(repo, script, environment)
                timings[job, name] = min(timings.get((job, name), float("inf")), elapsed)
            start = time.perf_counter()
            mlrig(repo, "plan", f"bundles/{CHANGED}.yaml")
            baseline = min(baseline, time.perf_counter() - start)
            reference = min(reference, run_step(repo, REPLANNING_DIFF, environment))
        from mlrig.ci.plan_summary import load_plans

        stacks, processes = len(load_plans(repo / "plans")), len(list((repo / "plans").glob("*.json")))
    jobs: dict[str, float] = {}
    print(f"{'job':10} {'step':62} {'wall s':>7}")
    for (job, name), elapsed in timings.items():
        jobs[job] = jobs.get(job, 0.0) + elapsed
        print(f"{job:10} {name[:62]:62} {elapsed:7.2f}")
    for job, total in jobs.items():
        print(f"{job:10} {'(all its mlrig steps)':62} {total:7.2f}")
    print(f"affected stacks planned: {stacks}, in {processes} mlrig plan process(es)")
    print(f"baseline: mlrig plan bundles/{CHANGED}.yaml (every environment, one process): {baseline:.2f} s")
    diff_step = next(elapsed for (job, name), elapsed in timings.items() if name.startswith("mlrig diff"))
    print(f"reference: the diff step as it ran before (plans base and head itself, --jobs 1): {reference:.2f} s")
    print(f"ratio, diff step / reference: {diff_step / reference:.2f}x")
    slowest = max(jobs.values())
    print(f"ratio, slowest job's mlrig steps / baseline: {slowest / baseline:.2f}x")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
