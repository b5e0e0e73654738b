"""``python -m recsys_kit``: the same as the ``recsys-kit`` command."""

from recsys_kit.cli import main

if __name__ == "__main__":
    main()
