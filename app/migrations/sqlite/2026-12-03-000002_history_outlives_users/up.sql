-- The admin's history outlives its authors (issue 28): deleting a user keeps their
-- entries (user_id becomes NULL), each of which keeps the username its author had
-- (`username`), as a deleted object's entries keep its repr. Django cascades them away.
-- SQLite cannot change a foreign key in place: the table is rebuilt, ids kept.
CREATE TABLE django_admin_log_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action_time TIMESTAMP NOT NULL,
    user_id INTEGER NULL REFERENCES auth_user (id) ON DELETE SET NULL,
    content_type VARCHAR(100) NOT NULL,
    object_id TEXT NULL,
    object_repr VARCHAR(200) NOT NULL,
    action_flag SMALLINT NOT NULL CHECK (action_flag IN (1, 2, 3)),
    change_message TEXT NOT NULL,
    username VARCHAR(150) NOT NULL DEFAULT ''
);
INSERT INTO django_admin_log_new
    (id, action_time, user_id, content_type, object_id, object_repr, action_flag, change_message, username)
SELECT l.id, l.action_time, l.user_id, l.content_type, l.object_id, l.object_repr, l.action_flag,
       l.change_message, COALESCE(u.username, '')
FROM django_admin_log l LEFT JOIN auth_user u ON u.id = l.user_id;
DROP TABLE django_admin_log;
ALTER TABLE django_admin_log_new RENAME TO django_admin_log;
CREATE INDEX django_admin_log_user_time ON django_admin_log (user_id, action_time);
CREATE INDEX django_admin_log_object ON django_admin_log (content_type, object_id);
