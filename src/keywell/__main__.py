"""``python -m keywell``: the ``keywell`` command."""

from keywell.cli import main

if __name__ == "__main__":
    main()
