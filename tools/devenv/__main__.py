"""``python -m devenv ...`` (see devenv.cli)."""

import sys

from devenv.cli import main

sys.exit(main())
