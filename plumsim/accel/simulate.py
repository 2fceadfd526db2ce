"""Run a layer or a whole workload on one accelerator: dispatch on controller and layer kind.

* MAERI_DENSE_WORKLOAD: conv -> ``maeri_conv`` (tile given or chosen by ``choose_maeri_tile``), linear ->
  ``maeri_gemm`` (M = out features, N = batch rows, K = in features). Dense: zeros are multiplied.
* SIGMA_SPARSE_GEMM: conv via im2col, linear as the frontend's SparseLinear (weight bitmap decides).
* TPU_OS_DENSE: conv/linear via im2col as a dense GEMM (tile given as T_M/T_N or chosen).
numpy/pandas only.
"""

from __future__ import annotations

from plumsim.accel.config import AcceleratorConfig
from plumsim.accel.result import SimResult
from plumsim.errors import ConfigError

SRAM_COLUMNS = ("weight_reads", "input_reads", "psum_reads", "psum_writes")


def simulate_layer(layer, config: AcceleratorConfig, tile=None) -> SimResult:
    """Cycles (cycles) and counters (events) of one :class:`~plumsim.workload.Layer`.

    ``tile``: MAERI: a ``MaeriTile`` or dict ``{"T_R": .., ...}`` (conv) / ``{"T_M","T_N","T_K"}`` (linear);
    TPU: dict with ``T_M``, ``T_N``. None: the tile chooser picks the fastest.
    """
    ctrl = config.controller_type
    s = layer.shape
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
