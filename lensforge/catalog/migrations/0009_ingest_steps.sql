-- What each ingest step did to each ingested version: rows in and out, drops by reason, time, memory.
-- Written in the same transaction as the version's ingested_versions row (owner: lensforge/ingest/run.py).
CREATE TABLE ingest_step_stats (
    version_id    VARCHAR NOT NULL,
    position      INTEGER NOT NULL,          -- order in the step list, from 0 (read)
    step          VARCHAR NOT NULL,          -- read, normalise, decode_labels, ..., validate, write
    rows_in       BIGINT NOT NULL,           -- for read: records counted in the raw files
    rows_out      BIGINT NOT NULL,
    dropped       JSON NOT NULL,             -- {reason: rows}
    seconds       DOUBLE NOT NULL,
    peak_rss_mib  DOUBLE,                    -- the process's peak resident memory when the step ended
    detail        JSON,                      -- what the step reports (split method, pairs found, ...)
    PRIMARY KEY (version_id, position)
);
