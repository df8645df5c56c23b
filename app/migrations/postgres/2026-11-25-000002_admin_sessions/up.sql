-- Admin sessions, kept server-side: the cookie holds a random token (signed with
-- SECRET_KEY); the database only its SHA-256, so a leaked table opens no session.
CREATE TABLE admin_session (
    token_hash CHAR(64) PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    csrf_token VARCHAR(64) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX admin_session_user ON admin_session (user_id);
