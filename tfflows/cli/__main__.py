"""`python -m tfflows.cli ARGS` runs the `tfflows` command."""

import sys

from tfflows.cli import main

sys.exit(main())
