-- Back to entries that go with their user: those whose author is gone go now.
DELETE FROM django_admin_log WHERE user_id IS NULL;
ALTER TABLE django_admin_log DROP CONSTRAINT django_admin_log_user_id_fkey;
ALTER TABLE django_admin_log ADD CONSTRAINT django_admin_log_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES auth_user (id) ON DELETE CASCADE;
ALTER TABLE django_admin_log ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE django_admin_log DROP COLUMN username;
