"""A MAERI tile and how it covers a conv layer: the tile (STONNE's T_R..T_Y'), its validation, its
iterations over the layer (:func:`tile_geometry`) and the input-forwarding rule (:func:`uses_forwarding`).

numpy-free. Shared by the cost model (:mod:`plumsim.accel.maeri`), its closed-form timing and its
event-level folding chain (:mod:`plumsim.accel.maeri_fold_events`).
"""

from __future__ import annotations

from dataclasses import dataclass

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.maeri_timing import TILE_FIELDS
from plumsim.accel.rules import check_maeri_tile
from plumsim.errors import ConfigError


@dataclass(frozen=True)
class MaeriTile:
    """A MAERI conv tile in STONNE's names (T_X/T_Y are STONNE's T_X'/T_Y', output positions)."""

    T_R: int = 1
    T_S: int = 1
    T_C: int = 1
    T_K: int = 1
    T_G: int = 1
    T_N: int = 1
    T_X: int = 1
    T_Y: int = 1

    @property
    def virtual_neuron_size(self) -> int:
        """Multipliers per virtual neuron (one dot-product slice): T_R*T_S*T_C."""
        return self.T_R * self.T_S * self.T_C

    @property
    def num_virtual_neurons(self) -> int:
        """Virtual neurons mapped at once: T_K*T_G*T_N*T_X*T_Y."""
        return self.T_K * self.T_G * self.T_N * self.T_X * self.T_Y

    @property
    def multipliers_used(self) -> int:
        """Multipliers the tile occupies (virtual_neuron_size * num_virtual_neurons)."""
        return self.virtual_neuron_size * self.num_virtual_neurons

    @classmethod
    def from_dict(cls, d: dict) -> "MaeriTile":
        """Build from a dict with keys T_R..T_Y (STONNE's T_X_/T_Y_ spelling accepted); missing = 1."""
        vals = {}
        for f in TILE_FIELDS:
            v = d.get(f, d.get(f + "_", 1))
            try:
                iv = int(v)
            except (TypeError, ValueError):
                raise ConfigError(f"tile value {v!r} is not an integer", field=f) from None
            if iv != v and not (isinstance(v, str) and v.strip().isdigit()):
                raise ConfigError(f"tile value {v!r} is not an integer", field=f)
            vals[f] = iv
        unknown = set(d) - set(TILE_FIELDS) - {f + "_" for f in TILE_FIELDS}
        if unknown:
            raise ConfigError(f"unknown tile field(s) {sorted(unknown)}; allowed: {list(TILE_FIELDS)}",
                              field=sorted(unknown)[0])
        return cls(**vals)

    def as_dict(self) -> dict[str, int]:
        # the fields are ints: no deep copy (dataclasses.asdict) needed
        return {f: getattr(self, f) for f in TILE_FIELDS}


def validate_tile(tile: MaeriTile, dims: dict[str, int], ms_size: int, accumulation_buffer: bool | None = None) -> None:
    """Raise ConfigError when a tile does not fit the layer or the multiplier array: the one MAERI tile
    validator, :func:`plumsim.accel.rules.check_maeri_tile`.

    ``dims``: the limit of each tile field, ``{"T_R": R, "T_S": S, "T_C": C/G, "T_K": K/G, "T_G": G,
    "T_N": N, "T_X": X', "T_Y": Y'}``. ``accumulation_buffer`` False adds the folding rule (one more
    multiplier per virtual neuron); None leaves it out.
    """
    check_maeri_tile(tile.as_dict(), dims, ms_size, accumulation_buffer)


@dataclass(frozen=True)
class TileGeometry:
    """How a tile covers a layer: output positions X_out x Y_out, and the tile's iterations over R, S, C/G
    (their product: the folds), K/G, G, N and the output rows (iX) and columns (iY) of positions."""

    X_out: int
    Y_out: int
    iR: int
    iS: int
    iC: int
    iK: int
    iG: int
    iN: int
    iX: int
    iY: int

    @property
    def nfold(self) -> int:
        return self.iR * self.iS * self.iC

    @property
    def iters(self) -> int:
        return self.iN * self.iG * self.iK


def tile_geometry(N, G, C, K, R, S, X, Y, stride, tile: MaeriTile, config: AcceleratorConfig) -> TileGeometry:
    """The :class:`TileGeometry` of ``tile`` on a conv layer (X, Y already padded); checks the layer and the
    tile (ConfigError naming the field)."""
    if G < 1 or C % G or K % G:
        raise ConfigError(f"groups G={G} must divide C={C} and K={K}", field="G")
    if X < R or Y < S:
        raise ConfigError(f"input {X}x{Y} (after padding) is smaller than the kernel {R}x{S}", field="X")
    ms_size = int(config.ms_size)
    X_out = (X - R + stride) // stride
    Y_out = (Y - S + stride) // stride
    dims = {"T_R": R, "T_S": S, "T_C": C // G, "T_K": K // G, "T_G": G, "T_N": N, "T_X": X_out, "T_Y": Y_out}
    validate_tile(tile, dims, ms_size, bool(config.accumulation_buffer))
    def cd(a, b):   # integer ceiling: exact for any size (a float quotient is not beyond 2^53)
        return -(-int(a) // int(b))

    return TileGeometry(X_out, Y_out, cd(R, tile.T_R), cd(S, tile.T_S), cd(C // G, tile.T_C),
                     cd(K // G, tile.T_K), cd(G, tile.T_G), cd(N, tile.T_N),
                     cd(X_out, tile.T_X), cd(Y_out, tile.T_Y))


def uses_forwarding(tile: MaeriTile, S: int, stride: int, cols: int) -> bool:
    """Whether a row's later positions get only the new input column (the multipliers forward the rest):
    T_Y' = 1, T_S > 1, stride 1, T_S dividing S, and more than one position (``cols``) per row."""
    return tile.T_Y == 1 and tile.T_S > 1 and stride == 1 and S % tile.T_S == 0 and cols > 1
