-- Back to entries that go with their user: those whose author is gone go now.
CREATE TABLE django_admin_log_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action_time TIMESTAMP NOT NULL,
    user_id INTEGER NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    content_type VARCHAR(100) NOT NULL,
    object_id TEXT NULL,
    object_repr VARCHAR(200) NOT NULL,
    action_flag SMALLINT NOT NULL CHECK (action_flag IN (1, 2, 3)),
    change_message TEXT NOT NULL
);
INSERT INTO django_admin_log_old
    (id, action_time, user_id, content_type, object_id, object_repr, action_flag, change_message)
SELECT id, action_time, user_id, content_type, object_id, object_repr, action_flag, change_message
FROM django_admin_log WHERE user_id IS NOT NULL;
DROP TABLE django_admin_log;
ALTER TABLE django_admin_log_old RENAME TO django_admin_log;
CREATE INDEX django_admin_log_user_time ON django_admin_log (user_id, action_time);
CREATE INDEX django_admin_log_object ON django_admin_log (content_type, object_id);
