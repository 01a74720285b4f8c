"""Suggestions for misspelled keys, names and references."""

from mlrig.aws_catalog import REGIONS
from mlrig.bundle.diagnostics import did_you_mean


def test_a_swapped_pair_of_letters_suggests_the_word_it_came_from():
    assert did_you_mean("us-esat-1", REGIONS) == " (did you mean 'us-east-1'?)"


def test_a_misspelled_key_suggests_the_closest_key():
    assert (
        did_you_mean("maxReplica", ["minReplicas", "maxReplicas", "targetConcurrency"])
        == " (did you mean 'maxReplicas'?)"
    )


def test_nothing_close_suggests_nothing():
    assert did_you_mean("zzz", ["dev", "staging", "prod"]) == ""
