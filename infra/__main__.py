"""What `pulumi up` runs (Pulumi.yaml: `main: infra/`): the mlrig program for this stack's bundle."""

import sys
from pathlib import Path

# Make the mlrig package of this checkout importable even when it is not installed into the
# virtualenv (a platform repository's two-line __main__.py imports the installed one). The stack's
# `mlrig:bundle` path is resolved against the Pulumi project root, whatever the working directory.
_INFRA = str(Path(__file__).resolve().parent)
if _INFRA not in sys.path:
    sys.path.insert(0, _INFRA)

from mlrig.program import main  # noqa: E402

main()
