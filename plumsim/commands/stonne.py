"""CLI: `plumsim stonne ...` — STONNE interoperability.

`read` and `validate` (STONNE outputs and reference cases vs our models) live in _stonne_models.py;
`export` and `compare` (runnable STONNE jobs for any workload) live in _stonne_interop.py.
"""

from plumsim.commands import _stonne_interop, _stonne_models


def register(sub) -> None:
    p = sub.add_parser("stonne", help="read STONNE outputs, validate the models, export runnable STONNE jobs",
                       description="STONNE interoperability: read its output files, validate our models "
                       "against reference runs, export workloads as STONNE jobs and compare.")
    group = p.add_subparsers(dest="stonne_command", metavar="SUBCOMMAND")
    _stonne_models.register(group)
    _stonne_interop.register(group)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
