-- Each signs hub replica's heartbeat: the replica refreshes its row every SIGNS_SEEN_EVERY while
-- it runs, and a sign it holds (signs.status.replica) was last seen then. One row per replica
-- instead of rewriting every connected sign's last_seen_at (10,000 rows every 15 s).
CREATE TABLE IF NOT EXISTS signs.replicas (
    replica text        PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

---- create above / drop below ----

DROP TABLE IF EXISTS signs.replicas;
