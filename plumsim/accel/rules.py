"""The one rule set for valid hardware: which accelerator configurations and MAERI conv tiles STONNE can
build and plumsim's models hold for.

Every place that decides validity uses this module: :class:`~plumsim.accel.config.AcceleratorConfig`
applies :func:`check_config` when it is built (also after ``dataclasses.replace``, e.g. in sweep-grid
expansion), the .cfg reader (:func:`plumsim.accel.cfg.validate_config`), the models' checks
(``maeri`` and ``tiling`` call :func:`check_config`, ``sigma._check_sigma``), the sweep grid (``grid.hardware_problems``) and the
STONNE case validator. MAERI conv tiles have one validator, :func:`check_maeri_tile`
(``cfg.validate_tile`` and ``maeri.validate_tile`` call it); TPU output tiles :func:`check_tpu_tile`.

Each rule names the field, the value and what is valid. What STONNE does (source at 22634b8):

* LINEAR multiplier networks (MAERI, SIGMA, MAGMA): ``DSNetworkTop`` gives each of the dn_bw read ports a
  distribution tree of ``ms_size / dn_bw`` multipliers (integer division) and ``DSNetwork`` asserts that
  this is a power of two; ``ASNetwork``/``FENetwork`` assert ``ms_size`` is a power of two. A dn_bw that
  does not divide ms_size (48 on 128: 48 trees of 2) leaves multipliers without a connection, so
  ``dn_bw`` must divide ``ms_size``: with ms_size = 2^n, dn_bw is a power of two <= ms_size.
  MAERI also needs ms_size >= 2 (a virtual neuron of one multiplier aborts in Accumulator.cpp).
* OS_MESH (TPU_OS_DENSE): the read ports serve ``(ms_rows + ms_cols) / dn_bw`` mesh lanes each, and the
  tree over them must be a power of two that covers every lane (``OSMeshMN`` asserts rows + cols
  connections), so ``(ms_rows+ms_cols) % dn_bw == 0`` and the quotient is a power of two; ``ms_size`` is
  ``ms_rows * ms_cols``. plumsim's TPU model (read-port lanes, collection-bus drain) is derived and
  checked on power-of-two mesh sides only, so ms_rows and ms_cols are powers of two.
* Write ports: the collection bus has ``rn_bw`` lines of ``ms_size // rn_bw + 1`` inputs (CollectionBus.cpp),
  and ASNetwork asserts each line has the inputs it connects, so ``1 <= rn_bw <= ms_size``. Any rn_bw
  in that range runs (STONNE's CLI and .cfg take non-powers of two: tests/data/stonne/c_tpu_probe has
  real TPU runs with rn_bw 3, 5, 6, 7, 12, 24).

numpy-free; imports nothing from plumsim.accel (config.py imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

from plumsim.errors import ConfigError

CONTROLLERS = ("MAERI_DENSE_WORKLOAD", "SIGMA_SPARSE_GEMM", "TPU_OS_DENSE", "MAGMA_SPARSE_DENSE")
MS_TYPES = ("LINEAR", "OS_MESH")
RN_TYPES = ("ASNETWORK", "FENETWORK", "TEMPORALRN")
TREE_CONTROLLERS = ("MAERI_DENSE_WORKLOAD", "SIGMA_SPARSE_GEMM")  # need LINEAR + a tree reduce network

#: AcceleratorConfig field -> the STONNE .cfg key that sets it
CFG_KEYS = {"controller_type": "[SDMemory] controller_type", "ms_type": "[MSNetwork] type",
            "rn_type": "[ReduceNetwork] type", "ms_size": "[MSNetwork] ms_size",
            "ms_rows": "[MSNetwork] ms_rows", "ms_cols": "[MSNetwork] ms_cols",
            "dn_bw": "[SDMemory] dn_bw", "rn_bw": "[SDMemory] rn_bw",
            "accumulation_buffer": "[ReduceNetwork] accumulation_buffer_enabled"}


@dataclass(frozen=True)
class Problem:
    """One broken rule: the AcceleratorConfig ``field``, its ``value`` and ``message`` (which starts with
    ``field=value`` and says what is valid). ``key`` is the .cfg key of the field."""

    field: str
    value: object
    message: str

    @property
    def key(self) -> str:
        return CFG_KEYS.get(self.field, self.field)

    def __str__(self) -> str:
        return self.message


def is_pow2(n) -> bool:
    return isinstance(n, Integral) and not isinstance(n, bool) and n >= 1 and (n & (n - 1)) == 0


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _pow2_upto(n: int) -> str:
    out, p = [], 1
    while p <= n:
        out.append(str(p))
        p *= 2
    return ", ".join(out)


def mesh_dn_bw_allowed(rows: int, cols: int, ms_size: int | None = None) -> list[int]:
    """The dn_bw values STONNE builds an ms_rows x ms_cols mesh with ((rows+cols)/dn_bw a power of two)."""
    lanes = rows + cols
    return [d for d in range(1, lanes + 1) if lanes % d == 0 and is_pow2(lanes // d)
            and (ms_size is None or d <= ms_size)]


def config_problems(cfg) -> list[Problem]:
    """Every rule ``cfg`` breaks (empty when STONNE can build it). ``cfg``: anything with the fields of
    :class:`~plumsim.accel.config.AcceleratorConfig`."""
    out: list[Problem] = []
    ctrl, mst, rnt = cfg.controller_type, cfg.ms_type, cfg.rn_type
    if ctrl not in CONTROLLERS:
        out.append(Problem("controller_type", ctrl, f"controller_type={ctrl!r} is unknown; allowed: "
                                                    f"{', '.join(CONTROLLERS)}"))
    if mst not in MS_TYPES:
        out.append(Problem("ms_type", mst, f"ms_type={mst!r} (multiplier network) is unknown; allowed: "
                                           f"{', '.join(MS_TYPES)}"))
    if rnt not in RN_TYPES:
        out.append(Problem("rn_type", rnt, f"rn_type={rnt!r} (reduce network) is unknown; allowed: "
                                           f"{', '.join(RN_TYPES)}"))
    if ctrl == "TPU_OS_DENSE" and (mst != "OS_MESH" or rnt != "TEMPORALRN"):
        out.append(Problem("controller_type", ctrl,
                           f"controller_type='TPU_OS_DENSE' needs [MSNetwork] type=OS_MESH and [ReduceNetwork] "
                           f"type=TEMPORALRN, got {mst} / {rnt}"))
    elif ctrl in TREE_CONTROLLERS:
        if mst != "LINEAR":
            out.append(Problem("ms_type", mst, f"ms_type={mst!r}: controller {ctrl} needs [MSNetwork] "
                                               "type=LINEAR"))
        if rnt == "TEMPORALRN":
            out.append(Problem("rn_type", rnt, f"rn_type='TEMPORALRN': controller {ctrl} needs a tree reduce "
                                               "network (ASNETWORK or FENETWORK)"))
    ints = {}
    for f in ("ms_size", "dn_bw", "rn_bw", "ms_rows", "ms_cols"):
        v = getattr(cfg, f)
        if _is_int(v):
            ints[f] = int(v)
        else:
            out.append(Problem(f, v, f"{f}={v!r} is not an integer"))
    if "ms_size" not in ints:
        return out
    ms = ints["ms_size"]
    if mst == "OS_MESH":
        r, c = ints.get("ms_rows"), ints.get("ms_cols")
        if r is None or c is None:
            return out
        for f, v in (("ms_rows", r), ("ms_cols", c)):
            if not is_pow2(v):
                out.append(Problem(f, v, f"{f}={v} is not a power of two: plumsim's TPU model is derived and "
                                         "checked for power-of-two mesh sides only (1, 2, 4, 8, 16, ...)"))
        if r >= 1 and c >= 1 and r * c != ms:
            out.append(Problem("ms_size", ms, f"ms_size={ms} is not ms_rows*ms_cols = {r}*{c} = {r * c}: an "
                                              "OS_MESH has one multiplier per mesh node"))
        dn = ints.get("dn_bw")
        if dn is not None and r >= 1 and c >= 1:
            lanes = r + c
            if dn < 1 or dn > ms or lanes % dn or not is_pow2(lanes // dn):
                allowed = ", ".join(map(str, mesh_dn_bw_allowed(r, c, ms)))
                out.append(Problem("dn_bw", dn,
                                   f"dn_bw={dn} on a {r}x{c} mesh: (ms_rows+ms_cols)/dn_bw = {lanes}/{dn} is not a "
                                   f"power of two (STONNE aborts building this mesh); allowed dn_bw: {allowed}"))
    else:
        least = 2 if ctrl == "MAERI_DENSE_WORKLOAD" else 1
        if not is_pow2(ms) or ms < least:
            out.append(Problem("ms_size", ms,
                               f"ms_size={ms} is not a power of two >= {least} (STONNE's distribution and reduction "
                               f"trees need 2^n multipliers{'; a MAERI virtual neuron needs two' if least == 2 else ''})"))
        dn = ints.get("dn_bw")
        if dn is not None and (dn < 1 or (is_pow2(ms) and ms % dn) or dn > ms):
            out.append(Problem("dn_bw", dn,
                               f"dn_bw={dn} must divide ms_size ({ms}): each of the dn_bw read ports feeds a tree of "
                               "ms_size/dn_bw multipliers, a power of two; allowed: "
                               + (_pow2_upto(ms) if is_pow2(ms) else "a power of two <= ms_size")))
    rn = ints.get("rn_bw")
    if rn is not None and not 1 <= rn <= ms:
        out.append(Problem("rn_bw", rn, f"rn_bw={rn} out of range: allowed 1..ms_size ({ms}) (the collection bus "
                                        "has rn_bw lines of ms_size/rn_bw + 1 inputs)"))
    return out


def check_config(cfg, path: str | Path | None = None) -> None:
    """Raise :class:`ConfigError` naming every broken rule (field = the .cfg key of the first one)."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError("; ".join(p.message for p in problems), path=path, field=problems[0].key)


# --- tiles -----------------------------------------------------------------------------------------

#: MAERI conv tile fields (STONNE's T_X'/T_Y' are T_X/T_Y here; the .cfg/tile-file spelling is T_X_/T_Y_)
MAERI_TILE_FIELDS = ("T_R", "T_S", "T_C", "T_K", "T_G", "T_N", "T_X", "T_Y")
_DIM_NAMES = {"T_R": "R", "T_S": "S", "T_C": "C/G", "T_K": "K/G", "T_G": "G", "T_N": "N", "T_X": "X'",
              "T_Y": "Y'"}


def maeri_tile_limits(N, G, C, K, R, S, X_out, Y_out) -> dict[str, int]:
    """The largest value of each tile field for a layer (X_out, Y_out: output positions X', Y')."""
    return {"T_R": int(R), "T_S": int(S), "T_C": int(C) // int(G), "T_K": int(K) // int(G), "T_G": int(G),
            "T_N": int(N), "T_X": int(X_out), "T_Y": int(Y_out)}


def check_maeri_tile(tile: dict, limits: dict, ms_size: int, accumulation_buffer: bool | None = None,
                     source: str | Path | None = None, spelling: str = "") -> None:
    """The one MAERI conv tile validator. ``tile`` and ``limits`` map T_R..T_Y (see
    :func:`maeri_tile_limits`) to ints. Rules (STONNE's): every T_* in 1..its dimension; the multipliers
    the tile occupies, T_R*T_S*T_C * T_K*T_G*T_N*T_X*T_Y, fit ms_size; with the accumulation buffer off
    (``accumulation_buffer`` False; None skips the rule) and folding (nfold > 1) every virtual neuron
    takes one more multiplier for the partial sum, (T_R*T_S*T_C + 1) * VNs <= ms_size.
    ``spelling="_"`` names T_X/T_Y as T_X_/T_Y_ (tile files, the CLI). Raises ConfigError naming the field."""
    def name(f):
        return f + spelling if f in ("T_X", "T_Y") else f

    for f in MAERI_TILE_FIELDS:
        v = int(tile.get(f, 1))
        if v < 1:
            raise ConfigError(f"tile {name(f)}={v} must be >= 1", path=source, field=name(f))
        if v > limits[f]:
            raise ConfigError(f"tile {name(f)}={v} exceeds the layer's {_DIM_NAMES[f]}={limits[f]} "
                              f"(allowed 1..{limits[f]})", path=source, field=name(f))
    t = {f: int(tile.get(f, 1)) for f in MAERI_TILE_FIELDS}
    vn = t["T_R"] * t["T_S"] * t["T_C"]
    n_vns = t["T_K"] * t["T_G"] * t["T_N"] * t["T_X"] * t["T_Y"]
    shown = {name(f): v for f, v in t.items()}
    if vn * n_vns > ms_size:
        raise ConfigError(f"tile {shown} needs T_R*T_S*T_C*T_K*T_G*T_N*T_X'*T_Y' = {vn * n_vns} multipliers but "
                          f"ms_size = {ms_size} (T_C={t['T_C']})", path=source, field="T_C")
    if accumulation_buffer is False:
        nfold = -(-limits["T_R"] // t["T_R"]) * -(-limits["T_S"] // t["T_S"]) * -(-limits["T_C"] // t["T_C"])
        if nfold > 1 and (vn + 1) * n_vns > ms_size:
            raise ConfigError(
                f"tile {shown} folds ({nfold} folds) with the accumulation buffer off, so every virtual neuron "
                f"takes one more multiplier: ({vn} + 1) * {n_vns} > ms_size = {ms_size}", path=source, field="T_C")


def check_tpu_tile(T_M: int, T_N: int, cfg, source: str | Path | None = None) -> None:
    """A TPU output tile T_M x T_N must fit the mesh (T_M <= ms_rows, T_N <= ms_cols)."""
    if not 1 <= T_M <= cfg.ms_rows:
        raise ConfigError(f"T_M={T_M} out of range: allowed 1..ms_rows ({cfg.ms_rows})", path=source, field="T_M")
    if not 1 <= T_N <= cfg.ms_cols:
        raise ConfigError(f"T_N={T_N} out of range: allowed 1..ms_cols ({cfg.ms_cols})", path=source, field="T_N")
