"""``python -m neurosim ...`` runs the ``neurosim`` command line."""

import sys

from neurosim.cli import main

sys.exit(main())
