-- Candidate datasets as registered (one row per name, language and release version).
CREATE TABLE datasets (
    dataset_id          VARCHAR PRIMARY KEY,   -- language/name[@version]
    name                VARCHAR NOT NULL,
    version             VARCHAR,               -- release version; NULL when the source gives none
    language            VARCHAR NOT NULL,
    task                VARCHAR NOT NULL,
    task_type           VARCHAR NOT NULL,      -- classification, multilabel, pair_classification, generation
    capability          VARCHAR,
    task_definition     VARCHAR,
    published_labels    JSON,                  -- label list as published by the source
    license             VARCHAR,
    citation            VARCHAR,
    source_url          VARCHAR,
    source_spec         JSON,                  -- local slug, url, hub repo/config/revision
    ingest_spec         JSON,                  -- files per split, format options, columns, label decoding
    has_official_split  VARCHAR,               -- yes, no, unknown, or NULL
    published_train     BIGINT,
    published_dev       BIGINT,
    published_test      BIGINT,
    sota_metric         VARCHAR,
    sota_value          DOUBLE,
    sota_citation       VARCHAR,
    status              VARCHAR NOT NULL,      -- candidate, selected, excluded
    exclusion_reason    VARCHAR,
    superseded_by       VARCHAR,               -- a dataset_id
    in_final_52         VARCHAR,
    collection          VARCHAR NOT NULL,      -- llamalens, demo, or user
    registry_file       VARCHAR,
    notes               VARCHAR,
    spec_hash           VARCHAR NOT NULL,
    created_at          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at          TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Label space of each registered dataset, in published order, with native names where known.
CREATE TABLE label_spaces (
    dataset_id   VARCHAR NOT NULL,
    position     INTEGER NOT NULL,
    label        VARCHAR NOT NULL,
    native       JSON,                         -- {"ar": "...", "hi": "..."}
    PRIMARY KEY (dataset_id, label)
);

-- Append-only log: one row per curator or pipeline action.
CREATE SEQUENCE events_seq START 1;
CREATE TABLE events (
    event_id   BIGINT PRIMARY KEY DEFAULT nextval('events_seq'),
    ts         TIMESTAMP NOT NULL DEFAULT current_timestamp,
    actor      VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    subject    VARCHAR,
    payload    JSON
);
