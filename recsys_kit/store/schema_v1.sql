-- recsys-kit results schema, version 1. Documented column by column in docs/results.md.
CREATE TABLE IF NOT EXISTS schema_info (
    version INTEGER NOT NULL,
    applied_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    parent_run_id VARCHAR,
    data_key VARCHAR,
    recipe JSON NOT NULL,
    recipe_source VARCHAR,
    versions JSON,
    device VARCHAR,
    seed BIGINT,
    monitor VARCHAR,
    best_epoch INTEGER,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    duration_s DOUBLE,
    error VARCHAR
);
CREATE TABLE IF NOT EXISTS run_plugins (
    run_id VARCHAR NOT NULL,
    recipe_path VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    plugin VARCHAR NOT NULL,
    distribution VARCHAR,
    version VARCHAR,
    params JSON
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id VARCHAR NOT NULL,
    split VARCHAR NOT NULL,
    epoch INTEGER,
    metric VARCHAR NOT NULL,
    k INTEGER,
    value DOUBLE NOT NULL,
    logged_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS recommendations (
    run_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    rank INTEGER NOT NULL,
    item_id VARCHAR NOT NULL,
    score DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS explanations (
    run_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    rank INTEGER NOT NULL,
    history_item_id VARCHAR NOT NULL,
    weight DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    bytes BIGINT,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    data_key VARCHAR PRIMARY KEY,
    users BIGINT NOT NULL,
    items BIGINT NOT NULL,
    interactions BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    data_key VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    title VARCHAR
);
CREATE TABLE IF NOT EXISTS interactions (
    data_key VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    item_id VARCHAR NOT NULL,
    split VARCHAR NOT NULL
);
