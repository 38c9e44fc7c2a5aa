"""The durable spool: requests that could not be delivered, one file each, replayed oldest first.

Files are written to a temporary name, fsynced, then ``os.replace``d into place, so a reader never sees half
a file; a torn or altered one (bad envelope, bad checksum) is moved to ``quarantine/`` with a log line. A
sender *claims* a file by renaming it to a name carrying its pid, which only one process can win, so several
processes may share a spool directory without sending anything twice. The directory is capped in bytes: past
the cap the oldest files are dropped, counted and logged.

File name: ``<created ns>-<pid>-<random>-<events>.req``, so names sort oldest first and a dropped file's event
count is known without reading it.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from spanhive._log import limited, logger
from spanhive._spool_envelope_pb2 import SpoolEntry
from spanhive._stats import Stats

FORMAT_VERSION = 1
SUFFIX = ".req"
CLAIMED = ".claimed-"
TMP_SUFFIX = ".tmp"
QUARANTINE = "quarantine"
STALE_TMP_S = 60.0  # a temporary file this old was left by a crashed writer
STALE_CLAIM_S = 600.0  # a claim this old is taken back even if its pid looks alive (pid reuse)


@dataclass(frozen=True)
class SpoolStatus:
    files: int
    bytes: int
    events: int
    oldest_created_s: Optional[float]
    claimed: int
    quarantined: int


class Claim:
    """A spooled request this process holds; finish with :meth:`done` or :meth:`release`."""

    def __init__(self, entry: SpoolEntry, done: Callable[[], None], release: Callable[[SpoolEntry], None]) -> None:
        self.entry = entry
        self._done = done
        self._release = release

    def done(self) -> None:
        """Delivered (or given up on): it leaves the spool."""
        self._done()

    def release(self) -> None:
        """Not delivered this time: back into the spool, one attempt more, same place in the queue."""
        self.entry.attempts += 1
        self._release(self.entry)


class Spool:
    """A spool directory, created on first use. If it cannot be used, requests are kept in a bounded
    in-memory queue instead (one warning): they survive an outage, though not a restart."""

    def __init__(self, directory: Path, max_bytes: int, stats: Stats) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.stats = stats
        self._usable: Optional[bool] = None
        self._memory: deque[SpoolEntry] = deque()
        self._memory_bytes = 0
        self._memory_lock = threading.Lock()

    # --- set-up -----------------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        if self._usable is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                probe = self.directory / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
                probe.write_bytes(b"")
                probe.unlink()
                self._usable = True
            except OSError as exc:
                logger.warning(
                    "spanhive: spool directory %s is not usable (%s); undelivered batches are kept in memory "
                    "only, up to %d bytes, and lost on exit (set SPANHIVE_SPOOL_DIR)",
                    self.directory,
                    exc.strerror or exc,
                    self.max_bytes,
                )
                self._usable = False
        return self._usable

    # --- writing ----------------------------------------------------------------------------------------

    def put(self, body: bytes, encoding: str, events: int, path: str = "/events/batch") -> bool:
        """Keep one undelivered request; ``False`` only if it could be kept nowhere."""
        created = time.time_ns()
        entry = SpoolEntry(
            format_version=FORMAT_VERSION,
            body=body,
            path=path,
            encoding=encoding,
            created_unix_nanos=created,
            attempts=0,
            body_crc32=zlib.crc32(body),
            event_count=events,
        )
        if not self.usable:
            self._put_in_memory(entry)
            self.stats.add("spooled", events)
            return True
        name = f"{created:020d}-{os.getpid()}-{secrets.token_hex(4)}-{events}{SUFFIX}"
        try:
            self._write_file(self.directory / name, entry)
        except OSError as exc:
            limited.log(logging.WARNING, "spool-write", "spanhive: could not write to the spool: %s", exc)
            return False
        self.stats.add("spooled", events)
        self._enforce_cap()
        return True

    def _put_in_memory(self, entry: SpoolEntry, front: bool = False) -> None:
        dropped = 0
        with self._memory_lock:
            if front:
                self._memory.appendleft(entry)
            else:
                self._memory.append(entry)
            self._memory_bytes += len(entry.body)
            while self._memory_bytes > self.max_bytes and len(self._memory) > 1:
                oldest = self._memory.popleft()
                self._memory_bytes -= len(oldest.body)
                dropped += oldest.event_count
        if dropped:
            self.stats.add("dropped", dropped)
            limited.log(logging.WARNING, "spool-cap", "spanhive: in-memory spool full; dropped %d events", dropped)

    def _claim_from_memory(self) -> Optional[Claim]:
        with self._memory_lock:
            if not self._memory:
                return None
            entry = self._memory.popleft()
            self._memory_bytes -= len(entry.body)
        return Claim(entry, lambda: None, lambda again: self._put_in_memory(again, front=True))

    def _write_file(self, final: Path, entry: SpoolEntry) -> None:
        tmp = final.with_name(f".{final.name}.{os.getpid()}{TMP_SUFFIX}")
        data = entry.SerializeToString()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)

    def _enforce_cap(self) -> None:
        files = self._entries()
        total = sum(size for _, size in files)
        dropped_files = dropped_events = 0
        for path, size in files:
            if total <= self.max_bytes:
                break
            try:
                path.unlink()
            except FileNotFoundError:
                continue  # another process claimed or dropped it
            total -= size
            dropped_files += 1
            dropped_events += _events_in(path.name)
        if dropped_files:
            self.stats.add("dropped", dropped_events)
            limited.log(
                logging.WARNING,
                "spool-cap",
                "spanhive: spool over its cap of %d bytes; dropped the %d oldest requests (%d events)",
                self.max_bytes,
                dropped_files,
                dropped_events,
            )

    # --- reading ----------------------------------------------------------------------------------------

    def _entries(self) -> list[tuple[Path, int]]:
        """Unclaimed request files, oldest first, with their sizes."""
        try:
            scan = list(os.scandir(self.directory))
        except OSError:
            return []
        out = []
        for item in scan:
            if item.name.endswith(SUFFIX) and not item.name.startswith("."):
                try:
                    out.append((Path(item.path), item.stat().st_size))
                except OSError:
                    continue
        out.sort(key=lambda pair: pair[0].name)
        return out

    def claim(self) -> Optional[Claim]:
        """Take the oldest request no other process holds; ``None`` when there is none."""
        if not self.usable:
            return self._claim_from_memory()
        for path, _ in self._entries():
            held = path.with_name(f"{path.name}{CLAIMED}{os.getpid()}")
            try:
                os.rename(path, held)  # atomic: exactly one process wins each file
            except OSError:
                continue
            entry = self._read(held)
            if entry is None:
                continue
            return Claim(entry, _deleter(held), self._releaser(held, path))
        return None

    def _releaser(self, held: Path, original: Path) -> Callable[[SpoolEntry], None]:
        def release(entry: SpoolEntry) -> None:
            try:
                self._write_file(original, entry)
            finally:
                held.unlink(missing_ok=True)

        return release

    def _read(self, path: Path) -> Optional[SpoolEntry]:
        try:
            data = path.read_bytes()
            entry = SpoolEntry()
            entry.ParseFromString(data)
        except Exception as exc:  # noqa: BLE001 - any decoding failure means the same thing: a bad file
            self._quarantine(path, f"unreadable ({type(exc).__name__})")
            return None
        if entry.format_version != FORMAT_VERSION:
            self._quarantine(path, f"unknown format version {entry.format_version}")
            return None
        if zlib.crc32(entry.body) != entry.body_crc32 or not entry.body:
            self._quarantine(path, "checksum mismatch (torn or altered file)")
            return None
        return entry

    def _quarantine(self, path: Path, why: str) -> None:
        target = self.directory / QUARANTINE
        try:
            target.mkdir(exist_ok=True)
            os.replace(path, target / path.name.split(CLAIMED)[0])
        except OSError:
            path.unlink(missing_ok=True)
        self.stats.add("quarantined")
        limited.log(logging.WARNING, "spool-quarantine", "spanhive: spool file %s is %s; quarantined", path.name, why)

    # --- housekeeping -----------------------------------------------------------------------------------

    def recover(self) -> int:
        """Return files claimed by processes that died (and temporary files they left) to the queue."""
        if not self.usable:
            return 0
        recovered = 0
        now = time.time()
        try:
            scan = list(os.scandir(self.directory))
        except OSError:
            return 0
        for item in scan:
            try:
                age = now - item.stat().st_mtime
            except OSError:
                continue
            if item.name.endswith(TMP_SUFFIX) and age > STALE_TMP_S:
                Path(item.path).unlink(missing_ok=True)
            elif CLAIMED in item.name:
                original, _, pid_text = item.name.partition(CLAIMED)
                pid = int(pid_text) if pid_text.isdigit() else 0
                if pid == os.getpid() or (_alive(pid) and age < STALE_CLAIM_S):
                    continue
                try:
                    os.rename(item.path, self.directory / original)
                    recovered += 1
                except OSError:
                    continue
        return recovered

    def status(self) -> SpoolStatus:
        if self._usable is False:
            with self._memory_lock:
                entries = list(self._memory)
            return SpoolStatus(
                files=len(entries),
                bytes=sum(len(e.body) for e in entries),
                events=sum(e.event_count for e in entries),
                oldest_created_s=entries[0].created_unix_nanos / 1e9 if entries else None,
                claimed=0,
                quarantined=0,
            )
        files = self._entries() if self.directory.is_dir() else []
        claimed = quarantined = 0
        if self.directory.is_dir():
            claimed = sum(1 for p in self.directory.iterdir() if CLAIMED in p.name)
            q = self.directory / QUARANTINE
            quarantined = sum(1 for _ in q.iterdir()) if q.is_dir() else 0
        oldest = int(files[0][0].name.split("-", 1)[0]) / 1e9 if files else None
        return SpoolStatus(
            files=len(files),
            bytes=sum(size for _, size in files),
            events=sum(_events_in(path.name) for path, _ in files),
            oldest_created_s=oldest,
            claimed=claimed,
            quarantined=quarantined,
        )

    def purge(self) -> int:
        """Delete every queued request (not ones another process is sending); returns how many."""
        with self._memory_lock:
            removed = len(self._memory)
            self._memory.clear()
            self._memory_bytes = 0
        for path, _ in self._entries():
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed


def _deleter(path: Path) -> Callable[[], None]:
    def delete() -> None:
        path.unlink(missing_ok=True)

    return delete


def _events_in(name: str) -> int:
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    tail = stem.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
