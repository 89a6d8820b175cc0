"""`python -m kerasllm` runs the CLI."""

import sys

from kerasllm.cli import main

if __name__ == "__main__":  # not when imported (pytest --doctest-modules imports every module)
    sys.exit(main())
