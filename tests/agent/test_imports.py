"""The agent stays light: numpy and the standard library only."""

from __future__ import annotations

import subprocess
import sys


def test_import_vigil_agent_loads_no_heavy_dependency():
    code = ("import vigil.agent, sys; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pandas', 'sqlalchemy', 'pyarrow', 'fastapi', 'vigil') and not m.startswith(('vigil.agent', 'vigil.errors', 'vigil.config')) and m != 'vigil'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_starts_no_thread_and_opens_nothing():
    code = ("import threading, vigil.agent; from vigil.agent import MonitoringAgent; "
            "a = MonitoringAgent(n_classes=2, spool_dir='/nonexistent/never-created'); "
            "print(threading.active_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"
