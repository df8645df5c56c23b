DROP TABLE django_admin_log;
