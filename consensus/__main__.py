"""``python -m consensus`` runs the command-line interface."""

from .cli import main

main()
