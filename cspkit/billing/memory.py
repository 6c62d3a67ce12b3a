"""The Arrow memory pool used by the billing readers and the reconciliation engine.

Reading and reconciling a 1,000,000-line month allocates and frees gigabytes of short-lived Arrow buffers. Arrow's
default pool on Linux wheels (mimalloc) hands freed memory back to the kernel within milliseconds, and the kernel
must zero those pages again at the next allocation: on a 2-core VM with transparent huge pages that was 25–40 % of
the reader's wall time (``perf``: ``clear_page_erms`` under ``do_huge_pmd_anonymous_page``). Arrow's jemalloc pool
keeps freed memory for reuse for a while (its decay), which removes most of that work (read of the benchmark month:
≈ 4.4 s instead of 5.7–7.0 s; ``benchmarks/bench_reconcile.py`` prints which pool was used).

The choice is process-wide (Arrow has one default pool) and respects the user's: when the
``ARROW_DEFAULT_MEMORY_POOL`` environment variable is set, or jemalloc is not built into pyarrow (Windows), nothing
is changed. Buffers already allocated stay valid: each one remembers the pool it came from.
"""

from __future__ import annotations

import os
import threading

import pyarrow as pa

__all__ = ["use_reuse_friendly_pool"]

_lock = threading.Lock()
_chosen: str | None = None


def use_reuse_friendly_pool() -> str:
    """Make jemalloc Arrow's default memory pool (once per process) unless the user chose one.

    Returns:
        The backend name of Arrow's default pool afterwards (``"jemalloc"``, ``"mimalloc"`` or ``"system"``).
    Raises:
        Nothing: when jemalloc is unavailable the default pool is kept.
    """
    global _chosen
    with _lock:
        if _chosen is None:
            if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
                try:
                    pa.set_memory_pool(pa.jemalloc_memory_pool())
                except (NotImplementedError, pa.ArrowNotImplementedError):  # pyarrow built without jemalloc
                    pass
            _chosen = pa.default_memory_pool().backend_name
        return _chosen
