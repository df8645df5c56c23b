-- Django's groups and per-model permissions. A permission is named as Django's
-- `user.has_perm` names it, `app_label.codename` (`lettings.change_letting`), rather
-- than through auth_permission and content-type rows: the port's models are fixed, so
-- the set of permissions is too (the admin's registry lists it).
CREATE TABLE auth_group (
    id SERIAL PRIMARY KEY,
    name VARCHAR(150) NOT NULL UNIQUE
);
CREATE TABLE auth_group_permissions (
    group_id INTEGER NOT NULL REFERENCES auth_group (id) ON DELETE CASCADE,
    permission VARCHAR(100) NOT NULL,
    PRIMARY KEY (group_id, permission)
);
CREATE TABLE auth_user_groups (
    user_id INTEGER NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES auth_group (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX auth_user_groups_group ON auth_user_groups (group_id);
CREATE TABLE auth_user_user_permissions (
    user_id INTEGER NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    permission VARCHAR(100) NOT NULL,
    PRIMARY KEY (user_id, permission)
);
-- Before this migration every staff member managed addresses, lettings and profiles.
-- They keep exactly that (no one is locked out by an upgrade); a superuser narrows it.
INSERT INTO auth_user_user_permissions (user_id, permission)
SELECT u.id, p.permission
FROM auth_user u
CROSS JOIN (
    SELECT 'lettings.view_address' AS permission
    UNION ALL SELECT 'lettings.add_address'
    UNION ALL SELECT 'lettings.change_address'
    UNION ALL SELECT 'lettings.delete_address'
    UNION ALL SELECT 'lettings.view_letting'
    UNION ALL SELECT 'lettings.add_letting'
    UNION ALL SELECT 'lettings.change_letting'
    UNION ALL SELECT 'lettings.delete_letting'
    UNION ALL SELECT 'profiles.view_profile'
    UNION ALL SELECT 'profiles.add_profile'
    UNION ALL SELECT 'profiles.change_profile'
    UNION ALL SELECT 'profiles.delete_profile'
) p
WHERE u.is_staff AND NOT u.is_superuser;
