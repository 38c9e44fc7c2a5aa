"""The durable spool: requests that could not be delivered, one file each, replayed oldest first.

Files are written to a temporary name, fsynced, then ``os.replace``d into place, so a reader never sees half
a file; a torn or altered one (bad envelope, bad checksum) is moved to ``quarantine/`` with a log line, as is
a *poison* entry: one the server refused for good, or failed on :data:`MAX_ATTEMPTS` times while it was up.
A sender *claims* a file by renaming it to a name carrying its pid, which only one process can win, so
several processes may share a spool directory without sending anything twice. The directory is capped in
bytes: past the cap the oldest files are dropped, counted and logged.

The process keeps an index of the files it knows (its own, and the others' as of the last scan), so a write
or a claim costs the same with ten files or a hundred thousand; the folder is scanned again only when the
index runs dry. A write that fails (disk full, read-only, the folder deleted) never loses what it held: a new
entry falls back to the bounded in-memory queue, a claimed file stays where it is; each failure is counted
(``spool_errors``) and logged once.

File name: ``<created ns>-<pid>-<random>-<events>.req``, so names sort oldest first and a dropped file's event
count is known without reading it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import threading
import time
import zlib
from collections import deque
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
MAX_ATTEMPTS = 5
"""Failures of one entry, while the server answered, after which it is quarantined (not while it is down)."""
STALE_TMP_S = 60.0  # a temporary file this old was left by a crashed writer
STALE_CLAIM_S = 600.0  # a claim this old is taken back even if its pid looks alive (pid reuse)
_NAME = re.compile(r"(\d{1,20})-(\d+)-[0-9a-f]+-(\d+)\.req")


@dataclass(frozen=True)
class SpoolStatus:
    files: int
    bytes: int
    events: int
    oldest_created_s: Optional[float]
    claimed: int
    """Files a live process is sending right now."""
    quarantined: int
    abandoned: int = 0
    """Files claimed by a process that is gone: back in the queue at the next recovery."""


class Claim:
    """A spooled request this process holds; finish with :meth:`done`, :meth:`release` or :meth:`quarantine`."""

    def __init__(self, spool: Spool, entry: SpoolEntry, held: Optional[Path], original: Optional[Path]) -> None:
        self.entry = entry
        self._spool = spool
        self._held = held
        self._original = original
        self._open = True

    def done(self) -> None:
        """Delivered (or given up on, counted): it leaves the spool."""
        if self._held is not None:
            self._spool._remove(self._held)
        self._close()

    def release(self, count_attempt: bool = True) -> None:
        """Not delivered this time: back into the queue, behind the others, so one bad entry cannot hold up
        the rest. ``count_attempt``: the failure was this entry's (the server answered); an entry that fails
        :data:`MAX_ATTEMPTS` times so is quarantined instead."""
        if count_attempt:
            self.entry.attempts += 1
            if self.entry.attempts >= MAX_ATTEMPTS:
                self.quarantine(f"failed {self.entry.attempts} times while the server was answering")
                return
        self._spool._release(self.entry, self._held, self._original, rewrite=count_attempt)
        self._close()

    def quarantine(self, why: str) -> None:
        """Never to be sent again by itself: kept aside in ``quarantine/`` for a person to look at."""
        self._spool._quarantine_entry(self.entry, self._held, why)
        self._close()

    def _close(self) -> None:
        if self._open:
            self._open = False
            self._spool._moved(-1)


class Spool:
    """A spool directory, created on first use. If it cannot be used, requests are kept in a bounded
    in-memory queue instead (one warning): they survive an outage, though not a restart."""

    def __init__(self, directory: Path, max_bytes: int, stats: Stats) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.stats = stats
        self._usable: Optional[bool] = None
        self._lock = threading.Lock()
        self._memory: deque[SpoolEntry] = deque()
        self._memory_bytes = 0
        self._index: deque[tuple[str, int]] = deque()
        """Unclaimed files this process knows of, ``(name, size)``, roughly oldest first."""
        self._index_bytes = 0
        self._claimed = 0
        """Claims this process has taken and not yet settled (sent, put back or set aside)."""
        self._moves = 0
        """Claims this process has taken or settled, ever (see :meth:`idle`)."""
        self.evict_oldest = True
        """Past the cap, drop the oldest requests; ``False`` for a relay, which acknowledged every request it
        holds and so refuses new ones instead (:meth:`has_room`)."""
        self._sized = 0
        self._sized_at = -1.0

    # --- set-up -----------------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Whether the directory can be written (checked once): only then is the spool durable."""
        if self._usable is None:
            try:
                self._make_directory()
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

    def _make_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = self.directory.stat().st_uid
        if hasattr(os, "getuid") and owner != os.getuid():
            # Another user's folder: its requests would be replayed with this process's key, and it could
            # read this process's.
            raise PermissionError(errno.EPERM, f"the folder belongs to user {owner}, not to this process's user")

    # --- writing ----------------------------------------------------------------------------------------

    def put(self, body: bytes, encoding: str, events: int, path: str = "/events/batch") -> bool:
        """Keep one undelivered request: ``True`` when it is on disk, ``False`` when the disk failed and it is
        in the bounded in-memory queue instead (never lost while the process lives)."""
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
        self.stats.add("spooled", events)
        if self.usable:
            name = f"{created:020d}-{os.getpid()}-{secrets.token_hex(4)}-{events}{SUFFIX}"
            size = self._write_or_keep(self.directory / name, entry)
            if size is not None:
                with self._lock:
                    self._index.append((name, size))
                    self._index_bytes += size
                    self._sized += size
                self._enforce_cap()
                return True
        self._put_in_memory(entry)
        return False

    def _write_or_keep(self, final: Path, entry: SpoolEntry) -> Optional[int]:
        """Write ``entry`` as ``final``; its size, or ``None`` (counted, logged once) when the disk refused.
        A folder deleted under us is made again."""
        for again in (True, False):
            try:
                return self._write_file(final, entry)
            except FileNotFoundError:
                if again:
                    try:
                        self._make_directory()
                        continue
                    except OSError:
                        pass
                self._write_failed(final.parent, "the folder is gone and cannot be made again")
            except OSError as exc:
                self._write_failed(final.parent, errno.errorcode.get(exc.errno or 0, "") or str(exc))
            return None
        return None

    def _write_failed(self, where: Path, why: str) -> None:
        self.stats.add("spool_errors")
        limited.log(
            logging.WARNING,
            "spool-write",
            "spanhive: could not write to the spool %s (%s); keeping requests in memory until it can",
            where,
            why,
        )

    def _put_in_memory(self, entry: SpoolEntry) -> None:
        dropped = 0
        with self._lock:
            self._memory.append(entry)
            self._memory_bytes += len(entry.body)
            while self._memory_bytes > self.max_bytes and len(self._memory) > 1:
                oldest = self._memory.popleft()
                self._memory_bytes -= len(oldest.body)
                dropped += oldest.event_count
        if dropped:
            self.stats.add("dropped", dropped)
            limited.log(logging.WARNING, "spool-cap", "spanhive: in-memory spool full; dropped %d events", dropped)

    def _write_file(self, final: Path, entry: SpoolEntry) -> int:
        data = entry.SerializeToString()
        tmp = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
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
        return len(data)

    def has_room(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more fit on disk under the cap, counting every process's files (the folder is
        measured at most once a second, this process's own writes added in between)."""
        if not self.usable:
            return False
        now = time.monotonic()
        if now - self._sized_at >= 1.0:
            sized = sum(size for _, size in self._scan())
            with self._lock:
                self._sized, self._sized_at = sized, now
        return self._sized + nbytes <= self.max_bytes

    def _enforce_cap(self) -> None:
        if not self.evict_oldest:
            return
        dropped_files = dropped_events = 0
        while True:
            with self._lock:
                if self._index_bytes <= self.max_bytes or not self._index:
                    break
                name, size = self._index.popleft()
                self._index_bytes -= size
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:
                continue  # another process claimed or dropped it
            except OSError:
                continue
            dropped_files += 1
            dropped_events += _events_in(name)
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

    def _scan(self) -> list[tuple[str, int]]:
        """Unclaimed request files in the folder, oldest first, with their sizes."""
        try:
            scan = list(os.scandir(self.directory))
        except OSError:
            return []
        out = []
        for item in scan:
            if item.name.endswith(SUFFIX) and not item.name.startswith("."):
                try:
                    out.append((item.name, item.stat().st_size))
                except OSError:
                    continue
        out.sort()
        return out

    def _refill(self) -> None:
        """Index what is in the folder (others' files, and ours after a restart): once, then when it runs dry."""
        found = self._scan()
        with self._lock:
            if self._index:
                return
            self._index = deque(found)
            self._index_bytes = sum(size for _, size in found)

    def claim(self) -> Optional[Claim]:
        """Take the oldest request no other process holds; ``None`` when there is none."""
        with self._lock:
            if self._memory:
                entry = self._memory.popleft()
                self._memory_bytes -= len(entry.body)
                self._claimed += 1
                self._moves += 1
                return Claim(self, entry, None, None)
        if self._usable is False:
            return None
        refilled = False
        while True:
            with self._lock:
                item = self._index.popleft() if self._index else None
                if item is not None:
                    self._index_bytes -= item[1]
            if item is None:
                if refilled:
                    return None
                self._refill()
                refilled = True
                continue
            original = self.directory / item[0]
            held = original.with_name(f"{item[0]}{CLAIMED}{os.getpid()}")
            self._moved(1)  # before the rename: from here the file may be under neither name for a reader
            try:
                os.rename(original, held)  # atomic: exactly one process wins each file
            except OSError:
                self._moved(-1)
                continue
            found = self._read(held)
            if found is not None:
                return Claim(self, found, held, original)
            self._moved(-1)

    def _release(self, entry: SpoolEntry, held: Optional[Path], original: Optional[Path], rewrite: bool) -> None:
        if held is None or original is None:
            self._put_in_memory(entry)
            return
        size: Optional[int] = None
        if rewrite:  # the attempt count must survive a restart; if the disk refuses, the old file stays
            size = self._write_or_keep(original, entry)
        if size is not None:
            self._remove(held)
        else:
            try:
                os.rename(held, original)  # a rename needs no free space
                size = original.stat().st_size
            except OSError as exc:
                self._write_failed(held.parent, str(exc))
                return  # left claimed: recovery gives it back after this process ends
        with self._lock:
            self._index.append((original.name, size))
            self._index_bytes += size

    def _remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            self._write_failed(path.parent, str(exc))

    def _read(self, path: Path) -> Optional[SpoolEntry]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # deleted under us (the folder removed by hand): nothing to send or count
            return None
        except OSError as exc:  # unreadable for now (EIO, EACCES): back in the queue, as it was
            self._write_failed(path.parent, str(exc))
            with contextlib.suppress(OSError):
                os.rename(path, path.with_name(path.name.split(CLAIMED)[0]))
            return None
        try:
            entry = SpoolEntry()
            entry.ParseFromString(data)
        except Exception as exc:  # noqa: BLE001 - any decoding failure means the same thing: a bad file
            self._quarantine(path, f"unreadable ({type(exc).__name__})", _events_in(path.name.split(CLAIMED)[0]))
            return None
        if entry.format_version != FORMAT_VERSION:
            self._quarantine(path, f"of unknown format version {entry.format_version}", entry.event_count)
            return None
        if zlib.crc32(entry.body) != entry.body_crc32 or not entry.body:
            self._quarantine(path, "damaged (checksum mismatch: torn or altered)", entry.event_count)
            return None
        return entry

    def _quarantine_entry(self, entry: SpoolEntry, held: Optional[Path], why: str) -> None:
        if held is None:  # an in-memory entry: written to quarantine if the disk can take it
            name = f"{entry.created_unix_nanos:020d}-{os.getpid()}-{secrets.token_hex(4)}-{entry.event_count}{SUFFIX}"
            target = self.directory / QUARANTINE
            try:
                target.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._write_file(target / name, entry)
            except OSError:
                pass
            self._count_quarantine(name, why, entry.event_count)
            return
        self._quarantine(held, why, entry.event_count)

    def _quarantine(self, path: Path, why: str, events: int) -> None:
        name = path.name.split(CLAIMED)[0]
        target = self.directory / QUARANTINE
        try:
            target.mkdir(mode=0o700, exist_ok=True)
            os.replace(path, target / name)
        except OSError:  # no room even for the folder: set aside in place, under a name no claim matches
            try:
                os.replace(path, path.with_name(name + ".quarantined"))
            except OSError as exc:
                self._write_failed(path.parent, str(exc))
        self._count_quarantine(name, why, events)

    def _count_quarantine(self, name: str, why: str, events: int) -> None:
        self.stats.add("quarantined", events)
        limited.log(
            logging.WARNING,
            "spool-quarantine",
            "spanhive: spool entry %s (%d events) is %s; quarantined (kept aside, see `spanhive spool status`)",
            name,
            events,
            why,
        )

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
            elif CLAIMED in item.name and not _held_by_live(item.name, age):
                original = item.name.partition(CLAIMED)[0]
                try:
                    os.rename(item.path, self.directory / original)
                    recovered += 1
                except OSError:
                    continue
        if recovered:
            with self._lock:
                self._index.clear()  # the next claim indexes the folder again, in order
                self._index_bytes = 0
        return recovered

    def _moved(self, claims: int) -> None:
        """A claim taken (``1``) or settled (``-1``) by this process."""
        with self._lock:
            self._claimed += claims
            self._moves += 1

    def idle(self) -> bool:
        """Nothing queued and nothing being sent. The folder is read while no claim of this process changes
        hands: a file this process is moving between two names (claimed, put back) may be missed by a read of
        the folder, and a request it holds in memory is in no list, but neither is missed by its count."""
        with self._lock:
            claimed, moves = self._claimed, self._moves
        if claimed:
            return False
        status = self.status()
        with self._lock:
            unchanged = self._moves == moves
        return unchanged and status.files == 0 and status.claimed == 0

    def status(self) -> SpoolStatus:
        with self._lock:
            memory = list(self._memory)
        files = self._scan() if self._usable is not False else []
        claimed = abandoned = quarantined = 0
        if self._usable is not False and self.directory.is_dir():
            now = time.time()
            for item in os.scandir(self.directory):
                if CLAIMED in item.name:
                    try:
                        age = now - item.stat().st_mtime
                    except OSError:
                        continue
                    if _held_by_live(item.name, age):
                        claimed += 1
                    else:
                        abandoned += 1
                elif item.name.endswith(".quarantined"):
                    quarantined += 1
            folder = self.directory / QUARANTINE
            quarantined += sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0
        created = [int(m.group(1)) for name, _ in files if (m := _NAME.fullmatch(name))]
        created += [e.created_unix_nanos for e in memory]
        return SpoolStatus(
            files=len(files) + len(memory),
            bytes=sum(size for _, size in files) + sum(len(e.body) for e in memory),
            events=sum(_events_in(name) for name, _ in files) + sum(e.event_count for e in memory),
            oldest_created_s=min(created) / 1e9 if created else None,
            claimed=claimed,
            quarantined=quarantined,
            abandoned=abandoned,
        )

    def purge(self) -> int:
        """Delete every queued request (not ones another process is sending); returns how many."""
        with self._lock:
            removed = len(self._memory)
            self._memory.clear()
            self._memory_bytes = 0
            self._index.clear()
            self._index_bytes = 0
        for name, _ in self._scan() if self._usable is not False else []:
            try:
                (self.directory / name).unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed


def _events_in(name: str) -> int:
    match = _NAME.fullmatch(name)
    return int(match.group(3)) if match else 0


def _held_by_live(name: str, age_s: float) -> bool:
    """Whether a claimed file's process is still sending it."""
    pid_text = name.partition(CLAIMED)[2]
    pid = int(pid_text) if pid_text.isdigit() else 0
    return pid == os.getpid() or (_alive(pid) and age_s < STALE_CLAIM_S)


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
