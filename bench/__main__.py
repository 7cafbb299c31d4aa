"""Run every benchmark module (``bench/bench_*.py``) and print one JSON line per result.

Each module has ``run(datasets) -> Iterable[dict]``; the data sets (SQLite, and PostgreSQL when reachable)
are prepared once by :mod:`bench.data` and shared. Progress notes go to stderr, results to stdout and to
``bench/results/latest.jsonl``. ``python -m bench availability`` runs only the modules whose name contains
``availability``."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
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
    with (results_dir / "latest.jsonl").open("w", encoding="utf-8") as latest:
        for name in chosen:
            data.note(f"running {name}")
            module = importlib.import_module(f"bench.{name}")
            for result in module.run(datasets):
                line = json.dumps(result, ensure_ascii=False)
                print(line, flush=True)
                latest.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
