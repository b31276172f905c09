"""`python -m lors_search` runs the command line."""

import sys

from lors_search.cli import main

sys.exit(main())
