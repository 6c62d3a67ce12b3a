"""``python -m cspkit`` runs the CLI."""

from cspkit.cli.main import main

if __name__ == "__main__":
    main()
