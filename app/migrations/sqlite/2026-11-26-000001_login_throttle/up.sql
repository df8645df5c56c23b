-- Failed-login counters, shared by every instance on this database (a restart or a second
-- instance forgives nothing). One row per key: a (client, username) pair, a client, or a
-- username. Times are milliseconds since the Unix epoch.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL CHECK (length(key) <= 250),
    failures INTEGER NOT NULL CHECK (failures >= 0),
    last_failure_ms INTEGER NOT NULL,
    blocked_until_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure_ms);
