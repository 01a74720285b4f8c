"""The platform repository's lock: read back the pinned mlrig, refuse what
`pip install --require-hashes` would refuse."""

from __future__ import annotations

from mlrig.init import lock

from .conftest import fake_hash, prebuilt_lock


def test_the_pinned_mlrig_is_read_from_a_multi_line_lock():
    assert lock.locked_version(prebuilt_lock("1.4.0")) == "1.4.0"
    assert lock.lock_problems(prebuilt_lock("1.4.0"), "1.4.0") == []


def test_a_lock_of_another_version_or_without_hashes_or_mlrig_is_unusable():
    assert lock.lock_problems(prebuilt_lock("1.4.0"), "1.5.0") == ["it pins mlrig 1.4.0, not 1.5.0"]
    assert lock.lock_problems("mlrig==1.4.0\n", "1.4.0") == ["mlrig==1.4.0 has no --hash"]
    assert lock.lock_problems(f"pulumi==3.0.0 {fake_hash('p')}\n") == [
        "it does not pin mlrig (mlrig==<version> with its hashes)"
    ]
    assert "'pulumi>=3' is not pinned with ==" in lock.lock_problems(f"pulumi>=3 {fake_hash('p')}\n")


def test_requirements_in_pins_mlrig_and_says_how_to_upgrade():
    text = lock.requirements_in("2.0.0")
    assert text.splitlines()[-1] == "mlrig==2.0.0" and lock.lock_command_text() in text
    assert "--generate-hashes" in lock.lock_command_text()
