"""`python -m query`: the command line lives in query.cli."""
import sys

from query.cli import main

if __name__ == "__main__":
    sys.exit(main())
