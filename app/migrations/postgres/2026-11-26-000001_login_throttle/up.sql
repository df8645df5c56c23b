-- Failed-login counters, shared by every instance on this database (a restart or a second
-- instance forgives nothing). One row per key: a (client, username) pair, a client, or a
-- username. Times are milliseconds since the Unix epoch.
CREATE TABLE login_throttle (
    key VARCHAR(250) PRIMARY KEY,
    failures INTEGER NOT NULL CHECK (failures >= 0),
    last_failure_ms BIGINT NOT NULL,
    blocked_until_ms BIGINT NOT NULL
);
CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure_ms);
