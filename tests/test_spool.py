"""The durable spool on real files: atomic entries, claims, caps, quarantine, recovery, sharing."""

from __future__ import annotations

import ast
import logging
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spanhive import _spool_envelope_pb2
from spanhive._spool import CLAIMED, QUARANTINE, Spool
from spanhive._stats import Stats
from tests.conftest import needs_peers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool", 10_000, Stats())


def test_entries_round_trip_oldest_first(spool: Spool) -> None:
    for i in range(3):
        assert spool.put(f"body-{i}".encode(), "identity", events=i + 1)
    status = spool.status()
    assert (status.files, status.events) == (3, 6)
    claims = [spool.claim() for _ in range(3)]
    assert [c.entry.body for c in claims if c] == [b"body-0", b"body-1", b"body-2"]
    assert spool.claim() is None  # all held
    for claim in claims:
        assert claim is not None
        claim.done()
    assert spool.status().files == 0
    assert spool.stats.get("spooled") == 6


def test_a_released_claim_comes_back_with_one_more_attempt(spool: Spool) -> None:
    spool.put(b"x", "gzip", events=1)
    claim = spool.claim()
    assert claim is not None
    claim.release()
    again = spool.claim()
    assert again is not None
    assert (again.entry.attempts, again.entry.encoding, again.entry.body) == (1, "gzip", b"x")


def test_the_cap_drops_oldest_and_counts(spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    for i in range(12):
        spool.put(bytes([i]) * 1500, "identity", events=10)
    status = spool.status()
    assert status.bytes <= 10_000
    assert status.files < 12
    assert spool.stats.get("dropped") == (12 - status.files) * 10
    claim = spool.claim()
    assert claim is not None
    assert claim.entry.body[0] == 12 - status.files  # the oldest were the ones dropped
    assert "over its cap" in caplog.text


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="torn"),
        pytest.param(lambda data: data[:-3] + b"zzz", id="altered"),
        pytest.param(lambda data: b"\xff\xff\xff garbage", id="garbage"),
    ],
)
def test_bad_files_are_quarantined_not_sent(spool: Spool, damage: object, caplog: pytest.LogCaptureFixture) -> None:
    spool.put(b"good body " * 20, "identity", events=1)
    (path,) = [p for p in spool.directory.iterdir() if p.suffix == ".req"]
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    spool.put(b"next", "identity", events=1)
    claim = spool.claim()
    assert claim is not None
    assert claim.entry.body == b"next"
    assert [p.name for p in (spool.directory / QUARANTINE).iterdir()] == [path.name]
    assert "quarantined" in caplog.text


def test_an_unusable_directory_degrades_to_memory_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spool = Spool(blocker / "spool", 2_500, Stats())
    for i in range(3):
        assert spool.put(bytes([i]) * 1000, "identity", 1) is False  # kept, though not durably
    assert caplog.text.count("kept in memory only") == 1
    assert spool.status().files == 2  # the byte cap holds in memory too: the oldest went
    assert spool.stats.get("dropped") == 1
    claim = spool.claim()
    assert claim is not None
    assert claim.entry.body[0] == 1
    claim.release()
    behind = spool.claim()
    assert behind is not None
    assert (behind.entry.body[0], behind.entry.attempts) == (2, 0)  # the one behind it goes first now
    again = spool.claim()
    assert again is not None
    assert (again.entry.body[0], again.entry.attempts) == (1, 1)  # then it, one attempt more
    again.done()
    assert spool.status().files == 0


@pytest.mark.parametrize("durable", [True, False], ids=["folder", "memory"])
def test_a_request_being_sent_is_never_taken_for_an_empty_spool(tmp_path: Path, durable: bool) -> None:
    """What ``flush()`` asks before it says everything arrived. A request held in memory is in no list while
    it is being sent; a file is, for a moment, under neither of its names while it is put back."""
    folder = tmp_path / "spool" if durable else tmp_path / "file" / "spool"
    if not durable:
        (tmp_path / "file").write_text("not a directory")
    spool = Spool(folder, 10_000, Stats())
    assert spool.idle()
    spool.put(b"x", "identity", events=1)
    assert not spool.idle()
    claim = spool.claim()
    assert claim is not None
    assert not spool.idle()  # being sent
    claim.release()
    assert not spool.idle()  # back in the queue
    claim = spool.claim()
    assert claim is not None
    claim.done()
    assert spool.idle()


def test_a_request_put_back_while_the_folder_is_read_is_still_seen(spool: Spool) -> None:
    """A drainer failing to send the only request, over and over, while another thread asks whether anything
    is left: the answer is never yes."""
    spool.put(b"x", "identity", events=1)
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            claim = spool.claim()
            if claim is not None:
                claim.release(count_attempt=False)

    drainer = threading.Thread(target=drain)
    drainer.start()
    try:
        answers = [spool.idle() for _ in range(3000)]
    finally:
        stop.set()
        drainer.join()
    assert not any(answers)
    assert spool.status().files == 1


def test_claims_of_dead_processes_are_recovered(spool: Spool) -> None:
    spool.put(b"orphan", "identity", events=1)
    (path,) = list(spool.directory.glob("*.req"))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    os.rename(path, path.with_name(path.name + CLAIMED + dead.stdout.strip()))
    assert spool.claim() is None
    assert spool.recover() == 1
    claim = spool.claim()
    assert claim is not None
    assert claim.entry.body == b"orphan"


def test_claims_of_live_processes_are_left_alone(spool: Spool) -> None:
    spool.put(b"busy", "identity", events=1)
    (path,) = list(spool.directory.glob("*.req"))
    os.rename(path, path.with_name(f"{path.name}{CLAIMED}{os.getppid()}"))
    assert spool.recover() == 0


def test_stale_temporary_files_are_cleaned(spool: Spool) -> None:
    spool.put(b"x", "identity", 1)
    tmp = spool.directory / ".half-written.tmp"
    tmp.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(tmp, (old, old))
    spool.recover()
    assert not tmp.exists()
    assert spool.status().files == 1


def test_purge_removes_queued_requests(spool: Spool) -> None:
    for _ in range(4):
        spool.put(b"x", "identity", 1)
    assert spool.purge() == 4
    assert spool.status().files == 0


def test_two_processes_claim_disjoint_files(tmp_path: Path) -> None:
    """Concurrent claimers sharing one directory never get the same file."""
    spool = Spool(tmp_path / "shared", 10**9, Stats())
    for i in range(1000):
        spool.put(f"{i}".encode(), "identity", 1)
    go = tmp_path / "go"
    script = (
        "import sys, time; from pathlib import Path; from spanhive._spool import Spool\n"
        "from spanhive._stats import Stats\n"
        "s = Spool(Path(sys.argv[1]), 10**9, Stats())\n"
        "print('ready', flush=True)\n"
        "while not Path(sys.argv[2]).exists(): time.sleep(0.001)\n"
        "got = []\n"
        "while (c := s.claim()) is not None:\n"
        "    got.append(c.entry.body.decode()); c.done()\n"
        "print(' '.join(got))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(spool.directory), str(go)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for proc in procs:  # both started before either claims: they race for every file
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    taken = outputs[0] + outputs[1]
    assert sorted(taken, key=int) == [str(i) for i in range(1000)]  # each exactly once
    assert all(outputs)  # both took part


@needs_peers
def test_the_generated_envelope_module_matches_the_proto(tmp_path: Path) -> None:
    """``_spool_envelope_pb2.py`` is what protoc makes of ``_spool_envelope.proto`` today."""
    src = ROOT / "src"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(src), f"--python_out={tmp_path}",
         str(src / "spanhive" / "_spool_envelope.proto")],
        check=True,
    )  # fmt: skip
    fresh = (tmp_path / "spanhive" / "_spool_envelope_pb2.py").read_text()
    serialized = re.search(r"AddSerializedFile\((b'.*?')\)", fresh, re.S)
    assert serialized is not None
    assert ast.literal_eval(serialized.group(1)) == _spool_envelope_pb2.DESCRIPTOR.serialized_pb


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root, to give a folder away")
def test_a_spool_folder_of_another_user_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "00000000000000000001-1-abcd-3.req").write_bytes(b"planted")
    os.chown(theirs, 65534, 65534)
    spool = Spool(theirs, 10**6, Stats())
    with caplog.at_level(logging.WARNING, logger="spanhive"):
        assert spool.usable is False
        assert spool.claim() is None  # nothing of theirs is replayed with this process's key
    assert "belongs to user 65534" in caplog.text


def test_spool_files_are_private_and_written_through_fresh_names(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "mine", 10**6, Stats())
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    spool.put(b'{"events": []}', "identity", 1)
    (written,) = list((tmp_path / "mine").glob("*.req"))
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "mine").stat().st_mode) == 0o700
    written.unlink()
    written.symlink_to(victim)  # a name an attacker guessed, planted as a link to the victim's file
    spool.put(b'{"events": []}', "identity", 1)
    assert victim.read_text() == "untouched"
