"""``python -m ist_core ...`` runs the ``ist`` command (e.g. on a machine without the console script)."""

import sys

from .cli import main

sys.exit(main())
