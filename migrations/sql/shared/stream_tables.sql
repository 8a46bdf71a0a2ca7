{{ define "stream_tables" }}
-- Exactly-once plumbing of schema {{ . }} (internal/stream): the next offset to consume
-- per group and partition, written in the same transaction as the state it accounts for ...
CREATE TABLE IF NOT EXISTS {{ . }}.consumer_offsets (
    group_id    text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

-- ... and the events emitted because of consumed ones, until the relay has produced them.
-- headers is a JSON object mapping each Kafka header name to its (UTF-8) value.
CREATE TABLE IF NOT EXISTS {{ . }}.outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      text        NOT NULL,
    key        bytea,
    headers    jsonb       NOT NULL,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON {{ . }}.outbox (id) WHERE sent_at IS NULL;
{{ end }}
