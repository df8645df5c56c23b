-- The original's models (Django 3.0 `auth_user`, refactored apps `lettings` and `profiles`),
-- with every model constraint held by the schema itself. STRICT tables: no silent type coercion.
CREATE TABLE auth_user (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    password TEXT NOT NULL CHECK (length(password) <= 128),
    last_login TEXT NULL,
    is_superuser INTEGER NOT NULL DEFAULT 0 CHECK (is_superuser IN (0, 1)),
    username TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 150),
    first_name TEXT NOT NULL DEFAULT '' CHECK (length(first_name) <= 150),
    last_name TEXT NOT NULL DEFAULT '' CHECK (length(last_name) <= 150),
    email TEXT NOT NULL DEFAULT '' CHECK (length(email) <= 254),
    is_staff INTEGER NOT NULL DEFAULT 0 CHECK (is_staff IN (0, 1)),
    is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    date_joined TEXT NOT NULL
) STRICT;

CREATE TABLE lettings_address (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    number INTEGER NOT NULL CHECK (number BETWEEN 0 AND 9999),
    street TEXT NOT NULL CHECK (length(street) BETWEEN 1 AND 64),
    city TEXT NOT NULL CHECK (length(city) BETWEEN 1 AND 64),
    state TEXT NOT NULL CHECK (length(state) = 2 AND state GLOB '[A-Za-z][A-Za-z]'),
    zip_code INTEGER NOT NULL CHECK (zip_code BETWEEN 0 AND 99999),
    country_iso_code TEXT NOT NULL
        CHECK (length(country_iso_code) = 3 AND country_iso_code GLOB '[A-Za-z][A-Za-z][A-Za-z]')
) STRICT;

CREATE TABLE lettings_letting (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 256),
    address_id INTEGER NOT NULL UNIQUE REFERENCES lettings_address (id) ON DELETE CASCADE
) STRICT;

CREATE TABLE profiles_profile (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    favorite_city TEXT NOT NULL DEFAULT '' CHECK (length(favorite_city) <= 64),
    user_id INTEGER NOT NULL UNIQUE REFERENCES auth_user (id) ON DELETE CASCADE
) STRICT;
