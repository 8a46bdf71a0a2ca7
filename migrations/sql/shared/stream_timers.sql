{{ define "stream_timers" }}
-- Timers of the exactly-once consumers of schema {{ . }} (internal/stream): work a handler asked
-- for at a time. A timer belongs to the partition of the event that set it; setting its key
-- again replaces it. It is written in the transaction of the batch that set it, and fired in
-- one transaction that locks the partition's consumer_offsets row (stream_tables of the same
-- schema), deletes the row and appends what the timer handler emitted to the outbox.
CREATE TABLE IF NOT EXISTS {{ . }}.consumer_timers (
    group_id  text        NOT NULL,
    topic     text        NOT NULL,
    partition int         NOT NULL,
    key       text        NOT NULL,
    fire_at   timestamptz NOT NULL,
    data      jsonb,
    PRIMARY KEY (group_id, topic, partition, key)
);
CREATE INDEX IF NOT EXISTS consumer_timers_due ON {{ . }}.consumer_timers (group_id, fire_at);
{{ end }}
