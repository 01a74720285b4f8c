"""The loader: positions for every key and value, and a clear error for every hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrig.bundle.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, LoadError, load_bytes, load_file, load_text


def load_error(text: str | bytes) -> tuple[int, int, str]:
    with pytest.raises(LoadError) as caught:
        if isinstance(text, bytes):
            load_bytes(text, "bundle.yaml")
        else:
            load_text(text, "bundle.yaml")
    d = caught.value.diagnostic
    assert d.file == "bundle.yaml" and d.rule == "load"
    return d.line, d.column, d.message


# --- what a bundle is made of ------------------------------------------------------------------


def test_values_keep_the_line_and_column_they_were_written_at():
    doc = load_text("apiVersion: mlrig/v1\nspec:\n  pools:\n    - name: gpu\n      max: 4\n", "b.yaml")
    assert doc.data == {"apiVersion": "mlrig/v1", "spec": {"pools": [{"name": "gpu", "max": 4}]}}
    assert doc.position(("spec", "pools", 0, "max")) == (5, 12)
    assert doc.position(("spec", "pools", 0, "max"), key=True) == (5, 7)
    assert doc.position(("spec", "pools", 0)) == (4, 7)


def test_a_missing_path_points_at_its_nearest_ancestor():
    doc = load_text("spec:\n  pools: []\n", "b.yaml")
    assert doc.position(("spec", "pools", 3, "name")) == (2, 10)


def test_scalars_follow_the_yaml_core_schema_but_quoted_values_stay_strings():
    doc = load_text('a: 3\nb: "3"\nc: true\nd: ~\ne: 1.5\nf: "true"\ng: 0x10\n', "b.yaml")
    assert doc.data == {"a": 3, "b": "3", "c": True, "d": None, "e": 1.5, "f": "true", "g": 16}


def test_dates_stay_strings_because_bundles_hold_no_dates():
    assert load_text("version: 2024-01-02\n", "b.yaml").data == {"version": "2024-01-02"}


def test_anchors_aliases_and_merge_keys_work_for_honest_reuse():
    doc = load_text("base: &b {cpu: '2', memory: 4Gi}\nx: {<<: *b, cpu: '4'}\ny: *b\n", "b.yaml")
    assert doc.data["x"] == {"cpu": "4", "memory": "4Gi"}
    assert doc.data["y"] == {"cpu": "2", "memory": "4Gi"}


def test_a_utf8_byte_order_mark_is_accepted():
    assert load_bytes(b"\xef\xbb\xbfkind: Project\n", "b.yaml").data == {"kind": "Project"}


def test_a_file_is_loaded_from_disk_with_its_display_name(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text("kind: Platform\n", encoding="utf-8")
    assert load_file(path, "bundles/p.yaml").file == "bundles/p.yaml"


# --- hostile input -----------------------------------------------------------------------------


def test_a_yaml_syntax_error_names_its_line():
    line, _, message = load_error("spec:\n  pools: a: b\nkind: Project\n")
    assert line == 2
    assert message.startswith("YAML syntax error:")


def test_a_bracket_left_open_is_reported_where_it_opens_not_where_yaml_gave_up():
    line, column, message = load_error("spec:\n  pools: [a, b\nkind: Project\n")
    assert (line, column) == (2, 10)
    assert message.startswith("YAML syntax error: this [ is not closed (YAML found no ',' or ']' up to line 3")


def test_tabs_used_for_indentation_are_a_syntax_error_on_their_line_that_says_use_spaces():
    line, _, message = load_error("spec:\n\tpools: []\n")
    assert line == 2 and "syntax error" in message and "indent with spaces, not tabs" in message


def test_a_tab_after_a_key_also_says_use_spaces():
    _, _, message = load_error("spec:\n  pools:\t[\n    a\n\t]\n")
    assert "indent with spaces, not tabs" in message


def test_a_syntax_error_without_tabs_gives_no_tab_hint():
    _, _, message = load_error("spec: {a: 1\n")
    assert "tabs" not in message


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n", "~\n", "null\n"])
def test_an_empty_file_is_rejected(text: str):
    assert "the file is empty" in load_error(text)[2]


def test_a_file_that_is_not_utf8_is_rejected_at_the_offending_byte():
    line, column, message = load_error(b"kind: Project\nname: caf\xe9\n")
    assert (line, column) == (2, 10)
    assert "not valid UTF-8" in message


def test_a_binary_file_is_rejected():
    assert "NUL" in load_error(b"kind: \x00\x01\x02")[2]


@pytest.mark.parametrize(
    ("text", "found"),
    [("- a\n- b\n", "a list"), ("just text\n", "a string"), ("42\n", "a number"), ("true\n", "a boolean")],
)
def test_the_top_level_must_be_a_mapping(text: str, found: str):
    message = load_error(text)[2]
    assert "top level must be a mapping" in message and found in message


def test_a_file_with_several_documents_is_rejected_at_the_second():
    line, _, message = load_error("kind: Platform\n---\nkind: Project\n")
    assert line == 2
    assert "more than one YAML document" in message


def test_a_duplicate_key_is_rejected_naming_both_lines():
    line, _, message = load_error("spec:\n  registries: [a]\n  tags: {}\n  registries: [b]\n")
    assert line == 4
    assert "duplicate key 'registries'" in message and "line 2" in message


def test_a_duplicate_key_inside_a_list_item_is_rejected():
    assert "duplicate key 'max'" in load_error("pools:\n  - {name: a, max: 1, max: 2}\n")[2]


def billion_laughs(levels: int = 10, fanout: int = 10) -> str:
    lines = ['l0: &l0 "lol"']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_alias_bomb_is_rejected_without_expanding_it():
    # 10^9 values if expanded; the loader counts sizes instead, so this returns at once.
    line, _, message = load_error(billion_laughs())
    assert "alias bomb" in message and str(MAX_NODES) in message
    assert line < 10


def test_an_alias_bomb_of_mappings_is_rejected():
    text = "a: &a {x: 1, y: 1, z: 1, w: 1}\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 20)}]\n" for i in range(6)
    )
    assert "alias bomb" in load_error(text)[2]


def test_an_unknown_alias_is_rejected():
    assert "alias" in load_error("a: *nowhere\n")[2]


def test_pathological_block_nesting_is_rejected():
    text = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * (MAX_DEPTH + 5) + "v: 1\n"
    assert f"nesting deeper than {MAX_DEPTH}" in load_error(text)[2]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 2, 10_000])
def test_pathological_flow_nesting_is_rejected(depth: int):
    message = load_error("a: " + "[" * depth + "]" * depth + "\n")[2]
    assert "nesting" in message


def test_nesting_within_the_limit_is_fine():
    depth = MAX_DEPTH - 2
    assert load_text("a: " + "[" * depth + "]" * depth + "\n", "b.yaml").data["a"]


def test_an_oversized_file_is_rejected_before_parsing():
    message = load_error("a: " + "x" * (MAX_FILE_BYTES + 1) + "\n")[2]
    assert "larger than" in message


def test_an_oversized_file_on_disk_is_rejected_by_its_size(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"a: " + b"x" * (MAX_FILE_BYTES + 10))
    with pytest.raises(LoadError) as caught:
        load_file(path)
    assert "over the" in caught.value.diagnostic.message


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:os.system ['id']",
        "!!python/name:os.system",
        "!custom thing",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1]",
    ],
)
def test_custom_tags_are_rejected(value: str):
    line, column, message = load_error(f"kind: Project\nx: {value}\n")
    assert (line, column) == (2, 4)
    assert "tag" in message and "not allowed" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1: a\n", "quote the key"), ("? [a]\n: 1\n", "plain strings"), ("? {a: 1}\n: 1\n", "plain strings")],
)
def test_mapping_keys_must_be_strings(text: str, expected: str):
    assert expected in load_error(text)[2]


def test_a_merge_key_needs_a_mapping():
    assert "merge key" in load_error("a: {<<: [1, 2]}\n")[2]


def test_a_control_character_is_rejected_at_its_line_and_column():
    assert load_error("kind: Project\nname: a\x07b\n") == (
        2,
        8,
        "the file contains the character #x0007, which YAML does not allow; remove it",
    )


def test_text_with_lone_surrogates_is_rejected():
    assert "not valid Unicode" in load_error("kind: \ud800\n")[2]


def test_a_value_that_does_not_fit_its_explicit_core_tag_is_rejected():
    assert load_error("replicas: !!int three\n") == (1, 11, "'three' is not a valid int; fix it or drop the !!int tag")


def test_plain_numbers_are_read_as_yaml_1_2_and_editors_read_them():
    doc = load_text("a: 010\nb: 08\nc: 1e3\nd: 2e-1\ne: 1:30\nf: 1_000\ng: 0o17\nh: '010'\n", "b.yaml")
    assert doc.data == {"a": 10, "b": 8, "c": 1000.0, "d": 0.2, "e": "1:30", "f": "1_000", "g": 15, "h": "010"}


def test_a_number_with_more_digits_than_python_converts_is_a_clean_error():
    line, column, message = load_error("a: " + "1" * 5000 + "\n")
    assert (line, column) == (1, 4) and "has 5000 digits, far more than any field holds" in message
    assert "write the number the field needs" in message
    assert len(message) < 300, "the message shows the number's ends, not its 5000 digits"
