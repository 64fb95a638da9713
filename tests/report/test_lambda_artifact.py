"""The Lambda artifact leaves out reports and digests: no module it ships imports
uvqc.report, uvqc.digest, matplotlib or Jinja2 (they are not packaged)."""

from __future__ import annotations

import ast
from pathlib import Path

from uvqc.aws import build

SRC = Path(__file__).resolve().parents[2] / "src" / "uvqc"
NOT_SHIPPED = ("uvqc.report", "uvqc.digest", "matplotlib", "jinja2")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_shipped_module_imports_the_report_stack(tmp_path: Path) -> None:
    build.copy_package(SRC, tmp_path)
    shipped = sorted(tmp_path.rglob("*.py"))
    assert any(p.name == "check_handler.py" for p in shipped)
    offenders = {
        p.relative_to(tmp_path).as_posix(): sorted(
            n for n in imported(p) if n.startswith(NOT_SHIPPED)
        )
        for p in shipped
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_notify_and_runs_handlers_load_no_plotting_stack() -> None:
    """What the handlers import at run time (not only what their files name): no
    matplotlib, numpy, Jinja2, uvqc.report or uvqc.digest in the process."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import uvqc.aws.check_handler, uvqc.aws.notify_handler, uvqc.aws.runs_handler\n"
        "heavy = ('matplotlib', 'numpy', 'PIL', 'jinja2', 'uvqc.report', 'uvqc.digest')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
