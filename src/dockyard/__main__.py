"""``python -m dockyard`` runs the CLI."""

from dockyard.cli import main

main()
