"""Build hook: files that live at the repository's top level ship inside the package.

`ci/templates/` (the CI workflow templates) and `schemas/bundle.schema.json` stay where they are
in the repository, the source of truth; every wheel carries a copy under `mlrig/ci/templates/`
and `mlrig/schemas/`, where an installed mlrig looks for them. Everything else is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# repository path → path inside the built package tree
SHIPPED = {"ci/templates": "mlrig/ci/templates", "schemas": "mlrig/schemas"}


class BuildPyWithSharedFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        for source, target in SHIPPED.items():
            origin = ROOT / source
            if not origin.is_dir():
                raise FileNotFoundError(f"{origin}: missing; mlrig cannot be built without it")
            shutil.copytree(origin, Path(self.build_lib) / target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithSharedFiles})
