DROP INDEX django_admin_log_username;
