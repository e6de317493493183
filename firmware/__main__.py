"""``python -m firmware``: the same as the ``wsd-scan-server`` command."""

import sys

from .cli import main

sys.exit(main())
