"""Ingest: reconciliation lines streamed chunk by chunk into a typed Parquet dataset the engine reads.

The readers (:func:`cspkit.billing.recon_readers.read_recon`: portal CSV, Excel re-saves with ``;``, decimal comma,
BOM or cp1252, M/D/YYYY and D.M.YYYY dates, mangled SkuIds, header aliases, JSON Lines and arrays; API records;
Graph export blobs through :func:`cspkit.billing.graph_export.iter_export_frames`) keep every rule they have; each
converted chunk is written to a Parquet file of the work folder with :class:`pyarrow.parquet.ParquetWriter` and
dropped, so memory stays proportional to one chunk, not to the month.

Dataset schema (:data:`SCHEMA`): ``pos`` (0-based position over the whole dataset: the row of ``result.lines``),
the 47 documented invoice reconciliation columns in file order (billing-formats.md §1.1: text as UTF-8 strings,
money, prices, quantities and rates exact ``decimal(38, 15)``, dates UTC timestamps), then the provenance
``SourceFile`` (the file name, ``API`` for API records) and ``SourceRow`` (1-based data row). Undocumented columns
of a file are not kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cspkit.billing.recon_frame import ReconFile, chunks_to, empty_recon_frame
from cspkit.billing.recon_values import STRING, text_bytes

__all__ = ["SCHEMA", "LineDataset", "ingest_export", "ingest_frames", "ingest_recon", "to_reader_frame", "work_folder"]


def _schema() -> pa.Schema:
    fields = [pa.field("pos", pa.int64())]
    for f in pa.Schema.from_pandas(empty_recon_frame("invoice"), preserve_index=False):
        if f.name == "SourceRow":
            fields.append(pa.field("SourceRow", pa.int64()))
        elif pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type):
            fields.append(pa.field(f.name, pa.string()))
        else:
            fields.append(pa.field(f.name, f.type))
    return pa.schema(fields)


#: the dataset's columns and types (see the module docstring)
SCHEMA = _schema()


@dataclass
class LineDataset:
    """Reconciliation lines in a typed Parquet dataset (:data:`SCHEMA`), written by the ``ingest_*`` functions.

    Attributes:
        folder: the work folder holding the files. files: the Parquet files, in line order.
        rows: lines in the dataset. reports: one :class:`~cspkit.billing.recon_frame.ReconFile` per file read
            (counts and warnings; their ``frame`` is empty). trimmed: see below.
    """

    folder: Path
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    reports: list[ReconFile] = field(default_factory=list)
    #: text columns whose every value in the files is already trimmed and not blank (no value empty or starting or
    #: ending with a byte ≤ 0x20: ASCII whitespace and controls), so the engine reads them as they are instead of
    #: trimming them (:func:`cspkit.billing.engine.relations.dataset_table`); None until a chunk is written
    trimmed: frozenset[str] | None = None

    def __len__(self) -> int:
        return self.rows

    def iter_batches(self, batch_rows: int = 65_536, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The lines as Arrow record batches of at most ``batch_rows`` rows, in ``pos`` order."""
        for path in self.files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns):
                yield _typed(batch)

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """The whole dataset (or ``columns`` of it) as one Arrow table."""
        if not self.files:
            return SCHEMA.empty_table() if columns is None else SCHEMA.empty_table().select(columns)
        return pa.concat_tables(_typed(pq.read_table(p, columns=columns)) for p in self.files)

    def to_frame(self) -> pd.DataFrame:
        """The lines as the readers' frame (text :data:`~cspkit.billing.recon_values.STRING`, money Arrow
        decimals, UTC dates, ``SourceFile`` categorical), without ``pos``."""
        return to_reader_frame(self.read())


def _typed(data: Any) -> Any:
    """A table or batch read back from the files → :data:`SCHEMA`'s types: the files store dates in microseconds
    (what Spark's Parquet reader accepts; Partner Center's dates carry no finer part), the readers' frames use ns."""
    schema = pa.schema([SCHEMA.field(n) if n in SCHEMA.names else data.schema.field(n) for n in data.schema.names])
    return data if data.schema.equals(schema) else data.cast(schema)


def to_reader_frame(table: pa.Table) -> pd.DataFrame:
    """A dataset table (or a slice of it) → the readers' frame dtypes (``pos`` dropped)."""
    if "pos" in table.column_names:
        table = table.drop_columns(["pos"])
    mapper = {pa.string(): STRING}.get

    def types(t: pa.DataType) -> Any:
        return pd.ArrowDtype(t) if pa.types.is_decimal(t) else mapper(t)

    frame = table.to_pandas(types_mapper=types, ignore_metadata=True)
    if "SourceFile" in frame.columns:
        frame["SourceFile"] = frame["SourceFile"].astype(object).astype("category")
    return frame


def _trimmed(arr: pa.Array) -> bool:
    """Whether every non-null value of a string array is non-empty and neither starts nor ends with a byte ≤ 0x20
    (what trimming would remove, or a blank the engine makes null), from the first and last byte of each value: no
    per-value Python work."""
    if isinstance(arr, pa.ChunkedArray):
        return all(_trimmed(chunk) for chunk in arr.chunks)
    if arr.null_count == len(arr):
        return True
    offsets, data = text_bytes(arr)
    starts, ends = offsets[:-1], offsets[1:]
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        starts, ends = starts[valid], ends[valid]
    if (ends <= starts).any():
        return False
    return bool(data[starts].min() > 0x20 and data[ends - 1].min() > 0x20)


#: Parquet writer options: LZ4 pages and no column statistics (nothing filters on them: the engine reads every row
#: group; writing the benchmark month's Parquet took ≈ 35 % less CPU than snappy with statistics); dictionary pages
#: for the columns whose first chunk repeats values (:func:`_dictionary_columns`)
_PARQUET = {"compression": "lz4", "write_statistics": False, "coerce_timestamps": "us"}


def _dictionary_columns(table: pa.Table) -> list[str]:
    """The text columns of a first chunk with fewer distinct values than half its rows: a dictionary pays for
    them; for near-unique ids (OrderId, ReferenceId) it is built and then abandoned, which costs CPU for nothing."""
    out = []
    for f in table.schema:
        if pa.types.is_string(f.type):
            column = table.column(f.name)
            if column.null_count == len(column) or pc.count_distinct(column).as_py() * 2 < len(column):
                out.append(f.name)
    return out


#: the thread that encodes and writes the Parquet row groups (one write in flight; see :class:`_Writer`)
_WRITES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cspkit-parquet-write")


class _Writer:
    """Appends typed frames to one Parquet file of the dataset, conformed to :data:`SCHEMA`. Each chunk's row group
    is encoded and written in a thread of its own while the next chunk is converted (and the one after parsed): a
    third pipeline stage, at most one write in flight, in chunk order; a failed write is raised by the next call or
    by :meth:`close`."""

    def __init__(self, dataset: LineDataset, source: str) -> None:
        self.dataset = dataset
        self.source = source
        self.path = dataset.folder / f"lines-{len(dataset.files):05d}.parquet"
        self.writer: pq.ParquetWriter | None = None
        self.writing: Future[None] | None = None

    def __call__(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        if not n:
            return
        start = self.dataset.rows
        arrays = []
        for f in SCHEMA:
            if f.name == "pos":
                arrays.append(pa.array(np.arange(start, start + n, dtype=np.int64)))
            elif f.name in frame.columns:
                arr = pa.array(frame[f.name])
                arrays.append(arr if arr.type == f.type else arr.cast(f.type))
            elif f.name == "SourceFile":
                arrays.append(pa.array([self.source], pa.string()).take(np.zeros(n, dtype=np.int64)))
            elif f.name == "SourceRow":
                arrays.append(pa.array(np.arange(1, n + 1, dtype=np.int64)))
            else:
                arrays.append(pa.nulls(n, f.type))
        table = pa.Table.from_arrays(arrays, schema=SCHEMA)
        self._wait()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, SCHEMA, use_dictionary=_dictionary_columns(table), **_PARQUET)
            self.dataset.files.append(self.path)
        self.writing = _WRITES.submit(self.writer.write_table, table)
        clean = frozenset(f.name for f, arr in zip(SCHEMA, arrays, strict=True)
                          if pa.types.is_string(f.type) and _trimmed(arr))  # fmt: skip
        known = self.dataset.trimmed
        self.dataset.trimmed = clean if known is None else known & clean
        self.dataset.rows += n

    def _wait(self) -> None:
        """Wait for the write in flight (raising its error)."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()

    def close(self) -> None:
        """Finish the file: wait for the last write (raising its error), then write the Parquet footer (in any case,
        so the file is closed)."""
        try:
            self._wait()
        finally:
            if self.writer is not None:
                self.writer.close()


def _folder(workdir: str | os.PathLike[str]) -> Path:
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def ingest_recon(
    paths: Iterable[str | os.PathLike[str]],
    workdir: str | os.PathLike[str],
    *,
    progress: Any = None,
    dataset: LineDataset | None = None,
    chunk_rows: int = 50_000,
) -> LineDataset:
    """Read invoice reconciliation files (every format :func:`~cspkit.billing.recon_readers.read_recon` takes) into
    a Parquet dataset in ``workdir`` (created, mode 0700), one chunk at a time.

    Args:
        paths: the files, in order (their lines get consecutive ``pos``).
        workdir: the folder for the dataset's files (``lines-00000.parquet``, ...).
        progress: optional ``progress(path, bytes_done, bytes_total)`` callback.
        dataset: an existing dataset to append to (default: a new one).
        chunk_rows: rows converted and written at a time (one Parquet row group each). 50,000: the benchmark
            month's ingest peaks at ≈ 0.45 GB instead of ≈ 0.97 GB with 200,000, for the same CPU time.
    Returns:
        :class:`LineDataset` (``reports``: one per file, with its counts and warnings).
    Raises:
        InputFileError: as :func:`~cspkit.billing.recon_readers.read_recon` with kind ``invoice`` (a daily rated
            usage file is refused, naming it).
    Memory: one reader chunk (``chunk_rows`` rows) at a time.
    """
    from cspkit.billing.recon_readers import read_recon

    out = dataset or LineDataset(_folder(workdir))
    for path in paths:
        name = Path(path).name
        writer = _Writer(out, name)
        callback = None if progress is None else (lambda done, total, p=path: progress(p, done, total))
        try:
            with chunks_to(writer):
                report = read_recon(path, kind="invoice", progress=callback, chunk_rows=chunk_rows)
        finally:
            writer.close()
        out.reports.append(report)
    return out


def ingest_frames(
    frames: Iterable[pd.DataFrame], workdir: str | os.PathLike[str], *, source: str = "API",
    dataset: LineDataset | None = None,
) -> LineDataset:  # fmt: skip
    """Write typed line frames (chunks from :func:`~cspkit.billing.graph_export.iter_export_frames`,
    :func:`~cspkit.billing.recon_readers.recon_lines_to_frame` or read_recon) into one Parquet file of a dataset in
    ``workdir``. ``source`` is the SourceFile of frames without one. Memory: one frame at a time."""
    out = dataset or LineDataset(_folder(workdir))
    writer = _Writer(out, source)
    try:
        for frame in frames:
            writer(frame)
    finally:
        writer.close()
    return out


def ingest_export(
    paths: Iterable[str | os.PathLike[str]], workdir: str | os.PathLike[str], *, dataset: LineDataset | None = None
) -> LineDataset:
    """The blobs of a Graph billed/unbilled reconciliation export (gzip JSON Lines, billing-formats.md §3.2) into a
    Parquet dataset, through :func:`cspkit.billing.graph_export.iter_export_frames`'s typed chunks."""
    from cspkit.billing.graph_export import iter_export_frames

    return ingest_frames(iter_export_frames(paths, kind="invoice"), workdir, source="export", dataset=dataset)


@contextmanager
def work_folder(workdir: str | os.PathLike[str] | None = None, *, keep: bool = False) -> Iterator[Path]:
    """A fresh folder for one run's dataset, ``reconcile-XXXXXXXX`` (mode 0700) inside ``workdir`` (default
    ``$CSPKIT_HOME``), removed when the block ends unless ``keep``. Nothing else in ``workdir`` is touched."""
    from cspkit.config import _home_from_env

    base = Path(workdir) if workdir is not None else _home_from_env(os.environ)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="reconcile-", dir=base))  # mkdtemp: mode 0700
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
