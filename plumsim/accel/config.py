"""Accelerator configuration: the timing-relevant fields of a STONNE .cfg.

The parser (:func:`plumsim.accel.cfg.load_config`) reads STONNE's own files unchanged; this module holds
the domain object, which is checked against the one rule set (:mod:`plumsim.accel.rules`) whenever it is
built, so an AcceleratorConfig that exists is one STONNE can build. numpy only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from plumsim.accel.rules import CONTROLLERS, MS_TYPES, RN_TYPES, check_config
from plumsim.errors import ConfigError

__all__ = ["AcceleratorConfig", "CONTROLLERS", "MS_TYPES", "RN_TYPES", "require_config"]


@dataclass(frozen=True)
class AcceleratorConfig:
    """One accelerator, in STONNE's terms.

    ms_size: multipliers (a power of two); ms_rows x ms_cols for OS_MESH (ms_size = rows*cols).
    dn_bw: distribution-network read ports (elements per cycle); rn_bw: write ports (elements per cycle).
    accumulation_buffer: STONNE's ``accumulation_buffer_enabled``.
    ``extra`` keeps every other key read from the file (latencies, port widths, capacities), which do
    not change timing in STONNE but are written back on export.

    Building one (directly or with ``dataclasses.replace``) applies :func:`plumsim.accel.rules.check_config`:
    a machine STONNE cannot build raises :class:`~plumsim.errors.ConfigError` naming the field, the value
    and what is valid.
    """

    controller_type: str
    ms_type: str
    rn_type: str
    ms_size: int
    dn_bw: int
    rn_bw: int
    ms_rows: int = 0
    ms_cols: int = 0
    accumulation_buffer: bool = False
    name: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        check_config(self)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        return d


def require_config(config) -> AcceleratorConfig:
    """``config`` if it is an :class:`AcceleratorConfig` (checked against the rule set when it was built, so
    the models do not check it again on every call), else a ConfigError."""
    if not isinstance(config, AcceleratorConfig):
        raise ConfigError(f"expected an AcceleratorConfig (plumsim.accel.cfg.load_config reads a STONNE .cfg), "
                          f"got {type(config).__name__}", field="config")
    return config
