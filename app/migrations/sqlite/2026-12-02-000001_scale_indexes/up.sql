-- Indexes for lists of a million rows: every column the admin's lists sort by (the
-- address's street with its number, as the "Address" column sorts), the filters' columns
-- (their GROUP BY counts read the index alone), and the numbers the address search matches.
CREATE INDEX lettings_address_street_number ON lettings_address (street, number);
CREATE INDEX lettings_address_city ON lettings_address (city);
CREATE INDEX lettings_address_state ON lettings_address (state);
CREATE INDEX lettings_address_zip_code ON lettings_address (zip_code);
CREATE INDEX lettings_address_country_iso_code ON lettings_address (country_iso_code);
CREATE INDEX lettings_address_number ON lettings_address (number);
CREATE INDEX lettings_letting_title ON lettings_letting (title);
CREATE INDEX profiles_profile_favorite_city ON profiles_profile (favorite_city);
CREATE INDEX auth_user_email ON auth_user (email);
CREATE INDEX auth_user_first_name ON auth_user (first_name);
CREATE INDEX auth_user_last_name ON auth_user (last_name);
CREATE INDEX auth_user_is_staff ON auth_user (is_staff);
