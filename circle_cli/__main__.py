"""``python -m circle_cli`` is the ``circle`` console script."""

import sys

from circle_cli.main import main

sys.exit(main())
