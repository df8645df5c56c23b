-- A second factor for staff: one TOTP key per user (RFC 6238; `confirmed_at` NULL while
-- enrolment waits for the first code) and its one-time recovery codes, stored as the
-- SHA-256 of the code (each code holds 60 random bits). `last_step`: the time step of
-- the last code accepted, so no code is accepted twice (RFC 6238, section 5.2).
CREATE TABLE auth_user_totp (
    user_id INTEGER PRIMARY KEY NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    confirmed_at TEXT,
    last_step INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
) STRICT;
CREATE TABLE auth_user_recovery_code (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL CHECK (length(code_hash) = 64),
    used_at TEXT,
    UNIQUE (user_id, code_hash)
) STRICT;
