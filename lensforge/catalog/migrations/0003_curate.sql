-- Label mapping of each ingested version: source label -> canonical label, with its review state.
CREATE TABLE label_mappings (
    version_id    VARCHAR NOT NULL,
    dataset_id    VARCHAR NOT NULL,
    raw_label     VARCHAR NOT NULL,        -- as in the source file (one atom of a multi-label field)
    canonical     VARCHAR,                 -- NULL when rejected
    status        VARCHAR NOT NULL,        -- proposed | approved | rejected
    author        VARCHAR NOT NULL,        -- auto, or the curator
    reason        VARCHAR NOT NULL,
    proposed      VARCHAR,                 -- what the automatic proposal said
    updated_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (version_id, raw_label)
);

-- Every distinct set of approved mapping rows of a dataset version, content-addressed.
CREATE TABLE mapping_versions (
    mapping_version_id  VARCHAR PRIMARY KEY,
    version_id          VARCHAR NOT NULL,
    dataset_id          VARCHAR NOT NULL,
    created_at          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    mapping             JSON NOT NULL       -- {raw: canonical} of the approved rows
);

-- Canonical labels curators added to a task's set (`labels set ... --new-label`).
CREATE TABLE canonical_additions (
    task_group  VARCHAR NOT NULL,
    label       VARCHAR NOT NULL,
    actor       VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (task_group, label)
);
