"""The `plumsim` command: a thin, one-way layer over the library API.

Each sub-command lives in ``plumsim/commands/<name>.py`` and exposes ``register(subparsers)``, which adds
its parser and sets ``func(args) -> int``. User errors (:class:`plumsim.errors.PlumsimError`) print one
line and exit 2; I/O failures (:class:`plumsim.errors.StorageError`, and any OSError a stage lets through:
disk full, read-only, permission denied) print one line naming the path and the cause and exit 3. Never a
traceback. Nothing imports this module.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from plumsim import __version__
from plumsim.errors import EXIT_USER, PlumsimError, StorageError

# Order = order in `plumsim --help`. Modules are imported only to register their parsers; heavy
# imports (torch, matplotlib, dask) happen inside each command's func.
COMMAND_MODULES = (
    "train",       # plumsim train / evaluate / experiment
    "workload",    # plumsim lower / workload synth|show
    "simulate",    # plumsim simulate
    "attribute",   # plumsim attribute
    "stonne",      # plumsim stonne read|validate|export|compare
    "sweep",       # plumsim sweep / plot / report
    "demo",        # plumsim demo
    "experiment",  # plumsim experiment cpu (adds to train's `experiment`; after it)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plumsim",
        description="Accelerator simulation of signed-binary (PLUM), binary and ternary networks: "
        "train, lower, simulate on STONNE-like accelerators, attribute gains to sparsity vs repetition.",
    )
    parser.add_argument("--version", action="version", version=f"plumsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"plumsim.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StorageError as exc:
        _say(f"plumsim: error: {exc}")
        return exc.exit_code
    except PlumsimError as exc:
        print(f"plumsim: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_USER)
    except KeyboardInterrupt:
        print("plumsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `plumsim ... | head`
        return 0
    except OSError as exc:  # an I/O failure no stage wrapped: still one line with the path and the cause
        err = StorageError(None, exc, _action(exc))
        _say(f"plumsim: error: {err}")
        return err.exit_code


def _action(exc: OSError) -> str:
    """What the failed call was doing, as far as its errno tells."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG):
        return "write"
    return "access" if exc.filename is not None else "complete"


def _say(line: str) -> None:
    """One line on stderr, flattened (an OS message or a path could hold a newline)."""
    print(" ".join(str(line).splitlines()), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
