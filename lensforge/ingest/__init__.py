"""lensforge ingest stage."""
