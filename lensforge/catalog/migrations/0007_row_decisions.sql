-- Row-level curation: a curator relabels, excludes or dismisses one ingested row. Keyed by the dataset and the
-- row's stable sample_id (not the version), so a decision carries over to the dataset's next version. One current
-- decision per row; every change is also an event (the history).
CREATE TABLE row_decisions (
    dataset_id  VARCHAR NOT NULL,
    sample_id   VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,          -- relabel | exclude | dismiss
    label       VARCHAR,                   -- relabel: the canonical answer (multi-label: atoms sorted, comma-joined)
    reason      VARCHAR NOT NULL,
    actor       VARCHAR NOT NULL,
    version_id  VARCHAR NOT NULL,          -- the version the curator was looking at
    origin      VARCHAR NOT NULL,          -- kept, or quarantine:<reason> (a relabel restores such a row)
    source      VARCHAR NOT NULL,          -- where it was decided: cli, samples, quarantine, label-issues, ...
    event_id    BIGINT NOT NULL,
    ts          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (dataset_id, sample_id)
);

-- Every distinct set of a dataset's relabel and exclude decisions, content-addressed (the snapshot manifest
-- names the set it applied, so the rows of a snapshot can be walked back to the decisions behind them).
CREATE TABLE decision_sets (
    decision_set_id  VARCHAR PRIMARY KEY,
    dataset_id       VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    decisions        JSON NOT NULL         -- {sample_id: [action, label]}
);
