"""Python's cyclic garbage collector, paused while mlrig builds what it keeps.

Importing the bundle models (pydantic builds 53 validators) and validating bundles allocate
millions of small objects that live until the process ends and hold no garbage cycles; the
collector would scan them again and again and find nothing. `paused()` switches it off for such
a step and, after it, hands what the step allocated to the collector's oldest generation.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block (if it was on), and on again after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            promote_to_oldest_generation()
            gc.enable()


def promote_to_oldest_generation() -> None:
    """Move what was allocated to the collector's oldest generation, unscanned. Left in the
    youngest, the first collection after `gc.enable()` would scan all of it (a sixth of the time
    of validating a thousand files) to find nothing; in the oldest it waits for a full
    collection, as long-lived data does. Skipped when the program froze objects of its own:
    `gc.unfreeze` would release those too."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
