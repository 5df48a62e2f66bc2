"""python -m encoders: the command line lives in encoders.cli."""
import sys

from encoders.cli import main

if __name__ == "__main__":
    sys.exit(main())
