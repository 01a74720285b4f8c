"""The README is the first thing a platform engineer runs: its quick start, its links and every
`mlrig` command it shows must be real."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from mlrig.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```[^\n]*\n.*?^```", re.S | re.M)
# Where a command line ends inside a code line: shell operators, comments, closing quotes/backticks.
END_OF_COMMAND = re.compile(r"\s(?:&&|\|\||\||;|#|>|<)\s|`|\)|$")
# Words that follow "mlrig" in code spans without being a command: the workflow `mlrig pull request`,
# and the comment `mlrig graph` heads its Mermaid output with (`%% mlrig architecture, …`).
PROSE_AFTER_MLRIG = {"pull", "architecture"}
MLRIG_CALL = re.compile(r"(?:^|(?<=[\s/`(]))mlrig ((?:[^\n])*)")


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", text)


def code_lines(text: str) -> list[str]:
    """Lines of the fenced blocks (without shell comments) and the inline code spans of the prose."""
    lines = [re.split(r"(?:^|\s)#\s", line)[0] for block in FENCE.findall(text) for line in block.splitlines()[1:-1]]
    return lines + re.findall(r"`([^`\n]+)`", prose(text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^#{1,6} (.+)$", prose(text), re.M)]


def test_the_readme_starts_with_the_title_what_mlrig_is_and_the_two_command_quick_start():
    first_heading, second_heading = re.findall(r"^## (.+)$", prose(README), re.M)[:2]
    assert README.startswith("# mlrig\n")
    assert first_heading == "Quick start" and second_heading == "Contents"
    intro = README.split("## Quick start", 1)[0].removeprefix("# mlrig\n").strip()
    assert "mlrig is" in intro
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#", 1)[0].strip() for line in FENCE.findall(quick_start)[0].splitlines()[1:-1] if line.strip()
    ]
    assert commands == ["python3 dev.py plan", "python3 dev.py test"]
    assert "exec python3 dev.py test" in (ROOT / ".ci/run").read_text()


def test_every_link_inside_the_readme_points_at_a_heading():
    anchors = {github_slug(h) for h in headings(README)}
    links = set(re.findall(r"\]\(#([^)]+)\)", prose(README)))
    assert links and sorted(links - anchors) == []


def test_every_file_the_readme_links_to_is_in_the_repository():
    targets = {t for t in re.findall(r"\]\(([^)#:]+)\)", prose(README))}
    assert targets and sorted(t for t in targets if not (ROOT / t).exists()) == []


def _command(tokens: list[str]) -> tuple[click.Command, list[str]] | None:
    """The click command a token list names (`init project …`) and the tokens after it; None when
    the first token is not a command (prose such as `mlrig is`)."""
    command: click.Command = cli
    used = 0
    while isinstance(command, click.Group) and used < len(tokens):
        sub = command.get_command(click.Context(command), tokens[used])
        if sub is None:
            break
        command, used = sub, used + 1
    if command is cli and not (tokens and tokens[0].startswith("-")):
        return None
    # A group with a default command (`mlrig cost FILE --env E` is `mlrig cost estimate …`) hands
    # it every argument that names no sub-command.
    default = getattr(command, "default_command", None)
    if isinstance(command, click.Group) and default:
        command = command.get_command(click.Context(command), default) or command
    return command, tokens[used:]


def _options(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        names.update(getattr(param, "opts", []))
        names.update(getattr(param, "secondary_opts", []))
    return names


def mlrig_calls(text: str) -> list[tuple[str, list[str]]]:
    """Every `mlrig …` call in the code of `text`, as (its text, its tokens after `mlrig`)."""
    calls = []
    for line in code_lines(text):
        for segment in re.split(r"\s(?:&&|\|\||\||;)\s", line):
            for match in MLRIG_CALL.finditer(segment):
                rest = END_OF_COMMAND.split(match.group(1), maxsplit=1)[0]
                try:
                    tokens = shlex.split(rest.replace("…", " "), comments=False)
                except ValueError:
                    tokens = rest.split()
                calls.append((match.group(0).strip(), [t.rstrip(",.:") for t in tokens]))
    return calls


def test_every_mlrig_command_the_readme_shows_exists_with_the_options_it_shows():
    problems = []
    calls = mlrig_calls(README)
    assert len(calls) > 50
    for text, tokens in calls:
        found = _command(tokens)
        if found is None:
            if tokens and re.fullmatch(r"[a-z-]+", tokens[0]) and tokens[0] not in PROSE_AFTER_MLRIG:
                problems.append(f"no command {tokens[0]!r}: {text}")
            continue
        command, rest = found
        flags = {
            re.sub(r"[\]|\\].*$", "", t.lstrip("[").split("=", 1)[0]) for t in rest if t.lstrip("[").startswith("--")
        }
        unknown = sorted(flags - _options(command))
        if unknown:
            problems.append(f"{command.name} has no option {', '.join(unknown)}: {text}")
    assert problems == []


def test_options_of_a_group_with_a_default_command_are_checked_against_that_command():
    command, rest = _command(["cost", "bundles/x.yaml", "--env", "prod"]) or (None, [])
    assert command is not None and command.name == "estimate" and rest == ["bundles/x.yaml", "--env", "prod"]
    assert "--env" in _options(command) and "--nope" not in _options(command)
    refresh, _ = _command(["cost", "refresh-prices", "--out", "p.json"]) or (None, [])
    assert refresh is not None and refresh.name == "refresh-prices" and "--out" in _options(refresh)


@pytest.mark.parametrize("document", ["README.md", "CHANGELOG.md", "ci/README.md"])
def test_user_documents_send_nobody_to_notes_they_do_not_have(document: str):
    text = (ROOT / document).read_text(encoding="utf-8")
    assert re.findall(r"DESIGN(?:\.md| §)|reviews/|\bissue \d+\b|docs/notes", text) == []


# --- the quick start's sample output is what `mlrig plan` prints for the examples ----------------

BUNDLE_LINE = re.compile(r"^(Platform|Project) (\S+) \(bundles/(\S+)\): .*$")
STACK_LINE = re.compile(r"^(\w+): stack \S+, .*$")


def quick_start_output() -> list[str]:
    """The lines of the quick start's sample output block (the block after the two commands)."""
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in FENCE.findall(quick_start)[1].splitlines()[1:-1] if line.strip()]


def printed_plan_lines(example_result, platform_plan, project_plan) -> dict[str, str]:
    """What `mlrig plan bundles` prints for the example bundles, per line's subject: a bundle's
    line by bundle name, a stack's head line by `<bundle>/<env>`, and the final `Planned` line."""
    from mlrig.plan.command import BundlePlan, summary_line
    from mlrig.plan.render import stack_summary, summary_lines

    targets = [*example_result.platforms.values(), *example_result.projects.values()]
    plans = []
    lines: dict[str, str] = {}
    for target in targets:
        plan_of = platform_plan if target.bundle.kind == "Platform" else lambda env, t=target: project_plan(t.name, env)
        environments = {env: plan_of(env) for env in target.environments}
        plans.append(BundlePlan(target, environments))
        first = summary_lines(target, environments)[0]
        lines[target.name] = first.replace(f"({target.file})", f"(bundles/{Path(target.file).name})")
        for env, plan in environments.items():
            lines[f"{target.name}/{env}"] = stack_summary(env, plan)[0]
    lines["Planned"] = summary_line(plans)
    return lines


def test_the_quick_starts_sample_plan_output_is_what_mlrig_prints_for_the_examples(
    example_result, platform_plan, project_plan
):
    """Counts in the README drift silently as the program grows: every bundle line, stack line and
    the total the quick start shows must be the ones `python3 dev.py plan` prints today."""
    printed = printed_plan_lines(example_result, platform_plan, project_plan)
    shown = quick_start_output()
    compared, problems = 0, []
    bundle = None
    for line in shown:
        if match := BUNDLE_LINE.match(line):
            bundle, key = match.group(2), match.group(2)
        elif (match := STACK_LINE.match(line)) and bundle is not None:
            key = f"{bundle}/{match.group(1)}"
        elif line.startswith("Planned "):
            key = "Planned"
        else:
            continue
        compared += 1
        if printed.get(key) != line:
            problems.append(f"README shows   {line}\nmlrig prints   {printed.get(key)}")
    assert compared >= 5, shown
    assert problems == [], "update the quick start's sample output:\n" + "\n".join(problems)
