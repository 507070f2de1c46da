//! The schema, one portable DDL for SQLite and PostgreSQL (64-bit integers and text only; JSON
//! is kept as text so both databases store it byte for byte). Versions grow by one; a new
//! version is a new entry, never an edit of an applied one.

/// The component name the migrations are recorded under.
pub(crate) const COMPONENT: &str = "codex_runtime_persistence";

/// `(version, name, sql)` of every migration, in order.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "conversations", V1),
    (2, "job_claims_and_session_leases", V2),
];

const V1: &str = r#"
CREATE TABLE codex_conversations (
    tenant          TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    thread_id       TEXT,
    name            TEXT,
    preview         TEXT   NOT NULL DEFAULT '',
    archived        BIGINT NOT NULL DEFAULT 0,
    message_count   BIGINT NOT NULL DEFAULT 0,
    item_count      BIGINT NOT NULL DEFAULT 0,
    turn_count      BIGINT NOT NULL DEFAULT 0,
    last_seq        BIGINT NOT NULL DEFAULT 0,
    forked_from     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant, actor, conversation_id)
);
CREATE INDEX codex_conversations_by_update
    ON codex_conversations (tenant, actor, updated_at, conversation_id);

CREATE TABLE codex_turns (
    tenant          TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    turn_id         TEXT   NOT NULL,
    position        BIGINT NOT NULL,
    status          TEXT   NOT NULL,
    prompt          TEXT,
    error           TEXT,
    usage           TEXT,
    started_at      BIGINT NOT NULL,
    completed_at    BIGINT,
    PRIMARY KEY (tenant, actor, conversation_id, turn_id)
);

CREATE TABLE codex_items (
    tenant          TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    turn_id         TEXT   NOT NULL,
    item_id         TEXT   NOT NULL,
    position        BIGINT NOT NULL,
    kind            TEXT   NOT NULL,
    text            TEXT   NOT NULL,
    raw             TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant, actor, conversation_id, turn_id, item_id)
);
CREATE UNIQUE INDEX codex_items_by_position
    ON codex_items (tenant, actor, conversation_id, position);

CREATE TABLE codex_server_requests (
    tenant          TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    request_id      TEXT   NOT NULL,
    turn_id         TEXT,
    item_id         TEXT,
    method          TEXT   NOT NULL,
    params          TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    answer          TEXT,
    answered_by     TEXT,
    created_at      BIGINT NOT NULL,
    answered_at     BIGINT,
    PRIMARY KEY (tenant, actor, conversation_id, request_id)
);

CREATE TABLE codex_events (
    tenant          TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    seq             BIGINT NOT NULL,
    kind            TEXT   NOT NULL,
    turn_id         TEXT,
    payload         TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant, actor, conversation_id, seq)
);

CREATE TABLE codex_jobs (
    job_id     TEXT   NOT NULL PRIMARY KEY,
    tenant     TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    state      TEXT   NOT NULL,
    progress   TEXT   NOT NULL,
    error      TEXT,
    run_at     BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX codex_jobs_by_state ON codex_jobs (state, run_at);
"#;

/// Version 2: a claim with a lease on every job (`lease_owner`, `lease_expires_at`, and the
/// fencing token `claim`, bumped by every claim), and the ownership lease of live sessions.
const V2: &str = r#"
ALTER TABLE codex_jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE codex_jobs ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE codex_jobs ADD COLUMN claim BIGINT NOT NULL DEFAULT 0;

CREATE TABLE codex_session_leases (
    tenant          TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    owner           TEXT   NOT NULL,
    token           BIGINT NOT NULL,
    acquired_at     BIGINT NOT NULL,
    heartbeat_at    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant, actor, conversation_id)
);
"#;

/// Every table the store writes (for counting and deleting).
pub(crate) const DATA_TABLES: &[&str] = &[
    "codex_conversations",
    "codex_turns",
    "codex_items",
    "codex_server_requests",
    "codex_events",
];
