"""``python -m vexil``: the ``vexil`` command."""

import sys

from .cli import main

sys.exit(main())
