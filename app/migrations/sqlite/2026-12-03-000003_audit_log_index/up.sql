-- The audit log narrows the history to one author by the username each entry keeps
-- (a deleted user's too), newest first: an index on both, so a rare author among
-- millions of entries is found without reading them all.
CREATE INDEX django_admin_log_username ON django_admin_log (username, id);
