"""The dataset quality gate's engine: pure Python (no web, no DB, no torch).

read -> detect format -> normalise to {"id", "messages"} -> validate -> de-duplicate -> split -> stats.
"""

from app.datasets.ingest.dedup import find_duplicates, train_val_overlap
from app.datasets.ingest.filenames import safe_filename
from app.datasets.ingest.formats import DEFAULT_FIELDS as FORMAT_FIELDS
from app.datasets.ingest.pipeline import ingest_file
from app.datasets.ingest.schema import FORMATS, IngestError, IngestOptions, IngestReport, RowProblem
from app.datasets.ingest.split import split_rows
from app.datasets.ingest.stats import conversation_stats
from app.datasets.ingest.store import content_hash, write_jsonl_atomic

__all__ = [
    "FORMATS",
    "FORMAT_FIELDS",
    "IngestError",
    "IngestOptions",
    "IngestReport",
    "RowProblem",
    "content_hash",
    "conversation_stats",
    "find_duplicates",
    "ingest_file",
    "safe_filename",
    "split_rows",
    "train_val_overlap",
    "write_jsonl_atomic",
]
