"""CLI commands for this area (placeholder: filled in by the issue that builds the area)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Add this area's commands to the top-level `cspkit` group."""
