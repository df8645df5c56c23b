-- Indexes for lists of a million rows: every column the admin's lists sort by (the
-- address's street with its number, as the "Address" column sorts), each followed by the
-- id that breaks its ties (a list sorted either way reads its page straight from the index;
-- SQLite's indexes end with the rowid by themselves), the filters' columns, and the
-- numbers the address search matches.
CREATE INDEX lettings_address_street_number ON lettings_address (street, number, id);
CREATE INDEX lettings_address_city ON lettings_address (city, id);
CREATE INDEX lettings_address_state ON lettings_address (state, id);
CREATE INDEX lettings_address_zip_code ON lettings_address (zip_code, id);
CREATE INDEX lettings_address_country_iso_code ON lettings_address (country_iso_code, id);
CREATE INDEX lettings_address_number ON lettings_address (number);
CREATE INDEX lettings_letting_title ON lettings_letting (title, id);
CREATE INDEX profiles_profile_favorite_city ON profiles_profile (favorite_city, id);
CREATE INDEX auth_user_email ON auth_user (email, id);
CREATE INDEX auth_user_first_name ON auth_user (first_name, id);
CREATE INDEX auth_user_last_name ON auth_user (last_name, id);
CREATE INDEX auth_user_is_staff ON auth_user (is_staff, id);

-- The admin's search is `lower(column) LIKE '%term%'`: trigram GIN indexes on those
-- expressions let PostgreSQL answer it from the index (Django's
-- `GinIndex(OpClass(Lower(...), name="gin_trgm_ops"))`). They need the pg_trgm
-- extension: Heroku Postgres and RDS both allow it to the app's own user (RDS: a
-- "trusted" extension since PostgreSQL 13). Where it cannot be created, the search still
-- works, reading every row, and this migration says so in a NOTICE instead of failing.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): the admin search reads every row', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX lettings_letting_title_trgm ON lettings_letting USING gin (lower(title) gin_trgm_ops);
        CREATE INDEX lettings_address_street_trgm ON lettings_address USING gin (lower(street) gin_trgm_ops);
        CREATE INDEX lettings_address_city_trgm ON lettings_address USING gin (lower(city) gin_trgm_ops);
        CREATE INDEX lettings_address_state_trgm ON lettings_address USING gin (lower(state) gin_trgm_ops);
        CREATE INDEX lettings_address_country_trgm ON lettings_address USING gin (lower(country_iso_code) gin_trgm_ops);
        CREATE INDEX profiles_profile_favorite_city_trgm ON profiles_profile USING gin (lower(favorite_city) gin_trgm_ops);
        CREATE INDEX auth_user_username_trgm ON auth_user USING gin (lower(username) gin_trgm_ops);
        CREATE INDEX auth_user_first_name_trgm ON auth_user USING gin (lower(first_name) gin_trgm_ops);
        CREATE INDEX auth_user_last_name_trgm ON auth_user USING gin (lower(last_name) gin_trgm_ops);
        CREATE INDEX auth_user_email_trgm ON auth_user USING gin (lower(email) gin_trgm_ops);
    END IF;
END
$$;
