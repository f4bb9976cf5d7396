"""``python -m chronorec``: the same command as ``chronorec``."""

from chronorec.cli import main

main()
