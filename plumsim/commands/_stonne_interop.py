"""CLI: placeholder, filled in by its issue."""


def register(group) -> None:
    return None
