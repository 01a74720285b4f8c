"""Compare every diagnostic of two mlrig builds on many bundle sets: the shipped examples, the
tests' valid sets, and mutated copies of both (long names, missing pools, bad schedules, sizes
over the platform's bounds, names clashing across projects, random values anywhere).

    .venv/bin/python bench/compare_diagnostics.py --before /tmp/before/infra --sets 300

`--before` is the `infra` directory of another build (e.g. `git archive main infra | tar -x`);
each build validates every set in a process of its own (`mlrig.bundle.validate.validate_paths`)
and writes what it found (file, line, column, path, message, rule, in order, and which projects
resolved) as JSON; the script reports the sets whose results differ. A performance change to
validation must leave every one of them alike.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "infra" / "mlrig" / "examples"
VALID_SETS = ROOT / "tests" / "valid_sets" / "sets"

# Run by each build, in a process of its own: argv[1] is a file listing one directory per line.
RUNNER = """
import json, sys
from mlrig.bundle.validate import validate_paths
out = {}
for directory in open(sys.argv[1]).read().split():
    result = validate_paths([directory])
    out[directory] = {
        "diagnostics": [[d.file, d.line, d.column, d.path, d.message, d.rule] for d in result.diagnostics],
        "projects": sorted(result.projects),
        "platforms": sorted(result.platforms),
    }
json.dump(out, sys.stdout)
"""

SCHEDULES = [
    "0 3 * * *",
    "59 23 * * 7",
    "60 1 * * *",
    "5 24 * * *",
    "@daily",
    "* * * *",
    "0 0 31 2 *",
    "*/0 * * * *",
    "0 0 L * *",
    "0 0 * * mon-fri",
    "0 0 * jan *",
    "05 3 * * *",
    "0  3 * * *",
    " 0 3 * * *",
    "0\t3 * * *",
    "0 3 * * 8",
    "0 3 1-31/2 * *",
    "0 3 * * sun#2",
    "1,2,3 * * * *",
    "* * * * *",
    "0 3 ? * *",
    "30 2 * * 0",
]


def bundle_sets() -> list[list[tuple[str, str]]]:
    """The examples, every valid set, as lists of (file name, text)."""
    sets = [[(p.name, p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))]]
    for directory in sorted(VALID_SETS.iterdir()):
        sets.append([(p.name, p.read_text()) for p in sorted(directory.glob("*.yaml"))])
    return sets


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += leaves(item, (*path, index))
    return found


def parent_of(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        document = document[part]
    return document


def long_name(rng: random.Random, length: int) -> str:
    words = ["fraud", "detect", "gpu", "train", "a", "serve", "model", "x1", "batch", "long"]
    name = rng.choice(words)
    while len(name) < length:
        name += "-" + rng.choice(words)
    return name[:length].rstrip("-") or "a"


def rename_key(mapping: dict[str, Any], old: str, new: str) -> None:
    items = list(mapping.items())
    mapping.clear()
    for key, value in items:
        mapping[new if key == old else key] = value


def mutate(rng: random.Random, documents: list[dict[str, Any]]) -> None:
    """One mutation of a bundle set, in place."""
    projects = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Project"]
    platforms = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Platform"]
    action = rng.choice(
        ["project-name", "item-name", "pool", "schedule", "size", "clash", "clash", "random", "endpoint", "env"]
    )
    project = rng.choice(projects) if projects else None
    spec = project.get("spec", {}) if project else {}
    if action == "project-name" and project:
        old = project["metadata"]["name"]
        new = long_name(rng, rng.choice([3, 12, 20, 24, 28, 30, 35, 45, 60]))
        if rng.random() < 0.3:
            new = rng.choice(["sthree-x", "system-a", "amzn-s3-demo-q", "a--b", old + "-dev", "xn-a"])
        project["metadata"]["name"] = new
        for platform in platforms:
            projects_ = platform.get("spec", {}).get("tenancy", {}).get("projects", {})
            if isinstance(projects_, dict) and old in projects_:
                rename_key(projects_, old, new)
    elif action == "item-name" and spec:
        kind = rng.choice(["pipelines", "pools", "endpoints", "registries"])
        new = long_name(rng, rng.choice([5, 30, 40, 50, 53, 60, 70]))
        if rng.random() < 0.3:
            new = rng.choice(["serving", "tracking", "api-canary", "api", "model-import", "gpu-train"])
        if kind == "pipelines" and spec.get("pipelines"):
            rename_key(spec["pipelines"], rng.choice(list(spec["pipelines"])), new)
        elif kind == "pools" and spec.get("compute", {}).get("pools"):
            rng.choice(spec["compute"]["pools"])["name"] = new
        elif kind == "endpoints" and spec.get("serving", {}).get("endpoints"):
            rng.choice(spec["serving"]["endpoints"])["name"] = new
        elif kind == "registries" and spec.get("registries"):
            spec["registries"][rng.randrange(len(spec["registries"]))] = new
    elif action == "pool" and spec.get("compute", {}).get("pools"):
        pools = spec["compute"]["pools"]
        del pools[rng.randrange(len(pools))]
    elif action == "schedule" and spec:
        targets = [p for p in (spec.get("pipelines") or {}).values() if isinstance(p, dict)]
        if targets and rng.random() < 0.7:
            rng.choice(targets)["schedule"] = rng.choice(SCHEDULES)
        else:
            spec.setdefault("monitoring", {})["schedule"] = rng.choice(SCHEDULES)
    elif action == "size":
        document = rng.choice(documents)
        numbers = [p for p in leaves(document) if isinstance(parent_of(document, p)[p[-1]], int | float)]
        numbers = [p for p in numbers if not isinstance(parent_of(document, p)[p[-1]], bool)]
        if numbers:
            path = rng.choice(numbers)
            value = parent_of(document, path)[path[-1]]
            parent_of(document, path)[path[-1]] = rng.choice([0, 1, 2, value * 2, value * 10, value + 1, 10_000])
    elif action == "clash" and project:
        twin = copy.deepcopy(project)
        base = project["metadata"]["name"]
        name = rng.choice([base, base + "-dev", base + "-prod", base[:-1] or "a", base + "-staging", base + "-x"])
        twin["metadata"]["name"] = name
        repository = twin["spec"]["repository"] = f"{str(spec.get('repository', 'a/b')).split('/')[0]}/{name}"
        documents.append(twin)
        for platform in platforms:
            projects_ = platform.get("spec", {}).get("tenancy", {}).get("projects", {})
            if isinstance(projects_, dict) and base in projects_:
                projects_[name] = {**copy.deepcopy(projects_[base]), "repository": repository}
            environments = platform.get("spec", {}).get("environments")
            # `<base>` in `staging-prod` and `<base>-staging` in `prod` make one RDS name
            staged = name.endswith("-staging") and rng.random() < 0.7 and isinstance(environments, dict)
            if staged and "dev" in environments and "prod" in environments:
                rename_key(environments, "dev", "staging-prod")
    elif action == "endpoint" and spec.get("serving", {}).get("endpoints"):
        endpoint = rng.choice(spec["serving"]["endpoints"])
        endpoint["rollout"] = rng.choice(
            [{"strategy": "canary", "percent": 10}, {"strategy": "ab", "percent": 50}, {"strategy": "shadow"}]
        )
    elif action == "env" and platforms:
        platform = rng.choice(platforms)
        environments = platform.get("spec", {}).get("environments")
        if isinstance(environments, dict) and environments:
            old = rng.choice(list(environments))
            rename_key(environments, old, rng.choice(["dev-x", "staging-prod", "p", long_name(rng, 20)]))
        if rng.random() < 0.3:
            platform.setdefault("spec", {})["isolation"] = rng.choice(["namespace", "account", "cluster"])
    else:
        document = rng.choice(documents)
        paths = leaves(document)
        if paths:
            path = rng.choice(paths)
            choice = rng.choice(["delete", "value"])
            parent = parent_of(document, path)
            if choice == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = rng.choice([None, 0, -1, "", "x" * 70, [], {}, True, "gpu-train", 3.5])


def write_sets(root: Path, count: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    sources = bundle_sets()
    directories = []
    for index, files in enumerate(sources):  # every set unchanged first
        directories.append(write(root / f"set-{index:04d}", files))
    for index in range(len(sources), count):
        files = rng.choice(sources)
        documents = [yaml.safe_load(text) for _, text in files]
        for _ in range(rng.randint(1, 4)):
            # an earlier mutation may have left no such block: the set then stays as it is
            with contextlib.suppress(AttributeError, TypeError, KeyError, IndexError, ValueError):
                mutate(rng, documents)
        texts = [(f"b{n}.yaml", yaml.safe_dump(d, sort_keys=False)) for n, d in enumerate(documents)]
        directories.append(write(root / f"set-{index:04d}", texts))
    return directories


def write(directory: Path, files: list[tuple[str, str]]) -> Path:
    directory.mkdir(parents=True)
    seen = set()
    for name, text in files:
        try:  # named as the bundle, as a repository names it (else every set fails on its file names)
            data = yaml.safe_load(text)
            name = f"{data['metadata']['name']}.yaml"
        except Exception:
            pass
        while name in seen:
            name = "z" + name
        seen.add(name)
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def run(infra: Path, listing: Path) -> dict[str, Any]:
    env = {"PYTHONPATH": str(infra), "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(listing)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the infra directory of the other build")
    parser.add_argument("--after", type=Path, default=ROOT / "infra")
    parser.add_argument("--sets", type=int, default=300)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--verbose", action="store_true", help="how many diagnostics each rule gave")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="compare-diagnostics-"))
    try:
        directories = write_sets(root, args.sets, args.seed)
        listing = root / "sets.txt"
        listing.write_text("\n".join(str(d) for d in directories))
        before, after = run(args.before, listing), run(args.after, listing)
        differ = [d for d in before if before[d] != after[d]]
        diagnostics = sum(len(r["diagnostics"]) for r in after.values())
        valid = sum(1 for r in after.values() if not r["diagnostics"])
        rules = {d[5] for r in after.values() for d in r["diagnostics"]}
        print(
            f"{len(directories)} bundle sets ({valid} without diagnostics), {diagnostics} diagnostics from "
            f"{len(rules)} rules: {len(differ)} differ"
        )
        if args.verbose:
            counts: dict[str, int] = {}
            for r in after.values():
                for d in r["diagnostics"]:
                    counts[d[5]] = counts.get(d[5], 0) + 1
            print(", ".join(f"{rule} {n}" for rule, n in sorted(counts.items(), key=lambda x: -x[1])))
        for directory in differ[:5]:
            print(directory, json.dumps(before[directory])[:2000], json.dumps(after[directory])[:2000], sep="\n")
        return 1 if differ else 0
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    sys.exit(main())
