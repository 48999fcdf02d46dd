"""Helpers shared by the benchmark scripts: paths, memory probes, child processes, tables.

Memory is measured two ways, both reported in MiB:

* inside a process, *peak above baseline*: after the data is loaded we reset the
  kernel's high-water mark (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0),
  run the fit, then read ``VmHWM`` from ``/proc/self/status``. The difference
  ``VmHWM - RSS at reset`` is the extra memory the fit needed at its worst
  moment, measured by the kernel, so short spikes are not missed. Where
  ``clear_refs`` cannot be written, a psutil thread samples RSS every 2 ms
  instead (and may miss very short spikes).
* for a whole child process, *absolute peak RSS*: ``os.wait4`` returns the
  child's ``ru_maxrss``, its peak resident set from start to exit.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
DATA = BENCH / "data"
RESULTS = BENCH / "results"
MIB = 1024 * 1024


def datasets_dir(arg: str | None = None) -> Path:
    """The shared datasets folder: argument, else $CONSENSUS_DATASETS, else ../shared/datasets."""
    chosen = arg or os.environ.get("CONSENSUS_DATASETS")
    return Path(chosen) if chosen else ROOT.parent / "shared" / "datasets"


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak resident memory above the level at ``start()``, in bytes.

    Use as ``probe = PeakMemory().start(); ...work...; extra = probe.stop()``.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.method = ""
        self.baseline = 0
        self._peak = 0
        self._thread: threading.Thread | None = None
        self._running = False

    def start(self) -> PeakMemory:
        import gc

        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
            self.method = "VmHWM after clear_refs"
            self.baseline = (_status_kib("VmRSS") or 0) * 1024
            return self
        except OSError:
            pass
        import psutil

        process = psutil.Process()
        self.method = f"psutil sampling every {self.interval * 1000:.0f} ms"
        self.baseline = process.memory_info().rss
        self._peak = self.baseline
        self._running = True

        def sample() -> None:
            while self._running:
                self._peak = max(self._peak, process.memory_info().rss)
                time.sleep(self.interval)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        if self._thread is None:
            peak = (_status_kib("VmHWM") or 0) * 1024
        else:
            self._running = False
            self._thread.join()
            peak = self._peak
        return max(peak - self.baseline, 0)


def run_child(cmd: Sequence[str], env: dict[str, str] | None = None,
              stdout: Any = subprocess.PIPE) -> dict[str, Any]:
    """Run a command; wall time, the child's own peak RSS (ru_maxrss) and its output."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=stdout, stderr=subprocess.PIPE, env=env,
                            cwd=ROOT, text=True)
    # Read the pipes on threads so a chatty child cannot block; wait4 keeps its rusage.
    out: dict[str, str] = {"stdout": "", "stderr": ""}

    def drain(name: str, pipe: Any) -> None:
        out[name] = pipe.read() if pipe is not None else ""

    readers = [threading.Thread(target=drain, args=(n, getattr(proc, n)))
               for n in ("stdout", "stderr") if getattr(proc, n) is not None]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    for reader in readers:
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss * 1024 / MIB,  # Linux reports KiB
        "returncode": proc.returncode,
        "stdout": out["stdout"],
        "stderr": out["stderr"],
    }


def run_worker(script: Path, args: Sequence[str]) -> dict[str, Any]:
    """Run ``script --worker ...`` in a fresh interpreter; it prints one JSON line last."""
    result = run_child([sys.executable, str(script), *args])
    if result["returncode"] != 0:
        raise RuntimeError(f"worker {' '.join(args)} failed:\n{result['stderr'][-3000:]}")
    report = json.loads(result["stdout"].strip().splitlines()[-1])
    report["process_peak_rss_mib"] = result["peak_rss_mib"]
    report["process_wall_s"] = result["wall_s"]
    return report


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; numbers already formatted by the caller."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line naming the machine and the library versions the numbers came from."""
    import numpy
    import pandas
    import pyarrow
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 1024**3:.0f} GB RAM"
    except ImportError:
        try:
            with open("/proc/meminfo") as info:
                ram = f"{int(info.readline().split()[1]) / 1024**2:.0f} GB RAM"
        except (OSError, ValueError, IndexError):
            ram = "RAM unknown"
    try:
        from importlib.metadata import version

        crowdkit = f", crowd-kit {version('crowd-kit')}"
    except Exception:
        crowdkit = ""
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return (
        f"consensus {commit}; {cpu}, {os.cpu_count()} cores, {ram}, load average {load} "
        f"at the end; "
        f"Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, scipy {scipy.__version__}, pandas {pandas.__version__}, "
        f"pyarrow {pyarrow.__version__}{crowdkit}"
    )


def save_json(name: str, payload: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def emit(text: str, payload: Any, output: str | None, json_path: str | None) -> None:
    """Print a report; also write it to ``output`` and its raw numbers to ``json_path``."""
    print(text)
    if output:
        Path(output).write_text(text + "\n")
    if json_path:
        Path(json_path).write_text(json.dumps(payload, indent=2, default=float) + "\n")
