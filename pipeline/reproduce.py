"""``python -m pipeline.reproduce``: the command's short name, kept for the documentation and for scripts written
before the package was regrouped; its code is ``pipeline.results.reproduce``."""

import sys

from pipeline.results.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
