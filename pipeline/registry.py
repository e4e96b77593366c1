"""``python -m pipeline.registry``: the command's short name, kept for the documentation and for scripts written
before the package was regrouped; its code is ``pipeline.results.registry``."""

import sys

from pipeline.results.registry import main

if __name__ == "__main__":
    sys.exit(main())
