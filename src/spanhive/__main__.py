"""``python -m spanhive`` is the ``spanhive`` command."""

import sys

from spanhive._cli import main

sys.exit(main())
