-- Fine-tuning runs: what was trained on what, how, and how it went.
CREATE TABLE runs (
    run_id             VARCHAR PRIMARY KEY,
    created_at         TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at        TIMESTAMP,
    status             VARCHAR NOT NULL,      -- running | finished | failed | cancelled
    actor              VARCHAR NOT NULL,
    snapshot_id        VARCHAR,               -- local snapshot id, or the manifest's id of a Hub snapshot
    hub_repo           VARCHAR,               -- when trained from REPO@REVISION
    hub_revision       VARCHAR,
    hub_sha            VARCHAR,
    base_model         VARCHAR NOT NULL,
    preset             VARCHAR NOT NULL,
    overrides          JSON NOT NULL,
    config             JSON NOT NULL,         -- the resolved training configuration
    chat_format        VARCHAR NOT NULL,
    path               VARCHAR NOT NULL,      -- runs/<run_id>/ under the workspace
    adapter_path       VARCHAR,
    train_rows         BIGINT,
    steps              BIGINT,
    final_loss         DOUBLE,
    tokens_per_second  DOUBLE,
    wall_seconds       DOUBLE,
    pid                INTEGER,
    error              VARCHAR
);

CREATE TABLE run_metrics (
    run_id         VARCHAR NOT NULL,
    step           BIGINT NOT NULL,
    loss           DOUBLE,
    learning_rate  DOUBLE,
    epoch          DOUBLE,
    PRIMARY KEY (run_id, step)
);

-- Evaluations of a model (optionally with an adapter) on a snapshot's test splits.
CREATE TABLE evals (
    eval_id           VARCHAR PRIMARY KEY,
    created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at       TIMESTAMP,
    status            VARCHAR NOT NULL,       -- running | finished | failed
    actor             VARCHAR NOT NULL,
    model             VARCHAR NOT NULL,
    adapter           VARCHAR,                -- adapter path
    run_id            VARCHAR,                -- when the adapter comes from a run
    snapshot_id       VARCHAR NOT NULL,
    backend           VARCHAR NOT NULL,       -- transformers | openai-compatible
    base_url          VARCHAR,
    params            JSON NOT NULL,          -- decoding parameters, datasets, score-labels
    path              VARCHAR NOT NULL,       -- evals/<eval_id>/
    wall_seconds      DOUBLE,
    error             VARCHAR
);

-- One row per dataset and metric of an evaluation, with the SOTA reference beside it.
CREATE TABLE scores (
    eval_id        VARCHAR NOT NULL,
    dataset_id     VARCHAR NOT NULL,
    language       VARCHAR NOT NULL,
    task           VARCHAR NOT NULL,
    metric         VARCHAR NOT NULL,          -- accuracy, macro_f1, weighted_f1, micro_f1, rouge2, auc, ...
    value          DOUBLE,
    n              BIGINT NOT NULL,
    unparseable    BIGINT NOT NULL,
    sota_metric    VARCHAR,
    sota_value     DOUBLE,
    sota_citation  VARCHAR,
    PRIMARY KEY (eval_id, dataset_id, metric)
);
