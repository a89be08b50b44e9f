"""Text encodings of uploads: which one a file is in, and transcoding it to UTF-8.

DuckDB reads UTF-8 only. A file in GB18030 (or GBK, its subset) or UTF-16 is transcoded to a
UTF-8 copy first, streamed, with the first byte that does not decode named by line and offset.
"""

from __future__ import annotations

import codecs
import contextlib
import multiprocessing
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO

from gongshu.kernel.errors import InvalidInput
from gongshu.kernel.tabular import file_error

__all__ = ["CHUNK", "PARALLEL_TRANSCODE_BYTES", "SAMPLE", "detect_encoding", "transcode"]

SAMPLE = 1 << 20  # bytes read to tell encodings (and CSV dialects) apart
CHUNK = 4 << 20  # bytes streamed at a time
Progress = Callable[[int, int], None]


def detect_encoding(path: Path, size: int, *, filename: str) -> tuple[str, str, int]:
    """(reported encoding, Python codec, bytes of BOM to skip)."""
    with path.open("rb") as file:
        head = file.read(SAMPLE)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig", "utf-8-sig", 0  # DuckDB skips the BOM itself
        if head.startswith(codecs.BOM_UTF16_LE):
            return "utf-16", "utf-16-le", 2
        if head.startswith(codecs.BOM_UTF16_BE):
            return "utf-16", "utf-16-be", 2
        if b"\x00" in head:
            # UTF-16 without a BOM: the zero half of each ASCII character.
            even, odd = head[0::2].count(0), head[1::2].count(0)
            if odd > len(head) // 4 and even == 0:
                return "utf-16", "utf-16-le", 0
            if even > len(head) // 4 and odd == 0:
                return "utf-16", "utf-16-be", 0
            raise file_error(filename, "不是文本文件 (not a text file: it holds binary data)")
        # UTF-8 over the head and windows across the file: GB18030 text is rarely valid
        # UTF-8 beyond a few bytes, so any Chinese in a sample tells them apart. A few bad
        # bytes among much good UTF-8 are left to DuckDB, which rejects those records.
        windows = [(0, head)]
        for share in (1, 2, 3, 4):
            offset = size * share // 4 - SAMPLE // 4 if share < 4 else size - SAMPLE // 4
            if offset > len(head):
                file.seek(offset)
                windows.append((offset, file.read(SAMPLE // 4)))
    good = bad = 0
    for offset, data in windows:
        decoded = _utf8_window(data, at_end=offset + len(data) >= size)
        wrong = decoded.count("\ufffd")
        good += len(decoded) - len(decoded.encode("ascii", "ignore")) - wrong  # non-ASCII
        bad += wrong
    if bad == 0 or good >= 20 * bad:
        return "utf-8", "utf-8", 0
    decoded = codecs.getincrementaldecoder("gb18030")("replace").decode(head, len(head) >= size)
    # GB18030 with a stray bad byte is transcoded, which names the byte's line and offset.
    if decoded.count("\ufffd") * 100 <= len(decoded):
        return "gb18030", "gb18030", 0
    message = "不是 UTF-8、GB18030 或 UTF-16 文本 (not UTF-8, GB18030 or UTF-16 text)"
    raise file_error(filename, message)


def _utf8_window(data: bytes, *, at_end: bool) -> str:
    """A window of a file decoded as UTF-8; it may start or end inside a character."""
    start = 0
    while start < min(3, len(data)) and 0x80 <= data[start] <= 0xBF:
        start += 1  # continuation bytes of a character that began before the window
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data[start:], at_end)


def transcode(
    path: Path,
    target: Path,
    codec: str,
    start: int,
    size: int,
    *,
    filename: str,
    progress: Progress | None,
) -> None:
    """Stream ``path`` to UTF-8 ``target``; a byte that does not decode is named by line.

    A large GB18030 file is cut at line breaks into one part per core and the parts are
    transcoded side by side, then joined: in GB18030 a line-feed byte is always a line feed,
    never part of another character, so each part decodes on its own. Each part goes through
    the system's ``iconv`` when there is one (2.4 times the speed of Python's codec), else a
    Python process; a part ``iconv`` refuses is decoded again in Python to name the byte.
    """
    parts = _parts(path, start, size) if codec in _SPLITTABLE else [(start, size)]
    if len(parts) == 1 and not _iconv_name(codec):
        with target.open("wb") as out:
            _lines, error = _transcode_range(path, out, codec, start, size, progress=progress)
        if error is not None:
            raise _undecodable(filename, codec, *error)
        return
    outputs = [target] + [target.with_name(f"{target.name}.part{k}") for k in range(1, len(parts))]
    try:
        if _iconv_name(codec):
            errors = _iconv_parts(path, codec, parts, outputs, progress)
        else:
            errors = _python_parts(path, codec, parts, outputs)
        for k, error in enumerate(errors):
            if error is not None:
                line, at = error
                before = sum(_count_lines(path, begin, end) for begin, end in parts[:k])
                raise _undecodable(filename, codec, before + line, at)
        # Not opened to append: copy_file_range refuses a file opened with O_APPEND.
        with target.open("r+b") as joined:
            joined.seek(0, os.SEEK_END)
            for extra in outputs[1:]:
                _append(extra, joined)
        if progress is not None:
            progress(size, size)
    finally:
        for extra in outputs[1:]:
            extra.unlink(missing_ok=True)


def _append(source: Path, joined: BinaryIO) -> None:
    """Copy ``source`` onto the end of ``joined``: in the kernel where it can (no copy through
    this process: a third of the time), else through a buffer."""
    joined.flush()
    with source.open("rb") as part:
        remaining = os.fstat(part.fileno()).st_size
        try:
            while remaining > 0:
                copied = os.copy_file_range(part.fileno(), joined.fileno(), remaining)
                if copied == 0:
                    break
                remaining -= copied
        except (AttributeError, OSError):  # no copy_file_range here, or not between these
            shutil.copyfileobj(part, joined, CHUNK)


def _python_parts(
    path: Path, codec: str, parts: Sequence[tuple[int, int]], outputs: Sequence[Path]
) -> list[tuple[int, int] | None]:
    """Each part transcoded by a Python process of its own (Python's codecs hold the GIL):
    per part None, or the (line within the part, file offset) of its first bad byte."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(parts), mp_context=context) as pool:
        done = [
            pool.submit(_transcode_part, str(path), str(out), codec, begin, end)
            for (begin, end), out in zip(parts, outputs, strict=True)
        ]
        return [future.result()[1] for future in done]


# The iconv names of the codecs iconv may transcode (GB18030 is where the time goes).
_ICONV_NAMES = {"gb18030": "GB18030"}


def _iconv_name(codec: str) -> str | None:
    """iconv's name for the codec when the system has iconv, else None."""
    name = _ICONV_NAMES.get(codec)
    return name if name and shutil.which("iconv") else None


def _iconv_parts(
    path: Path,
    codec: str,
    parts: Sequence[tuple[int, int]],
    outputs: Sequence[Path],
    progress: Progress | None,
) -> list[tuple[int, int] | None]:
    """Each part through an iconv process fed by a thread: per part None, or for a part iconv
    refused, the (line within the part, file offset) of the bad byte, found by decoding the
    part again in Python."""
    fed = [0] * len(parts)
    with ThreadPoolExecutor(len(parts), thread_name_prefix="gongshu-iconv") as pool:
        done = [
            pool.submit(_iconv_part, path, codec, begin, end, out, fed, k)
            for k, ((begin, end), out) in enumerate(zip(parts, outputs, strict=True))
        ]
        while wait(done, timeout=0.25).not_done:
            if progress is not None:
                progress(parts[0][0] + sum(fed), parts[-1][1])
        accepted = [future.result() for future in done]
    errors: list[tuple[int, int] | None] = []
    for (begin, end), out, ok in zip(parts, outputs, accepted, strict=True):
        if ok:
            errors.append(None)
            continue
        with out.open("wb") as again:
            errors.append(_transcode_range(path, again, codec, begin, end, progress=None)[1])
    return errors


def _iconv_part(
    path: Path, codec: str, begin: int, end: int, target: Path, fed: list[int], index: int
) -> bool:
    """Transcode bytes [begin, end) of ``path`` into ``target`` with iconv: True if it took
    every byte. ``fed[index]`` counts the bytes handed over so far."""
    iconv = shutil.which("iconv")
    assert iconv is not None
    command = [iconv, "-f", _ICONV_NAMES[codec], "-t", "UTF-8"]
    with target.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - a fixed command; the data goes to stdin
            command, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.DEVNULL
        )
        stdin = process.stdin
        assert stdin is not None
        try:
            with path.open("rb") as source:
                source.seek(begin)
                while fed[index] < end - begin:
                    chunk = source.read(min(CHUNK, end - begin - fed[index]))
                    if not chunk:
                        break
                    stdin.write(chunk)
                    fed[index] += len(chunk)
        except BrokenPipeError:  # iconv stopped at a byte it could not convert
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
            returncode = process.wait()
    return returncode == 0 and fed[index] == end - begin


def _count_lines(path: Path, begin: int, end: int) -> int:
    """Line feeds in bytes [begin, end) of ``path``."""
    lines = 0
    with path.open("rb") as source:
        source.seek(begin)
        while begin < end:
            chunk = source.read(min(CHUNK, end - begin))
            if not chunk:
                break
            lines += chunk.count(b"\n")
            begin += len(chunk)
    return lines


# Codecs in which the byte 0x0A is only ever a line feed (never inside another character).
_SPLITTABLE = frozenset({"gb18030"})
PARALLEL_TRANSCODE_BYTES = 64 << 20  # smaller files (or parts) are not worth a process


def _parts(path: Path, start: int, size: int) -> list[tuple[int, int]]:
    """[start, size) cut just after line breaks into up to one part per core."""
    count = max(1, min(_cores(), (size - start) // PARALLEL_TRANSCODE_BYTES))
    cuts = [start]
    with path.open("rb") as file:
        for k in range(1, count):
            file.seek(max(cuts[-1], start + (size - start) * k // count))
            while chunk := file.read(SAMPLE):
                found = chunk.find(b"\n")
                if found >= 0:
                    cuts.append(file.tell() - len(chunk) + found + 1)
                    break
    cuts = sorted(set(c for c in cuts if c < size))
    return list(zip(cuts, [*cuts[1:], size], strict=True))


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _transcode_part(
    path: str, target: str, codec: str, begin: int, end: int
) -> tuple[int, tuple[int, int] | None]:
    """One part of a parallel transcode (run in a worker process); see _transcode_range."""
    with open(target, "wb") as out:
        return _transcode_range(Path(path), out, codec, begin, end, progress=None)


def _transcode_range(
    path: Path,
    out: BinaryIO,
    codec: str,
    begin: int,
    end: int,
    *,
    progress: Progress | None,
) -> tuple[int, tuple[int, int] | None]:
    """Transcode bytes [begin, end) to UTF-8 into ``out``: (lines, None), or at the first byte
    that does not decode (None, (its line within the range, its byte offset in the file))."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    lines = 0
    offset = begin
    with path.open("rb") as source:
        source.seek(begin)
        while True:
            chunk = source.read(min(CHUNK, end - offset))
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # Positions count from the bytes the decoder held back from the last chunk.
                data = pending + chunk
                good = codecs.decode(data[: exc.start], codec)
                return lines, (lines + good.count("\n") + 1, offset - len(pending) + exc.start)
            lines += text.count("\n")
            out.write(text.encode("utf-8"))
            offset += len(chunk)
            if progress is not None:
                progress(offset, end)
            if not chunk:
                return lines, None


def _undecodable(filename: str, codec: str, line: int, at: int) -> InvalidInput:
    message = (
        f"第 {line} 行第 {at} 字节不是 {codec.upper()} 文本 "
        f"(line {line}, byte offset {at}: not {codec.upper()} text)"
    )
    return file_error(filename, message, row=line)
