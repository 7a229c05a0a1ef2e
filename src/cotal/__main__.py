"""``python -m cotal`` (and ``torchrun -m cotal ...``) runs the command line."""

import sys

from cotal.cli.main import main

sys.exit(main())
