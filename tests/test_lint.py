"""The code passes ruff with the configuration in pyproject.toml ([tool.ruff]: E, F, I, W, B)."""

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT


def ruff() -> list[str]:
    beside_python = Path(sys.executable).with_name("ruff")  # the venv's, when pytest runs from it
    return [str(beside_python)] if beside_python.is_file() else [shutil.which("ruff") or "ruff"]


def test_ruff_passes():
    result = subprocess.run([*ruff(), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_sees_a_violation(tmp_path):
    """The contrast: the same command fails on a file with an unused import, so the pass above means something."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("import os\n")
    result = subprocess.run([*ruff(), "check", "--no-cache", "."], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and "F401" in result.stdout, result.stdout + result.stderr
