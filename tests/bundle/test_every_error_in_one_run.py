"""A schema error does not hide the semantic errors of the same file."""

from pathlib import Path

from mlrig.bundle.validate import validate_paths

from .helpers import BUNDLES


def _bundles(tmp_path: Path, edit) -> Path:
    for source in BUNDLES.glob("*.yaml"):
        (tmp_path / source.name).write_text(edit(source.name, source.read_text()))
    return tmp_path


def test_a_bad_value_and_a_bad_reference_are_both_reported(tmp_path: Path):
    def edit(name: str, text: str) -> str:
        if name == "fraud-detection.yaml":
            return text.replace("max: 4\n", "max: -1\n", 1).replace("pool: gpu-train", "pool: gpu-trian", 1)
        return text

    result = validate_paths([_bundles(tmp_path, edit) / "fraud-detection.yaml"])
    messages = [d.message for d in result.diagnostics]
    assert any("must be at least 0" in m for m in messages)
    assert any("'gpu-trian' is not a declared compute pool" in m for m in messages)
    assert not result.valid


def test_the_default_that_replaces_a_bad_value_is_not_judged(tmp_path: Path):
    def edit(name: str, text: str) -> str:
        if name == "fraud-detection.yaml":
            # min 8 with an invalid max: reporting "min greater than the default max" would mislead.
            return text.replace("min: 0\n        max: 4\n", "min: 8\n        max: many\n", 1)
        return text

    result = validate_paths([_bundles(tmp_path, edit) / "fraud-detection.yaml"])
    messages = [d.message for d in result.diagnostics]
    assert any("expected an integer" in m for m in messages), messages
    assert not any("greater than max" in m for m in messages), messages
