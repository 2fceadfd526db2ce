"""What an accelerator model (or a parsed STONNE run) returns.

numpy/pandas only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimResult:
    """Cycles and activity counters of one layer on one accelerator.

    ``cycles``: total cycles (STONNE ``N_cycles``).
    ``counters``: STONNE action counters summed over all instances of a component, keyed
    ``"COMPONENT.ACTION"`` exactly as in STONNE's .counters files (e.g. ``"MULTIPLIER.MULTIPLICATION"``,
    ``"ADDER.ADD_2_1"``, ``"GLOBALBUFFER.READ"``, ``"DN_WIRE.WRITE"``, ``"SWITCH.ROUTE_UNICAST"``);
    unit: events.
    ``instances``: number of instances of each component (``"MULTIPLIER": 128``), drives static energy.
    ``sram``: STONNE's SDMemoryStats scalars, in accesses: ``weight_reads`` (stationary operand),
    ``input_reads`` (streamed operand), ``psum_reads``, ``psum_writes``; plus optional
    ``reconfigurations`` (SIGMA).
    ``info``: free-form details for humans (tile used, mode, controller), never used in arithmetic.
    """

    cycles: int
    counters: dict[str, float] = field(default_factory=dict)
    instances: dict[str, int] = field(default_factory=dict)
    sram: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def counter(self, key: str) -> float:
        """A counter by ``"COMPONENT.ACTION"`` name, 0 when the component did not act."""
        return float(self.counters.get(key, 0.0))

    def __add__(self, other: "SimResult") -> "SimResult":
        """Sum of two layers run one after the other (cycles and counts add; instances are the machine's)."""
        keys = set(self.counters) | set(other.counters)
        skeys = set(self.sram) | set(other.sram)
        return SimResult(
            cycles=self.cycles + other.cycles,
            counters={k: self.counters.get(k, 0) + other.counters.get(k, 0) for k in keys},
            instances={k: max(self.instances.get(k, 0), other.instances.get(k, 0))
                       for k in set(self.instances) | set(other.instances)},
            sram={k: self.sram.get(k, 0) + other.sram.get(k, 0) for k in skeys},
        )

    def scaled(self, times: int) -> "SimResult":
        """The same layer run ``times`` times one after the other (cycles and counts multiplied, in closed
        form; instances are the machine's)."""
        t = int(times)
        if t < 0:
            raise ValueError(f"times must be >= 0, got {t}")
        return SimResult(cycles=self.cycles * t, counters={k: v * t for k, v in self.counters.items()},
                         instances=dict(self.instances), sram={k: v * t for k, v in self.sram.items()},
                         info=dict(self.info))

