"""The bundled example script runs as a new user would run it."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_quickstart_runs():
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "your consensus labels are about" in proc.stdout
    assert "Krippendorff's alpha" in proc.stdout
