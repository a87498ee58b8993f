"""`python -m experiments report|simulate-traffic`: the same CLI as `python -m experiments.cli`."""

import sys

from experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
