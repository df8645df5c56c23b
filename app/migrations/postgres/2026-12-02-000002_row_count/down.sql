DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['auth_user', 'auth_group', 'lettings_address', 'lettings_letting', 'profiles_profile', 'django_admin_log'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_rows_added', t);
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_rows_removed', t);
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_rows_emptied', t);
    END LOOP;
END
$$;
DROP FUNCTION row_count_added();
DROP FUNCTION row_count_removed();
DROP FUNCTION row_count_emptied();
DROP TABLE row_count;
