-- The admin's history outlives its authors (issue 28): deleting a user keeps their
-- entries (user_id becomes NULL), each of which keeps the username its author had
-- (`username`), as a deleted object's entries keep its repr. Django cascades them away.
ALTER TABLE django_admin_log ADD COLUMN username VARCHAR(150) NOT NULL DEFAULT '';
UPDATE django_admin_log l SET username = u.username FROM auth_user u WHERE u.id = l.user_id;
ALTER TABLE django_admin_log ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE django_admin_log DROP CONSTRAINT django_admin_log_user_id_fkey;
ALTER TABLE django_admin_log ADD CONSTRAINT django_admin_log_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES auth_user (id) ON DELETE SET NULL;
