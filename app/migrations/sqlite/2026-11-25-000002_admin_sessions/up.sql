-- Admin sessions, kept server-side: the cookie holds a random token (signed with
-- SECRET_KEY); the database only its SHA-256, so a leaked table opens no session.
CREATE TABLE admin_session (
    token_hash TEXT PRIMARY KEY NOT NULL CHECK (length(token_hash) = 64),
    user_id INTEGER NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX admin_session_user ON admin_session (user_id);
