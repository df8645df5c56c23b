-- The original's models (Django 3.0 `auth_user`, refactored apps `lettings` and `profiles`),
-- with every model constraint held by the schema itself. Same tables as migrations/sqlite.
CREATE TABLE auth_user (
    id SERIAL PRIMARY KEY,
    password VARCHAR(128) NOT NULL,
    last_login TIMESTAMP NULL,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    username VARCHAR(150) NOT NULL UNIQUE CHECK (length(username) >= 1),
    first_name VARCHAR(150) NOT NULL DEFAULT '',
    last_name VARCHAR(150) NOT NULL DEFAULT '',
    email VARCHAR(254) NOT NULL DEFAULT '',
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    date_joined TIMESTAMP NOT NULL
);

CREATE TABLE lettings_address (
    id SERIAL PRIMARY KEY,
    number INTEGER NOT NULL CHECK (number BETWEEN 0 AND 9999),
    street VARCHAR(64) NOT NULL CHECK (length(street) >= 1),
    city VARCHAR(64) NOT NULL CHECK (length(city) >= 1),
    state VARCHAR(2) NOT NULL CHECK (state ~ '^[A-Za-z]{2}$'),
    zip_code INTEGER NOT NULL CHECK (zip_code BETWEEN 0 AND 99999),
    country_iso_code VARCHAR(3) NOT NULL CHECK (country_iso_code ~ '^[A-Za-z]{3}$')
);

CREATE TABLE lettings_letting (
    id SERIAL PRIMARY KEY,
    title VARCHAR(256) NOT NULL CHECK (length(title) >= 1),
    address_id INTEGER NOT NULL UNIQUE REFERENCES lettings_address (id) ON DELETE CASCADE
);

CREATE TABLE profiles_profile (
    id SERIAL PRIMARY KEY,
    favorite_city VARCHAR(64) NOT NULL DEFAULT '',
    user_id INTEGER NOT NULL UNIQUE REFERENCES auth_user (id) ON DELETE CASCADE
);
