"""The spool's cost per entry as it grows: put (written, fsynced, renamed) and replay (claimed, sent to an
in-memory sink, deleted) of 1k, 10k and 100k entries. Flat is the target: a long outage must not make each
write or each replayed request dearer.

    python -m benchmarks.spool [--sizes 1000 10000 100000] [--body-bytes 1500]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from spanhive._pipeline.deliver import Delivery
from spanhive._pipeline.drain import replay
from spanhive._pipeline.sinks.memory import MemorySink
from spanhive._spool import Spool
from spanhive._stats import Stats


def measure(entries: int, body_bytes: int, root: Path) -> dict[str, float]:
    directory = root / f"spool-{entries}"
    spool = Spool(directory, 1 << 40, Stats())
    body = json.dumps({"events": [], "pad": "x" * body_bytes}).encode()
    started = time.perf_counter()
    for _ in range(entries):
        spool.put(body, "identity", 1)
    put_s = time.perf_counter() - started
    sink = MemorySink()
    delivery = Delivery(sink, spool, Stats())
    fresh = Spool(directory, 1 << 40, Stats())  # a new process replaying what an earlier one left
    started = time.perf_counter()
    replayed = 0
    while (claim := fresh.claim()) is not None:
        replay(delivery, claim, time.monotonic() + 10)
        replayed += 1
        sink.requests.clear()
        sink.delivered.clear()
    replay_s = time.perf_counter() - started
    assert replayed == entries, (replayed, entries)
    shutil.rmtree(directory)
    return {"entries": entries, "put_per_s": entries / put_s, "replay_per_s": entries / replay_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--body-bytes", type=int, default=1500)
    parser.add_argument("--dir", type=Path, default=None, help="where to make the spools (default: a temp dir)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(dir=args.dir))
    try:
        rows = [measure(n, args.body_bytes, root) for n in args.sizes]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    first = rows[0]
    print(f"{'entries':>8} {'put/s':>9} {'replay/s':>9} {'put cost x':>10} {'replay cost x':>13}")
    for row in rows:
        print(
            f"{row['entries']:>8} {row['put_per_s']:>9.0f} {row['replay_per_s']:>9.0f} "
            f"{first['put_per_s'] / row['put_per_s']:>10.2f} {first['replay_per_s'] / row['replay_per_s']:>13.2f}"
        )


if __name__ == "__main__":
    main()
