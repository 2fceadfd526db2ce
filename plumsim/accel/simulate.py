"""Run a layer or a whole workload on one accelerator: dispatch on controller and layer kind.

* MAERI_DENSE_WORKLOAD: conv -> ``maeri_conv`` (tile given or chosen by ``choose_maeri_tile``), linear ->
  ``maeri_gemm`` (M = out features, N = batch rows, K = in features). Dense: zeros are multiplied.
* SIGMA_SPARSE_GEMM: conv via im2col, linear as the frontend's SparseLinear (weight bitmap decides).
* TPU_OS_DENSE: conv/linear via im2col as a dense GEMM (tile given as T_M/T_N or chosen).
numpy/pandas only.
"""

from __future__ import annotations

import math

from numbers import Integral

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.accel.rules import check_size, limits
from plumsim.errors import ConfigError, WorkloadError

SRAM_COLUMNS = ("weight_reads", "input_reads", "psum_reads", "psum_writes")
_DIMS = ("N", "G", "C", "K", "R", "S", "X", "Y", "stride")


def _bad_int(v) -> bool:
    return not isinstance(v, Integral) or isinstance(v, bool)


def check_layer(layer) -> None:
    """What every model needs of a layer, checked in O(1) before any work (WorkloadError naming the
    field): kind conv/linear; N, G, C, K, R, S, X, Y, stride integers >= 1, padding >= 0; G divides C and
    K; the kernel fits the padded input; a linear layer is G = R = S = X = Y = stride = 1, padding 0; the
    weight array is [K, C/G, R, S]; and the size limits (:mod:`plumsim.accel.rules`): the layer's weights
    K*C/G*R*S within ``layer_weights``."""
    s = layer.shape
    N, G, C, K, R, S, X, Y, stride, padding = (s.N, s.G, s.C, s.K, s.R, s.S, s.X, s.Y, s.stride, s.padding)
    arr = layer.codes if layer.codes is not None else layer.weights
    # the common case in one test (plain ints, all in range); anything else is looked at field by field
    if not (type(N) is type(G) is type(C) is type(K) is type(R) is type(S) is type(X) is type(Y)
            is type(stride) is type(padding) is int and min(N, G, C, K, R, S, X, Y, stride) >= 1 and padding >= 0
            and not C % G and not K % G and X + 2 * padding >= R and Y + 2 * padding >= S
            and (layer.kind == "conv" or (layer.kind == "linear" and G == R == S == X == Y == stride == 1
                                          and padding == 0))
            and (not limits()["layer_weights"] or K * (C // G) * R * S <= limits()["layer_weights"])
            and getattr(arr, "shape", None) == (K, C // G, R, S)):
        _layer_problem(layer, arr)


def _layer_problem(layer, arr) -> None:
    s = layer.shape
    name = getattr(layer, "name", "")
    where = f"layer {name!r}: " if name else ""
    if layer.kind not in ("conv", "linear"):
        raise WorkloadError(f"{where}kind={layer.kind!r} is not conv or linear", field="kind")
    for f in _DIMS:
        v = getattr(s, f)
        if _bad_int(v) or v < 1:
            raise WorkloadError(f"{where}{f}={v!r} must be an integer >= 1", field=f)
    if _bad_int(s.padding) or s.padding < 0:
        raise WorkloadError(f"{where}padding={s.padding!r} must be an integer >= 0", field="padding")
    if s.C % s.G or s.K % s.G:
        raise WorkloadError(f"{where}groups G={s.G} must divide C={s.C} and K={s.K}", field="G")
    px, py = s.X + 2 * s.padding, s.Y + 2 * s.padding
    if px < s.R or py < s.S:
        raise WorkloadError(f"{where}the {s.R}x{s.S} kernel is larger than the padded input {px}x{py}",
                            field="R" if px < s.R else "S")
    if layer.kind == "linear" and (s.G, s.R, s.S, s.X, s.Y, s.stride, s.padding) != (1, 1, 1, 1, 1, 1, 0):
        raise WorkloadError(f"{where}a linear layer has G = R = S = X = Y = stride = 1 and padding 0, got "
                            f"G={s.G} R={s.R} S={s.S} X={s.X} Y={s.Y} stride={s.stride} padding={s.padding}",
                            field="kind")
    n_weights = int(s.K) * (int(s.C) // int(s.G)) * int(s.R) * int(s.S)
    check_size("layer_weights", n_weights, "K*C/G*R*S", f"{s.K}*{s.C // s.G}*{s.R}*{s.S}",
               f"{where}the layer's weights number", error=WorkloadError,
               detail=f" (~{n_weights * 100 / 2**30:.1f} GiB in SIGMA's bitmap plan at ~100 B per weight)")
    shape = getattr(arr, "shape", None)
    if shape != (s.K, s.C // s.G, s.R, s.S):
        raise WorkloadError(f"{where}the weights have shape {shape}, the layer's shape needs "
                            f"[K, C/G, R, S] = {[s.K, s.C // s.G, s.R, s.S]}",
                            field="codes" if layer.codes is not None else "weights")


def _maeri_search_ops(s, kind: str) -> tuple[int, str, int]:
    """Steps of the MAERI tile search's divisor scan (about sqrt(v) + 1 per dimension of value v:
    :func:`plumsim.accel.tiling._divisors` pairs d with v // d), and the dimension that drives it."""
    if kind == "conv":
        dims = {"N": s.N, "C/G": s.C // s.G, "K/G": s.K // s.G, "R": s.R, "S": s.S, "G": s.G,
                "X'": s.X_out, "Y'": s.Y_out}
    else:
        dims = {"K": s.K, "N": s.N, "C": s.C}
    top = max(dims, key=dims.get)
    return sum(math.isqrt(v) + 1 for v in dims.values()), top, dims[top]


def simulate_layer(layer, config: AcceleratorConfig, tile=None) -> SimResult:
    """Cycles (cycles) and counters (events) of one :class:`~plumsim.workload.Layer`.

    ``tile``: MAERI: a ``MaeriTile`` or dict ``{"T_R": .., ...}`` (conv) / ``{"T_M","T_N","T_K"}`` (linear);
    TPU: dict with ``T_M``, ``T_N``. None: the tile chooser picks the fastest.
    """
    ctrl = config.controller_type
    s = layer.shape
    check_layer(layer)
    if ctrl == "SIGMA_SPARSE_GEMM":
        from plumsim.accel.sigma import sigma_conv, sigma_linear

        r = sigma_conv(layer, config) if layer.kind == "conv" else sigma_linear(layer, config)
    elif ctrl == "TPU_OS_DENSE":
        from plumsim.accel.tpu import tpu_conv

        t = None
        if tile is not None:
            try:
                t = (int(tile["T_M"]), int(tile["T_N"]))
            except (KeyError, TypeError):
                raise ConfigError("a TPU tile needs T_M and T_N", field="tile") from None
        r = tpu_conv(layer, config, t)
    elif ctrl == "MAERI_DENSE_WORKLOAD":
        from plumsim.accel import maeri, tiling

        if tile is None:
            ops, top, value = _maeri_search_ops(s, layer.kind)
            check_size("work_ops", ops, top, value, "the MAERI tile search scans every divisor of the layer's "
                       "dimensions,", error=WorkloadError, detail="; a given tile (--tile) needs no search")
        if layer.kind == "conv":
            if tile is None:
                t = tiling.choose_maeri_tile(s, config)
            elif isinstance(tile, maeri.MaeriTile):
                t = tile
            else:
                t = maeri.MaeriTile.from_dict(tile)
            r = maeri.maeri_conv(s, config, t)
        else:
            M, N, K = s.K, s.N, s.C
            if tile is None:
                tm, tn, tk = tiling.choose_maeri_gemm_tile(M, N, K, config)
            else:
                tm, tn, tk = (int(tile.get(k, 1)) for k in ("T_M", "T_N", "T_K"))
            r = maeri.maeri_gemm(M, N, K, config, tm, tn, tk)
    else:
        raise ConfigError(f"no model for controller {ctrl!r}; supported: MAERI_DENSE_WORKLOAD, "
                          "SIGMA_SPARSE_GEMM, TPU_OS_DENSE", field="[SDMemory] controller_type")
    return r


def simulate_workload(workload, config: AcceleratorConfig, tile=None):
    """One row per layer (pandas DataFrame).

    Columns: ``layer`` (name), ``kind``, ``scheme``, ``cycles`` (cycles), ``sram_weight_reads``,
    ``sram_input_reads``, ``sram_psum_reads``, ``sram_psum_writes`` (accesses), then one column per
    STONNE counter ``COMPONENT.ACTION`` (events; 0 where a layer has none).
    ``workload``: a Workload (``.layers``) or any iterable of Layer.
    """
    import pandas as pd

    layers = getattr(workload, "layers", workload)
    rows = []
    for layer in layers:
        r = simulate_layer(layer, config, tile)
        row = {"layer": layer.name, "kind": layer.kind, "scheme": layer.scheme, "cycles": int(r.cycles)}
        for k in SRAM_COLUMNS:
            row[f"sram_{k}"] = float(r.sram.get(k, 0))
        row.update({k: float(v) for k, v in sorted(r.counters.items())})
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        counter_cols = [c for c in df.columns if "." in c]
        df[counter_cols] = df[counter_cols].fillna(0.0)
    return df
