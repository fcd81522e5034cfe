"""`python -m steward`: the data stewards' command line (serve, add-user, review, export); see steward/cli.py."""

from __future__ import annotations

import sys

from steward.cli import main

if __name__ == "__main__":
    sys.exit(main())
