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

import math as _math
import os as _os
import threading as _threading
from contextlib import contextmanager as _contextmanager
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
    out, p = [], 1
    while p <= lanes and lanes % p == 0:   # d = lanes / 2^j: O(log) even for a hostile mesh
        out.append(lanes // p)
        p *= 2
    return sorted(d for d in out if ms_size is None or d <= ms_size)


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
    big = size_problem("ms_size", ms, "ms_size", ms, "the machine has",
                       f": the models hold arrays over every multiplier, {BYTES_PER_MULTIPLIER} B each per tile "
                       f"evaluated, here {_fmt(BYTES_PER_MULTIPLIER * ms, 'bytes')} per tile") if ms > 0 else None
    if big is not None:
        out.append(Problem("ms_size", ms, big))
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


# --- size limits -----------------------------------------------------------------------------------
#
# A model call costs memory and time that follow from the sizes alone (multipliers, weights, batch,
# tile candidates), so every call estimates its cost from them before any work starts (O(1)) and
# refuses one over a limit with a ConfigError / WorkloadError that names the field, its value, the
# estimate (bytes or operations) and the limit. The defaults keep one call within a few GiB and seconds;
# the largest shipped machine has 1024 multipliers, the largest shipped layer 2.4 M weights.
#
# Limits (name: default, unit):
#
# * ``ms_size``: 2**20 multipliers (a 1024 x 1024 mesh). Checked with the other rules whenever an
#   AcceleratorConfig is built: the models hold arrays over every multiplier (MAERI's timing ~100 B per
#   multiplier and tile evaluated, the TPU's tile search ~400 B per candidate tile of the mesh).
# * ``layer_weights``: 2**28 weights K*C/G*R*S of one layer (VGG-16's largest, fc6, has 1.0e8).
# * ``work_bytes``: 4 GiB, the memory one model call may hold (estimate: SIGMA's bitmap plan ~100 B per
#   weight of a group, its per-port counts 16 B per iteration and read port, the TPU's tile search
#   ~400 B per candidate).
# * ``work_ops``: 10**8 operations one model call may do (loop steps: the MAERI tile search's divisor
#   scan of every layer dimension, the TPU's per-shape bus-line queues for a non-power-of-two rn_bw,
#   SIGMA's per-group row packing).
#
# A batch N costs nothing by itself: SIGMA and the TPU mesh take it in closed form, MAERI scans only the
# batch tiles that can still wait for the iteration check. Counts beyond 64 bits are exact (Python
# integers), not wrapped.
#
# Users who mean it raise a limit with the environment variable ``PLUMSIM_LIMITS`` (read on every
# check, so it reaches sweep workers), e.g. ``PLUMSIM_LIMITS="ms_size=4194304,work_bytes=32e9"``, or in
# code with ``with plumsim.accel.rules.limits_override(work_ops=10**10): ...``; ``0`` means no limit.

DEFAULT_LIMITS = {"ms_size": 2**20, "layer_weights": 2**28, "work_bytes": 4 * 2**30, "work_ops": 10**8}
LIMIT_UNITS = {"ms_size": "multipliers", "layer_weights": "weights", "work_bytes": "bytes",
               "work_ops": "operations"}
LIMITS_ENV = "PLUMSIM_LIMITS"

#: bytes the models hold per multiplier for one tile (MAERI's timing arrays); per TPU candidate tile;
#: per weight of a SIGMA group's bitmap plan (measured peaks: 40-100 B; tests/test_size_limits.py)
BYTES_PER_MULTIPLIER = 128
BYTES_PER_TPU_CANDIDATE = 400
BYTES_PER_SIGMA_WEIGHT = 100

_env_cache: list = [None, {}]
_overrides = _threading.local()


def _parse_limits(text: str) -> dict:
    out = {}
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        name, sep, val = part.partition("=")
        name = name.strip()
        if not sep or name not in DEFAULT_LIMITS:
            raise ConfigError(f"{LIMITS_ENV}={text!r}: {part.strip()!r} is not name=value with a name among "
                              f"{', '.join(DEFAULT_LIMITS)}", field=LIMITS_ENV)
        try:
            v = float(val)
        except ValueError:
            v = _math.nan
        if not _math.isfinite(v) or v < 0:
            raise ConfigError(f"{LIMITS_ENV}: {name}={val.strip()!r} is not a finite number >= 0 (0: no limit)",
                              field=LIMITS_ENV)
        out[name] = int(v)
    return out


def limits() -> dict[str, int]:
    """The limits in force (read only): :data:`DEFAULT_LIMITS`, then ``PLUMSIM_LIMITS``, then
    :func:`limits_override` (innermost wins). 0 = no limit."""
    text = _os.environ.get(LIMITS_ENV, "")
    if text != _env_cache[0]:
        parsed = _parse_limits(text)
        _env_cache[0], _env_cache[1] = text, dict(DEFAULT_LIMITS, **parsed)
    stack = getattr(_overrides, "stack", None)
    if not stack:
        return _env_cache[1]
    out = dict(_env_cache[1])
    for layer in stack:
        out.update(layer)
    return out


@_contextmanager
def limits_override(**values):
    """Raise (or lower) limits for the calls inside the block, this thread only; 0 = no limit.
    ``with limits_override(ms_size=2**24, work_bytes=64 * 2**30): ...``"""
    bad = set(values) - set(DEFAULT_LIMITS)
    if bad:
        raise ConfigError(f"unknown limit(s) {sorted(bad)}; known: {', '.join(DEFAULT_LIMITS)}", field=sorted(bad)[0])
    stack = getattr(_overrides, "stack", None)
    if stack is None:
        stack = _overrides.stack = []
    stack.append({k: int(v) for k, v in values.items()})
    try:
        yield
    finally:
        stack.pop()


def _fmt(n: float, unit: str) -> str:
    if unit == "bytes":
        for suffix, p in (("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
            if n >= 2**p:
                return f"{n / 2**p:.1f} {suffix}"
        return f"{int(n)} bytes"
    return f"{int(n)} {unit}"


def size_problem(name: str, estimate: int, field: str, value, what: str, detail: str = "") -> str | None:
    """The refusal message when ``estimate`` (in the unit of limit ``name``) exceeds that limit, else None.
    ``field``/``value``: what the user set that drives it; ``what``: what the estimate counts (the message
    reads "<field>=<value>: <what> ~<estimate> (estimate), over the limit of <limit> (<name>)<detail>")."""
    lim = limits()[name]
    if not lim or estimate <= lim:
        return None
    unit = LIMIT_UNITS[name]
    return (f"{field}={value}: {what} ~{_fmt(estimate, unit)} (estimate), over the limit of {_fmt(lim, unit)} "
            f"({name}){detail}; a user who means it raises the limit with {LIMITS_ENV}={name}=<n> or "
            f"plumsim.accel.rules.limits_override({name}=...)")


def check_size(name: str, estimate: int, field: str, value, what: str, error=ConfigError, path=None,
               detail: str = "") -> None:
    """Raise ``error`` (ConfigError or WorkloadError) with :func:`size_problem`'s message, if any."""
    msg = size_problem(name, estimate, field, value, what, detail)
    if msg is not None:
        raise error(msg, path=path, field=field)
