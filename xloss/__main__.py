"""``python -m xloss``: the same as the ``xloss`` command."""

import sys

from xloss._cli import main

sys.exit(main())
