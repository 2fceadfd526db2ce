"""The package layout shows the pipeline: every import (module level or inside a function) of every module
goes from a later stage to an earlier one, never back up (docs/design.md, "Pipeline")."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "plumsim"

#: stages in pipeline order; a module may import its own stage and earlier ones only
STAGES = (("errors", "fileio"), ("quant",), ("workload",), ("accel",), ("energy",), ("stonne",),
          ("results",), ("sweep",), ("plots",), ("report",), ("cpu",), ("pipeline",), ("api",),
          ("commands",), ("cli",))
LEVEL = {name: i for i, names in enumerate(STAGES) for name in names}
NUMPY_ONLY = ("accel", "energy")


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, []


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ".".join(parts)


def test_every_module_belongs_to_a_stage():
    unknown = sorted({_stage(m) for _, m in _modules() if _stage(m) and _stage(m) not in LEVEL})
    assert not unknown, f"modules outside the pipeline's stages: {unknown}; add them to STAGES"


def test_imports_go_one_way():
    back = []
    for path, module in _modules():
        src = _stage(module)
        if not src:  # the package root: only __version__ and lazy re-exports
            continue
        for line, target, _ in _imports(path):
            if not target.startswith("plumsim."):
                continue
            dst = _stage(target)
            if LEVEL[dst] > LEVEL[src]:
                back.append(f"{path.relative_to(PKG.parent)}:{line}: {src} imports {target}")
    assert not back, "imports that run back up the pipeline:\n" + "\n".join(back)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_names_imported_across_modules():
    """A private function or class stays in its module; a package's private helper *modules* (e.g.
    ``commands/_output.py``) may be used inside that package only."""
    private = []
    for path, module in _modules():
        for line, target, names in _imports(path):
            if not target.startswith("plumsim") or target == module:
                continue
            same_pkg = _stage(target) == _stage(module)
            pkg_dir = PKG.parent.joinpath(*target.split("."))
            bad = [n for n in names if _private(n) and not (same_pkg and (pkg_dir / f"{n}.py").is_file())]
            if bad or (not same_pkg and any(_private(p) for p in target.split(".")[2:])):
                private.append(f"{path.relative_to(PKG.parent)}:{line}: from {target} import {', '.join(names)}")
    assert not private, "private names imported from another module:\n" + "\n".join(private)


def test_accel_and_energy_never_import_torch():
    found = []
    for path, module in _modules():
        if _stage(module) in NUMPY_ONLY:
            for line, target, _ in _imports(path):
                if target.split(".")[0] in ("torch", "torchvision"):
                    found.append(f"{path.relative_to(PKG.parent)}:{line}")
    assert not found, f"torch imported in numpy-only stages: {found}"
