"""``python -m threatlab.course``."""

import sys

from .cli import main

sys.exit(main())
