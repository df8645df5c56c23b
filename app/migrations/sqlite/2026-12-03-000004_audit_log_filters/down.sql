DROP INDEX django_admin_log_time;
DROP INDEX django_admin_log_action;
DROP INDEX django_admin_log_content_type;
