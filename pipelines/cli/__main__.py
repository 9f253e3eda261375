"""`python -m pipelines.cli` runs the labsync CLI, as `python -m pipelines` does."""

import sys

from . import main

sys.exit(main())
