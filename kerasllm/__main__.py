"""`python -m kerasllm` runs the CLI."""

import sys

from kerasllm.cli import main

sys.exit(main())
