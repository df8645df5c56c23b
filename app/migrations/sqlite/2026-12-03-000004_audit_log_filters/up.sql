-- The audit log's other filters, newest first among millions of entries: one model
-- (the object index is by content type and object, which leaves every entry of the
-- model to sort by id), one action (a rare one, deletions, would otherwise be looked
-- for through every entry), and dates (a day's entries found by their time, not by
-- walking back from the newest).
CREATE INDEX django_admin_log_content_type ON django_admin_log (content_type, id);
CREATE INDEX django_admin_log_action ON django_admin_log (action_flag, id);
CREATE INDEX django_admin_log_time ON django_admin_log (action_time, id);
