"""The loader's fast path (no positions until a diagnostic needs them) never decides differently
from the positioned builder: every text loads to the same values and positions, or fails with the
same diagnostic, with the fast path or without it."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrig import examples
from mlrig.bundle import loader
from mlrig.bundle.loader import MAX_DEPTH, MAX_NODES, LoadError, load_text

from .helpers import dump
from .test_fuzz import ANY_VALUE, YAML_ALPHABET, corrupted_example_texts

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def typed(value: Any) -> Any:
    """`value` with every type spelled out: 1, 1.0 and True differ, and so does key order."""
    if isinstance(value, dict):
        return ("dict", tuple((typed(k), typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(typed(v) for v in value))
    return (type(value).__name__, repr(value))


def outcome(text: str) -> tuple[Any, ...]:
    try:
        document = load_text(text, "b.yaml")
    except LoadError as error:
        return ("error", error.diagnostic)
    return ("loaded", typed(document.data), document.positions, document.key_positions)


def positioned_outcome(text: str) -> tuple[Any, ...]:
    """What the loader decides with the positioned builder alone (the loader before its fast path)."""
    with mock.patch.object(loader._FastBuilder, "build", side_effect=loader._Unsure):
        return outcome(text)


def fast_path_accepts(text: str) -> bool:
    try:
        loader._FastBuilder(text).build()
    except Exception:
        return False
    return True


def assert_same_decision(text: str) -> None:
    assert outcome(text) == positioned_outcome(text)


@pytest.mark.parametrize("file", ["platform.yaml", "fraud-detection.yaml", "rag-assistant.yaml"])
def test_the_example_bundles_take_the_fast_path_and_keep_every_position(file: str):
    text = examples.path(file).read_text(encoding="utf-8")
    assert fast_path_accepts(text)
    assert_same_decision(text)


HOSTILE = {
    "an anchor and alias": "a: &x {b: 1}\nc: *x\n",
    "a merge key": "base: &b {cpu: '2'}\nx: {<<: *b, cpu: '4'}\n",
    "a merge key without an anchor": "x: {<<: {cpu: '2'}, cpu: '4'}\n",
    "a merge key that is not a mapping": "x: {<<: 3}\n",
    "a billion laughs": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)),
    "an unknown alias": "a: *nowhere\n",
    "a custom scalar tag": "a: !python/object:os.system ls\n",
    "a custom mapping tag": "a: !thing {b: 1}\n",
    "an explicit core tag": "a: !!str 3\nb: !!int '7'\n",
    "an explicit tag that does not fit": "a: !!int nope\n",
    "a non-specific tag": "a: ! 3\n",
    "a plain value the core int cannot make": "a: 0x_\n",
    "a duplicate key": "a: 1\nb: 2\na: 3\n",
    "a duplicate key in a list item": "a:\n  - {n: 1, n: 2}\n",
    "a boolean key": "yes: 1\n",
    "a number key": "3: x\n",
    "a null key": "~: x\n",
    "a quoted key that looks like a number": "'3': x\n",
    "a date key": "2024-01-02: x\n",
    "a mapping key": "? {a: 1}\n: x\n",
    "a sequence key": "? [a]\n: x\n",
    "an empty file": "",
    "only a comment": "# nothing\n",
    "an empty document": "---\n...\n",
    "a null document": "~\n",
    "a top-level list": "- a\n- b\n",
    "a top-level scalar": "just text\n",
    "a top-level anchor": "&top {a: 1}\n",
    "a tagged top level": "!!map {a: 1}\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "a second empty document": "a: 1\n---\n",
    "a syntax error": "a: [1, 2\n",
    "a tab": "a:\n\tb: 1\n",
    "a control character": "a: b\x07\n",
    "deep flow nesting": "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n",
    # The top level is at depth 0: its value `a` at 1, the innermost list at the number of brackets.
    "nesting at the limit": "a: " + "[" * MAX_DEPTH + "x" + "]" * MAX_DEPTH + "\n",
    "nesting one past the limit": "a: " + "[" * (MAX_DEPTH + 1) + "x" + "]" * (MAX_DEPTH + 1) + "\n",
    "deep block nesting": "".join(f"{'  ' * i}k:\n" for i in range(MAX_DEPTH + 5)),
    "too many values": "a: [" + ", ".join(["1"] * (MAX_NODES + 1)) + "]\n",
    "exactly the most values": "a: [" + ", ".join(["1"] * (MAX_NODES - 2)) + "]\n",
    "too many keys and values": "a:\n" + "".join(f"  k{i}: {i}\n" for i in range(MAX_NODES)),
    "core values": "a: 3\nb: '3'\nc: true\nd: ~\ne: 1.5\nf: .nan\ng: 0x10\nh: 2024-01-02\ni: 0o17\nj: -.inf\n",
    # List items that are scalars are read inline, like mapping values: each check still applies.
    "an alias as a list item": "a: &x 1\nb: [*x, 2]\n",
    "an anchor on a list item": "a: [&x 1, 2]\n",
    "a tag on a list item": "a: [!!str 1, 2]\n",
    "a custom tag on a list item": "a: [1, !thing 2]\n",
    "core values as list items": "a: [3, '3', true, ~, 1.5, .nan, 0x10, 2024-01-02, 0o17, -.inf, 08, 1_000]\n",
    "a list item with more digits than Python converts": "a: [" + "9" * 5000 + "]\n",
    "too many values in nested lists": "a: [" + ", ".join(["[1]"] * (MAX_NODES // 2)) + "]\n",
    "exactly the most values in nested lists": "a: [" + ", ".join(["[1]"] * ((MAX_NODES - 2) // 2)) + "]\n",
    # A plain key is judged once by its text: the same text quoted, or written again, is judged alike.
    "a key quoted, then the same key plain": "'yes': 1\nyes: 2\n",
    "a text key, then a merge key": "k: 1\nx: {k: 2, <<: {y: 1}}\n",
    "a text key, then a number key": "a: {k: 1}\nb: {k: 1, 3: x}\n",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_and_unusual_texts_are_decided_as_without_the_fast_path(text: str):
    assert_same_decision(text)


@pytest.mark.parametrize(
    "case",
    [
        "an anchor and alias",
        "a merge key without an anchor",
        "a custom scalar tag",
        "an explicit core tag",
        "a duplicate key",
        "a boolean key",
        "nesting one past the limit",
        "too many values",
        "two documents",
    ],
)
def test_the_fast_path_leaves_what_is_not_an_ordinary_bundle_to_the_positioned_builder(case: str):
    assert not fast_path_accepts(HOSTILE[case])


def test_the_limits_are_where_the_positioned_builder_puts_them():
    assert outcome(HOSTILE["nesting at the limit"])[0] == "loaded"
    assert outcome(HOSTILE["nesting one past the limit"])[0] == "error"
    assert outcome(HOSTILE["exactly the most values"])[0] == "loaded"
    assert outcome(HOSTILE["too many values"])[0] == "error"
    assert outcome(HOSTILE["a date key"])[1] == typed({"2024-01-02": "x"})
    assert outcome(HOSTILE["exactly the most values in nested lists"])[0] == "loaded"
    assert outcome(HOSTILE["too many values in nested lists"])[0] == "error"
    assert fast_path_accepts(HOSTILE["exactly the most values in nested lists"])
    assert not fast_path_accepts(HOSTILE["too many values in nested lists"])


@FUZZ
@given(st.text(YAML_ALPHABET, max_size=300))
def test_random_yaml_like_text_is_decided_as_without_the_fast_path(text: str):
    assert_same_decision(text)


@FUZZ
@given(corrupted_example_texts())
def test_corrupted_example_text_is_decided_as_without_the_fast_path(text: str):
    assert_same_decision(text)


@FUZZ
@given(st.dictionaries(st.text(max_size=10), ANY_VALUE, max_size=4))
def test_any_dumped_mapping_is_decided_as_without_the_fast_path(data: dict[str, Any]):
    assert_same_decision(dump(data))


def test_positions_are_found_only_when_asked_for():
    text = "apiVersion: mlrig/v1\nspec:\n  pools:\n    - name: gpu\n      max: 4\n"
    with mock.patch.object(loader, "_Builder", wraps=loader._Builder) as positioned:
        document = load_text(text, "b.yaml")
        assert positioned.call_count == 0
        assert document.position(("spec", "pools", 0, "max")) == (5, 12)
        assert document.position(("spec", "pools", 0, "max"), key=True) == (5, 7)
        assert positioned.call_count == 1
