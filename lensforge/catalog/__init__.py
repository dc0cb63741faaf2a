"""The DuckDB catalog: every record the stages write (datasets, versions, mappings, events, runs, scores)."""

from lensforge.catalog.db import connect, transaction
from lensforge.catalog.events import list_events, record_event

__all__ = ["connect", "list_events", "record_event", "transaction"]
