"""Test the package's source (not an installed copy), with prodops importable from the repository."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_PLUGINS = PACKAGE_ROOT.parents[3] / "plugins"

for path in (REPO_PLUGINS, PACKAGE_ROOT):
    if path.is_dir() and str(path) not in sys.path:
        sys.path.insert(0, str(path))
