"""`python -m pipelines` runs the labsync CLI."""

import sys

from .cli import main

sys.exit(main())
