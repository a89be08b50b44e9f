"""Catalogue errors: refinements of the kernel family with their own stable codes."""

from __future__ import annotations

from gongshu.kernel.errors import Conflict, InvalidInput, NotFound

__all__ = ["DuplicateEntry", "EntryNotFound", "ImportRejected", "WrongStatus"]


class EntryNotFound(NotFound):
    """No such entry, or the actor may not know it exists."""

    code = "entry_not_found"


class DuplicateEntry(Conflict):
    """A provider already has an entry with this name."""

    code = "duplicate_entry"


class WrongStatus(Conflict):
    """The lifecycle step does not apply to the entry's current status."""

    code = "wrong_status"


class ImportRejected(InvalidInput):
    """A spreadsheet had errors; nothing was stored. ``details`` lists row, column, message."""

    code = "import_rejected"
