"""`python -m bridge` is the `bridge` command."""

from bridge.cli import main

# Guarded: multiprocessing's spawn and forkserver start methods import __main__.
if __name__ == "__main__":
    main()
