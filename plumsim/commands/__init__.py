"""CLI sub-commands; see plumsim/cli.py."""
