"""What the open API keeps between requests, built once per application on first use."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gongshu.datastore.service import DatasetVersionStored
from gongshu.kernel.events import Event
from gongshu.opendata.access import EntryCache
from gongshu.opendata.ckan_counts import SearchCountCache
from gongshu.opendata.downloads import DownloadFiles
from gongshu.opendata.keys import KeyRing
from gongshu.opendata.serving import RowStore
from gongshu.opendata.usage import UsageRecorder

__all__ = ["OpenRuntime", "runtime_for"]

_BUILDING = threading.Lock()


@dataclass
class OpenRuntime:
    """Caches, counters and the DuckDB instance of the open API in this process."""

    keys: KeyRing
    entries: EntryCache
    usage: UsageRecorder
    rows: RowStore
    downloads: DownloadFiles
    ckan_counts: SearchCountCache

    def on_version_stored(self, event: Event) -> None:
        """A new version is served at once: forget the entry's cached view."""
        if isinstance(event, DatasetVersionStored):
            self.entries.forget(event.entry_id)


def runtime_for(holder: Any, platform: Any) -> OpenRuntime:
    """The runtime kept on ``holder`` (the application's state), built from the platform once."""
    runtime: OpenRuntime | None = getattr(holder, "open_runtime", None)
    if runtime is not None:
        return runtime
    with _BUILDING:
        runtime = getattr(holder, "open_runtime", None)
        if runtime is None:
            store = platform.datastore
            runtime = OpenRuntime(
                keys=KeyRing(),
                entries=EntryCache(),
                usage=UsageRecorder(platform.uow, platform.clock),
                rows=RowStore(store.lake, memory_limit=store.memory_limit, threads=store.threads),
                downloads=DownloadFiles(store.lake, store.connect),
                ckan_counts=SearchCountCache(),
            )
            platform.bus.subscribe(DatasetVersionStored, runtime.on_version_stored)
            holder.open_runtime = runtime
    return runtime
