"""Run every benchmark module (``bench/bench_*.py``) and print one JSON line per result.

Each module has ``run(datasets) -> Iterable[dict]``; the data sets (SQLite, and PostgreSQL when reachable)
are prepared once by :mod:`bench.data` and shared. Progress notes go to stderr, results to stdout and to
``bench/results/latest.jsonl``, which keeps the latest line of every result name: a partial run
(``python -m bench availability`` runs only the modules whose name contains ``availability``) replaces only
its own lines. Each line carries the time it was measured (``measured_at``, UTC) and how fast the machine ran
plain Python just then (``machine_ms``, see :func:`machine_ms`)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import data

HERE = Path(__file__).resolve().parent


def modules(selection: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    return [n for n in names if not selection or any(s in n for s in selection)]


def main(argv: list[str]) -> int:
    chosen = modules(argv)
    if not chosen:
        data.note(f"no benchmark module matches {argv}")
        return 2
    datasets = list(data.datasets())
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    latest = results_dir / "latest.jsonl"
    kept = _read_latest(latest)
    for name in chosen:
        data.note(f"running {name}")
        module = importlib.import_module(f"bench.{name}")
        for result in module.run(datasets):
            result = {**result, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                      "machine_ms": machine_ms()}
            print(json.dumps(result, ensure_ascii=False), flush=True)
            kept[result["name"]] = result
            _write_latest(latest, kept)  # after every result: an interrupted run keeps what it measured
    return 0


def machine_ms() -> float:
    """How fast the machine runs Python right now: the median of a fixed pure-Python workload (ms). On a
    shared virtual machine this swings by a factor of two within an hour; results are comparable across
    runs only beside it (or as ratios to a baseline of the same run)."""
    samples = []
    for _ in range(15):
        began = time.perf_counter()
        total = 0
        for i in range(100_000):
            total += i % 7
        samples.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(samples), 2)


def _read_latest(path: Path) -> dict[str, dict]:
    kept: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                result = json.loads(line)
            except ValueError:
                continue
            if isinstance(result, dict) and "name" in result:
                kept[result["name"]] = result
    return kept


def _write_latest(path: Path, kept: dict[str, dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept.values())
    path.with_suffix(".tmp").write_text(text, encoding="utf-8")
    path.with_suffix(".tmp").replace(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
