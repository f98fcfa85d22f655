"""The shape of the code (ARCHITECTURE.md): stages are thin sub-commands that import library code, never each other."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ROOT / "stages"
#: Shared CLI infrastructure every sub-command may import; everything else in stages/ is a sub-command.
INFRASTRUCTURE = {"primps.stages.cli", "primps.stages.checks", "primps.stages.train_options"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("primps",) + parts)


def stage_imports(path: Path) -> set[str]:
    """Every primps.stages.* module that ``path`` imports (``from primps.stages import x`` counts as x)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("primps.stages.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "primps.stages":
                out |= {f"primps.stages.{a.name}" for a in node.names}
            elif node.module.startswith("primps.stages."):
                out.add(node.module)
    return out


def test_no_stage_imports_another_stage():
    modules = sorted(STAGES.rglob("*.py"))
    assert len(modules) > 10
    bad = []
    for path in modules:
        name = module_name(path)
        if name in ("primps.stages.cli", "primps.stages.__main__"):
            continue  # the one place that knows every sub-command
        own_package = "primps.stages.repro" if name.startswith("primps.stages.repro") else None
        for imported in stage_imports(path):
            if imported in INFRASTRUCTURE:
                continue
            if own_package and (imported == own_package or imported.startswith(own_package + ".")):
                continue
            bad.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not bad, "stages import stages (move the shared code to pipeline/ or trainers/):\n" + "\n".join(bad)


def test_the_rule_catches_a_stage_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from primps.stages.pretrain import x\nfrom primps.stages import report, checks\n"
                     "import primps.stages.render\n")
    assert stage_imports(probe) == {"primps.stages.pretrain", "primps.stages.report", "primps.stages.checks",
                                    "primps.stages.render"}


def test_config_and_checkpoint_core_import_no_torch():
    """Up-front checks validate with the real validators, so those must load without torch (or numba, dask)."""
    import subprocess
    import sys

    code = ("import sys, primps.stages.checks, primps.trainers.presets, primps.trainers.checkpoint\n"
            "from primps.trainers.presets import get_preset\n"
            "get_preset('lowshot256', diffaug_policy='color,translation,cutout')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numba', 'dask', 'webdataset'}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"imported {r.stdout.strip()}"
