"""A reader process for the publish tests: reads the book in a loop until a stop file appears,
then prints a JSON summary (iterations, versions seen, every problem met).

Run as ``python -m tests.book._reader <lake> <stop-file>`` from the repository root. One
``LocalLake`` for the whole loop, as the API holds one.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rebalancer.lake import LocalLake
from rebalancer.lake._manifest import read_manifest
from tests.book.book_checks import book_problems

# One statement joining every reference an account has: a mixed book shows up as misses.
DANGLING_SQL = """
SELECT count(*) AS n FROM accounts a
LEFT JOIN advisors d ON a.advisor_id = d.advisor_id
LEFT JOIN clients c ON a.client_id = c.client_id
LEFT JOIN (SELECT DISTINCT model_id FROM model_portfolios) m ON a.model_id = m.model_id
WHERE d.advisor_id IS NULL OR c.client_id IS NULL OR m.model_id IS NULL
"""


def main(root: str, stop: str) -> None:
    lake = LocalLake(root)
    iterations, problems, versions = 0, [], set()
    while not Path(stop).exists():
        try:
            manifest = read_manifest(lake.blobs)
            versions.add(manifest.version if manifest else None)
            problems += book_problems(lake)
            dangling = int(lake.query(DANGLING_SQL)["n"].iloc[0])
            if dangling:
                problems.append(f"SQL: {dangling} accounts with a dangling reference")
            one = lake.query("SELECT account_id FROM accounts WHERE account_id = 'A00000001'")
            if len(one) != 1:
                problems.append("SQL: account A00000001 not found")
        except Exception as exc:  # a reader must never fail: report it
            problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        iterations += 1
        time.sleep(0.01)
    print(json.dumps({"iterations": iterations, "problems": problems, "versions": len(versions)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
