"""The text forms of a plan: a summary per stack (the default: resources by component and by
type, protected resources, warnings), or the whole tree of environment → component → resources
(`--detail`). Both are plain lines that never wrap inside a name when piped."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from ..program import Target
from .engine import StackPlan

MAX_NAMES = 4


def label(markup: str) -> Text:
    """Long names fold onto the next line instead of being cut at the terminal's edge."""
    return Text.from_markup(markup, overflow="fold")


def render_tree(target: Target, environments: dict[str, StackPlan]) -> Tree:
    total = sum(1 for p in environments.values() for r in p.resources if r["custom"])
    root = Tree(
        label(
            f"[bold]{escape(target.bundle.kind)} {escape(target.name)}[/] [dim]{escape(target.file)}[/]: {total} resources in {len(environments)} stack(s)"
        )
    )
    for env, plan in environments.items():
        root.children.append(environment_node(env, plan))
    return root


def environment_node(env: str, plan: StackPlan) -> Tree:
    custom = [r for r in plan.resources if r["custom"]]
    protected = sum(1 for r in custom if r["options"]["protect"])
    node = Tree(
        label(
            f"[bold cyan]{escape(env)}[/] [dim]stack[/] {escape(plan.stack)}: {len(custom)} resources"
            + (f", [yellow]{protected} protected[/]" if protected else "")
            + (f", {len(plan.outputs)} outputs" if plan.outputs else "")
        )
    )
    children = _children_by_parent(plan)
    _add_children(node, None, children)
    for warning in plan.warnings:
        node.add(label(f"[yellow]warning:[/] {escape(warning)}"))
    return node


def _children_by_parent(plan: StackPlan) -> dict[str | None, list[dict[str, Any]]]:
    known = {r["urn"] for r in plan.resources}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for resource in plan.resources:
        parent = resource["parent"] if resource["parent"] in known else None
        children.setdefault(parent, []).append(resource)
    return children


def _count_below(urn: str, children: dict[str | None, list[dict[str, Any]]]) -> int:
    return sum(1 + _count_below(c["urn"], children) if not c["custom"] else 1 for c in children.get(urn, []))


def _add_children(node: Tree, parent: str | None, children: dict[str | None, list[dict[str, Any]]]) -> None:
    below = children.get(parent, [])
    for component in (r for r in below if not r["custom"]):
        count = sum(1 for _ in _custom_below(component["urn"], children))
        text = f"[bold]{escape(short_type(component['type']))}[/] {escape(component['name'])} ({count})"
        if component["options"]["protect"]:
            text += " [yellow]protected[/]"
        _add_children(node.add(label(text)), component["urn"], children)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in (r for r in below if r["custom"]):
        by_type.setdefault(resource["type"], []).append(resource)
    for token, resources in sorted(by_type.items()):
        names = [r["name"] for r in resources]
        shown = ", ".join(names[:MAX_NAMES]) + (f", … {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else "")
        protected = Counter(r["options"]["protect"] for r in resources)[True]
        flag = f" [yellow]({protected} protected)[/]" if protected else ""
        node.add(label(f"{escape(display_type(token))} ×{len(resources)}{flag}: [dim]{escape(shown)}[/]"))


def _custom_below(urn: str, children: dict[str | None, list[dict[str, Any]]]) -> Any:
    for child in children.get(urn, []):
        if child["custom"]:
            yield child
        else:
            yield from _custom_below(child["urn"], children)


def display_type(token: str) -> str:
    """`aws:iam/role:Role` → `aws:iam:Role`; other tokens stay whole."""
    package, module, name = ([*token.split(":", 2), "", ""])[:3]
    if package == "aws" and "/" in module:
        return f"aws:{module.split('/')[0]}:{name}"
    return token


def short_type(token: str) -> str:
    """`mlrig:platform:Network` → `Network`."""
    return token.rsplit(":", 1)[-1]


# --- the summary -----------------------------------------------------------------------------------


def summary_lines(target: Target, environments: dict[str, StackPlan]) -> list[str]:
    """Per stack: counts of resources by top-level component and by type, the protected
    resources by name, and the program's warnings. Plain text, one fact per line."""
    total = sum(1 for p in environments.values() for r in p.resources if r["custom"])
    lines = [f"{target.bundle.kind} {target.name} ({target.file}): {total} resources in {len(environments)} stack(s)"]
    for env, plan in environments.items():
        lines += ["  " + line for line in stack_summary(env, plan)]
    return lines


def stack_summary(env: str, plan: StackPlan) -> list[str]:
    custom = [r for r in plan.resources if r["custom"]]
    components = [r for r in plan.resources if not r["custom"]]
    protected = [r for r in custom if r["options"]["protect"]]
    head = f"{env}: stack {plan.stack}, {len(custom)} resources (+{len(components)} components)"
    head += f", {len(protected)} protected" if protected else ""
    head += f", {len(plan.outputs)} outputs" if plan.outputs else ""
    lines = [head]
    by_component = _top_component_counts(plan)
    if by_component:
        lines.append("  components: " + ", ".join(f"{name} {count}" for name, count in by_component))
    by_type = Counter(display_type(r["type"]) for r in custom)
    lines.append("  types: " + ", ".join(f"{token} ×{count}" for token, count in sorted(by_type.items())))
    if protected:
        kept = Counter(display_type(r["type"]) for r in protected)
        lines.append("  protected: " + ", ".join(f"{token} ×{count}" for token, count in sorted(kept.items())))
    lines += [f"  warning: {warning}" for warning in plan.warnings]
    return lines


def _top_component_counts(plan: StackPlan) -> list[tuple[str, int]]:
    """(`Type name`, resources below it) of each top-level component, then `(stack)` for the
    resources directly in the stack."""
    children = _children_by_parent(plan)
    parent: str | None = None
    direct = 0
    while True:  # a stack made of one component (a project) is summarised by that one's parts
        below = children.get(parent, [])
        direct += sum(1 for r in below if r["custom"])
        parts = [c for c in below if not c["custom"]]
        if len(parts) != 1:
            break
        parent = parts[0]["urn"]
    counts = [
        (f"{short_type(c['type'])} {c['name']}", sum(1 for _ in _custom_below(c["urn"], children)))
        for c in children.get(parent, [])
        if not c["custom"]
    ]
    if direct:
        counts.append(("(outside components)", direct))
    return counts
