DROP TABLE auth_user_user_permissions;
DROP TABLE auth_user_groups;
DROP TABLE auth_group_permissions;
DROP TABLE auth_group;
