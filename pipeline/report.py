"""``python -m pipeline.report``: the command's short name, kept for the documentation and for scripts written
before the package was regrouped; its code is ``pipeline.results.report``."""

import sys

from pipeline.results.report import main

if __name__ == "__main__":
    sys.exit(main())
