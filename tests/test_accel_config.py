"""STONNE .cfg reading, validation, writing; tiles."""
from pathlib import Path

import pytest

from plumsim.accel.cfg import dump_config, load_config, loads_config, validate_tile, load_tile
from plumsim.errors import ConfigError
from plumsim.workload.layer import LayerShape

DATA = Path(__file__).parent / "data" / "stonne"
PRESETS = Path(__file__).parent.parent / "accel_configs"

FULL = """# every section STONNE's sample configs use
print_stats_enabled=1
[DSNetwork]
type="TREE"
n_switches_traversed_by_cycle=23
[DSwitch]
latency=1
input_ports=1
output_ports=2
port_width=16
[MSNetwork]
type="LINEAR"
ms_size=128
[MSwitch]
latency=1
input_ports=1
output_ports=1
forwarding_ports=1
port_width=16
buffers_capacity=2048
[ReduceNetwork]
type="ASNETWORK"
accumulation_buffer_enabled=1   # on
[ASwitch]
latency=1
input_ports=2
output_ports=1
forwarding_ports=1
port_width=16
buffers_capacity=256
[LookUpTable]
latency=1
port_width=1
[SDMemory]
dn_bw=64
rn_bw=32
port_width=16
write_buffers_capacity=256
controller_type="MAERI_DENSE_WORKLOAD"
"""


def test_reference_cfgs_parse():
    files = sorted((DATA / "cfgs").glob("*.cfg"))
    assert len(files) >= 10
    for f in files:
        c = load_config(f)
        ms, dn, rn = (int(x[2:]) for x in f.stem.split("_")[1:])
        assert (c.ms_size, c.dn_bw, c.rn_bw) == (ms, dn, rn)
        assert c.controller_type == "SIGMA_SPARSE_GEMM" and not c.accumulation_buffer  # STONNE default


def test_full_sample_and_roundtrip(tmp_path):
    c = loads_config(FULL)
    assert (c.ms_size, c.dn_bw, c.rn_bw, c.accumulation_buffer) == (128, 64, 32, True)
    assert c.extra["MSwitch"]["buffers_capacity"] == 2048
    p = tmp_path / "x.cfg"
    p.write_text(dump_config(c))
    c2 = load_config(p)
    assert c2.as_dict() | {"name": ""} == c.as_dict() | {"name": ""}
    assert c2.extra == c.extra


def test_presets_valid():
    names = {p.stem for p in PRESETS.glob("*.cfg")}
    assert {"maeri_64", "maeri_128", "maeri_256", "sigma_64", "sigma_128", "sigma_256", "tpu_8x8", "tpu_16x16"} <= names
    for p in PRESETS.glob("*.cfg"):
        load_config(p)


@pytest.mark.parametrize("edit,field", [
    (("ms_size=128", "ms_size=96"), "[MSNetwork] ms_size"),
    (("dn_bw=64", "dn_bw=256"), "[SDMemory] dn_bw"),
    (("rn_bw=32", "rn_bw=0"), "[SDMemory] rn_bw"),
    (("[LookUpTable]", "[LookupTable]"), "[LookupTable]"),
    (("latency=1\nport_width=1", "latncy=1\nport_width=1"), "[LookUpTable] latncy"),
    (('controller_type="MAERI_DENSE_WORKLOAD"', 'controller_type="TPU_OS_DENSE"'), "[SDMemory] controller_type"),
    (("ms_size=128", 'ms_size="big"'), "[MSNetwork] ms_size"),
])
def test_rejects(edit, field, tmp_path):
    p = tmp_path / "bad.cfg"
    p.write_text(FULL.replace(*edit))
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.field == field and str(p) in str(e.value)


def test_mesh_rules():
    base = '[MSNetwork]\ntype="OS_MESH"\nms_rows={r}\nms_cols={c}\n[ReduceNetwork]\ntype="TEMPORALRN"\n' \
           '[SDMemory]\ndn_bw={d}\nrn_bw=16\ncontroller_type="TPU_OS_DENSE"\n'
    c = loads_config(base.format(r=8, c=8, d=8))
    assert c.ms_size == 64
    with pytest.raises(ConfigError, match="power of two"):
        loads_config(base.format(r=8, c=8, d=6))
    with pytest.raises(ConfigError):
        loads_config(base.format(r=8, c=16, d=8))  # 128 multipliers but 24/8 = 3 lanes: STONNE aborts
    with pytest.raises(ConfigError, match="LINEAR"):
        loads_config(base.format(r=8, c=8, d=8).replace("TPU_OS_DENSE", "SIGMA_SPARSE_GEMM"))


def test_tiles():
    c = loads_config(FULL)
    shape = LayerShape(N=1, G=1, C=16, K=16, R=3, S=3, X=10, Y=10)
    t = load_tile("T_R=3,T_S=3,T_C=4,T_K=2,T_G=1,T_N=1,T_X_=1,T_Y_=1")
    validate_tile(t, shape, c)
    with pytest.raises(ConfigError, match="ms_size"):
        validate_tile({**t, "T_K": 8}, shape, c)   # 36*8 = 288 > 128
    with pytest.raises(ConfigError) as e:
        validate_tile({**t, "T_C": 17}, shape, c)
    assert e.value.field == "T_C"
    with pytest.raises(ConfigError):
        load_tile("T_Q=3")
