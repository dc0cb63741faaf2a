-- Instructions per dataset and language (the LlamaLens instruction sets), with review state.
CREATE TABLE instructions (
    instruction_id  VARCHAR PRIMARY KEY,       -- hash of dataset, language and text
    dataset_id      VARCHAR NOT NULL,
    language        VARCHAR NOT NULL,          -- language of the instruction text (en, or the native one)
    position        INTEGER NOT NULL,          -- order of creation; the first active one is the test prompt
    text            VARCHAR NOT NULL,
    provider        VARCHAR NOT NULL,          -- openai | anthropic | offline | user
    model           VARCHAR NOT NULL,
    prompt_id       VARCHAR NOT NULL,          -- hash of the generation prompt
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    status          VARCHAR NOT NULL,          -- active | disabled
    edited_by       VARCHAR,
    edited_at       TIMESTAMP
);

-- Candidate instructions that failed validation, with the reason (never silently dropped).
CREATE TABLE instruction_rejects (
    dataset_id  VARCHAR NOT NULL,
    language    VARCHAR NOT NULL,
    text        VARCHAR NOT NULL,
    provider    VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    prompt_id   VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Cost ledger: one row per provider request actually sent (cache hits cost nothing and are not rows).
CREATE TABLE llm_calls (
    call_id        VARCHAR PRIMARY KEY,
    ts             TIMESTAMP NOT NULL DEFAULT current_timestamp,
    provider       VARCHAR NOT NULL,
    model          VARCHAR NOT NULL,
    dataset_id     VARCHAR,
    purpose        VARCHAR NOT NULL,           -- e.g. instructions
    request_hash   VARCHAR NOT NULL,
    input_tokens   BIGINT NOT NULL,
    output_tokens  BIGINT NOT NULL,
    cost_usd       DOUBLE NOT NULL,
    batch_id       VARCHAR                     -- set when sent through a batch API
);

-- Provider batch jobs, so polling can resume after an interrupted run.
CREATE TABLE llm_batches (
    batch_id     VARCHAR PRIMARY KEY,
    provider     VARCHAR NOT NULL,
    model        VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,             -- submitted | completed | failed | collected
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    requests     JSON NOT NULL                 -- [{custom_id, request_hash, dataset_id}]
);

-- Immutable snapshots (content-addressed) and where they were published.
CREATE TABLE snapshots (
    snapshot_id   VARCHAR PRIMARY KEY,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    created_by    VARCHAR NOT NULL,
    mixture       VARCHAR NOT NULL,            -- mixture name
    path          VARCHAR NOT NULL,
    manifest      JSON NOT NULL,
    rows_train    BIGINT NOT NULL,
    rows_dev      BIGINT NOT NULL,
    rows_test     BIGINT NOT NULL
);

CREATE TABLE publications (
    snapshot_id  VARCHAR NOT NULL,
    target       VARCHAR NOT NULL,             -- hub repo (ORG/NAME) or a local folder
    kind         VARCHAR NOT NULL,             -- hub | dir
    commit_sha   VARCHAR,
    tag          VARCHAR,
    url          VARCHAR,
    private      BOOLEAN,
    ts           TIMESTAMP NOT NULL DEFAULT current_timestamp,
    actor        VARCHAR NOT NULL
);
