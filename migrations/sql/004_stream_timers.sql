-- Timers for the inventory's exactly-once consumer (internal/stream): the consumer_timers table
-- of the template "stream_timers" in sql/shared, next to the consumer_offsets and outbox that 003
-- created. A new service with its own schema includes both templates, "stream_tables" and
-- "stream_timers", in its migration.
{{ template "stream_timers" "inventory" }}

---- create above / drop below ----

DROP TABLE inventory.consumer_timers;
