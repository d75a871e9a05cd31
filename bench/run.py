"""`make bench`: run every benchmark, save bench/results/*.json, rewrite docs/benchmarks.md.

Usage: python -m bench.run [--quick] [transfer] [pages] [operator]
"""

from __future__ import annotations

import sys
import time

from bench import operator, pages, report, transfer
from bench.harness import save


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    chosen = [a for a in argv if not a.startswith("--")] or ["transfer", "pages", "operator"]
    started = time.monotonic()
    if "transfer" in chosen:
        print("1-3: upload throughput, memory, download …", flush=True)
        save("transfer", transfer.main(quick=quick))
    if "pages" in chosen:
        print("4: pages under load (SQLite, PostgreSQL) …", flush=True)
        save("pages", pages.main(customers=40 if quick else pages.CUSTOMERS))
    if "operator" in chosen:
        print("5: operator, 100 Portals on the test control plane …", flush=True)
        save("operator", operator.main())
    path = report.write()
    print(path.read_text())
    print(f"bench finished in {time.monotonic() - started:.0f} s; wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
