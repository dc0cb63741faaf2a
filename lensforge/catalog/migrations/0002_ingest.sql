-- One row per ingested version of a dataset (content-addressed: raw file hashes + spec + parameters).
CREATE TABLE ingested_versions (
    version_id            VARCHAR PRIMARY KEY,
    dataset_id            VARCHAR NOT NULL,
    created_at            TIMESTAMP NOT NULL DEFAULT current_timestamp,
    path                  VARCHAR NOT NULL,          -- folder under the workspace
    source                VARCHAR NOT NULL,          -- where the raw files were read from
    raw_files             JSON NOT NULL,             -- [{path, split, sha256, bytes, records}]
    spec_hash             VARCHAR NOT NULL,
    params                JSON NOT NULL,             -- cleaning, split and near-dup parameters
    split_method          VARCHAR NOT NULL,
    seed                  INTEGER NOT NULL,
    records_read          BIGINT NOT NULL,
    kept_train            BIGINT NOT NULL,
    kept_dev              BIGINT NOT NULL,
    kept_test             BIGINT NOT NULL,
    quarantined           BIGINT NOT NULL,
    dropped_by_reason     JSON NOT NULL,
    label_counts          JSON NOT NULL,             -- {split: {label: n}}
    valid                 BOOLEAN NOT NULL,
    failed_expectations   INTEGER NOT NULL,
    is_current            BOOLEAN NOT NULL
);

-- Great Expectations results of each ingested version.
CREATE TABLE validation_results (
    version_id        VARCHAR NOT NULL,
    position          INTEGER NOT NULL,
    expectation       VARCHAR NOT NULL,
    column_name       VARCHAR,
    success           BOOLEAN NOT NULL,
    observed_value    JSON,
    unexpected_count  BIGINT,
    examples          JSON,
    details           JSON,
    PRIMARY KEY (version_id, position)
);

-- Uses of an invalid version, each with the reason a person gave.
CREATE TABLE invalid_overrides (
    version_id  VARCHAR NOT NULL,
    used_by     VARCHAR NOT NULL,
    actor       VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Quality reports over one or several versions: near duplicates, cross-dataset overlap.
CREATE TABLE quality_reports (
    report_id    VARCHAR PRIMARY KEY,
    kind         VARCHAR NOT NULL,                   -- near_duplicates | cross_dataset_overlap
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    version_ids  JSON NOT NULL,
    params       JSON NOT NULL,
    summary      JSON NOT NULL,
    path         VARCHAR NOT NULL                    -- Parquet of pairs, under the workspace
);
