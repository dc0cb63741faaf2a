-- Where a published reference score was measured and how far to trust it: the split the source used, the
-- confidence of the reading, a caveat (another split, a lower bound) and where the value came from (the
-- registry file or a user's SOTA CSV), so a report can show a SOTA value with everything that limits it.
ALTER TABLE datasets ADD COLUMN sota_split VARCHAR;
ALTER TABLE datasets ADD COLUMN sota_confidence VARCHAR;   -- high | medium | low
ALTER TABLE datasets ADD COLUMN sota_note VARCHAR;
ALTER TABLE datasets ADD COLUMN sota_source VARCHAR;       -- registry/<file>, or the SOTA CSV it was imported from

-- Likely label errors found in a dataset version (confident learning over out-of-fold probabilities).
-- The suggestions themselves are Parquet next to the version's data; the curator's answers to them are
-- row decisions (row_decisions, source 'label-issues').
CREATE TABLE label_issue_scans (
    scan_id        VARCHAR PRIMARY KEY,
    dataset_id     VARCHAR NOT NULL,
    version_id     VARCHAR NOT NULL,
    created_at     TIMESTAMP NOT NULL DEFAULT current_timestamp,
    actor          VARCHAR NOT NULL,
    params         JSON NOT NULL,           -- model, folds, seed, label column, cleanlab version
    rows_scanned   BIGINT NOT NULL,
    issues         BIGINT NOT NULL,
    path           VARCHAR NOT NULL,        -- the suggestions' Parquet file, relative to the workspace
    wall_seconds   DOUBLE
);
