-- The admin's history (Django's LogEntry): who added, changed or deleted which object,
-- when, with Django's JSON change message. `content_type` is `app.model` as the admin's
-- URLs name it (`lettings.letting`); an imported entry of a model the port does not have
-- keeps Django's `app_label.model`. Entries go with their user, as in Django.
CREATE TABLE django_admin_log (
    id SERIAL PRIMARY KEY,
    action_time TIMESTAMP NOT NULL,
    user_id INTEGER NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    content_type VARCHAR(100) NOT NULL,
    object_id TEXT NULL,
    object_repr VARCHAR(200) NOT NULL,
    action_flag SMALLINT NOT NULL CHECK (action_flag IN (1, 2, 3)),
    change_message TEXT NOT NULL
);
CREATE INDEX django_admin_log_user_time ON django_admin_log (user_id, action_time);
CREATE INDEX django_admin_log_object ON django_admin_log (content_type, object_id);
