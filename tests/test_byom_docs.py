"""docs/api.md lists every column of the tables the API returns (results schema, workload statistics)."""

from pathlib import Path

from plumsim.energy.tables import GROUP_ORDER
from plumsim.results.schema import COLUMNS, group_column
from plumsim.workload.stats import STATS_COLUMNS

DOC = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()


def test_every_column_is_documented():
    names = list(COLUMNS) + [group_column(g) for g in GROUP_ORDER] + list(STATS_COLUMNS)
    missing = [c for c in names if f"| `{c}` |" not in DOC]
    assert not missing, missing
