"""``python -m hwnas`` runs the CLI."""

from hwnas.cli import main

main()
