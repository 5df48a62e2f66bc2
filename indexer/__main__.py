"""python -m indexer: see indexer.cli."""
import sys

from indexer.cli import main

if __name__ == "__main__":
    sys.exit(main())
