"""Text from files people send: UTF-8 (with or without BOM), GB18030/GBK, UTF-16."""

from __future__ import annotations

from gongshu.kernel.errors import InvalidInput

__all__ = ["decode_text", "mask_value"]


def decode_text(raw: bytes, *, filename: str = "<upload>") -> str:
    """Decode an uploaded text file, naming the file when no encoding fits."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(f"{filename}: not UTF-8, GB18030 or UTF-16 text")


def mask_value(value: object) -> str:
    """An identifier or sensitive value as people may see it: ``1101**********1234``."""
    text = "" if value is None else str(value)
    if len(text) <= 6:
        return text[:1] + "*" * max(len(text) - 1, 0)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]
