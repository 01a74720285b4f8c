"""What `pulumi up` runs (Pulumi.yaml: `main: infra/`): the mlrig program for this stack's bundle."""

import sys
from pathlib import Path

# Pulumi runs this file with the repository root as the working directory; make the mlrig package
# importable even when it is not installed into the virtualenv.
_INFRA = str(Path(__file__).resolve().parent)
if _INFRA not in sys.path:
    sys.path.insert(0, _INFRA)

from mlrig.program import main  # noqa: E402

main()
