-- The admin's search on SQLite: an FTS5 trigram index per searched table (SQLite 3.34+,
-- built into the binary), kept in step with its table by triggers. A search term of three
-- characters or more is looked up in it (`MATCH '"term"'`: the term anywhere in any of the
-- columns, case folded) instead of reading every row with `LIKE '%term%'`; a shorter one
-- still reads every row. External content: the index holds no copy of the text.

CREATE VIRTUAL TABLE lettings_letting_search USING fts5(title, content='lettings_letting', content_rowid='id', tokenize='trigram');
CREATE TRIGGER lettings_letting_search_insert AFTER INSERT ON lettings_letting BEGIN
    INSERT INTO lettings_letting_search (rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER lettings_letting_search_delete AFTER DELETE ON lettings_letting BEGIN
    INSERT INTO lettings_letting_search (lettings_letting_search, rowid, title) VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER lettings_letting_search_update AFTER UPDATE ON lettings_letting BEGIN
    INSERT INTO lettings_letting_search (lettings_letting_search, rowid, title) VALUES ('delete', old.id, old.title);
    INSERT INTO lettings_letting_search (rowid, title) VALUES (new.id, new.title);
END;
INSERT INTO lettings_letting_search (lettings_letting_search) VALUES ('rebuild');

CREATE VIRTUAL TABLE lettings_address_search USING fts5(street, city, state, country_iso_code, content='lettings_address', content_rowid='id', tokenize='trigram');
CREATE TRIGGER lettings_address_search_insert AFTER INSERT ON lettings_address BEGIN
    INSERT INTO lettings_address_search (rowid, street, city, state, country_iso_code) VALUES (new.id, new.street, new.city, new.state, new.country_iso_code);
END;
CREATE TRIGGER lettings_address_search_delete AFTER DELETE ON lettings_address BEGIN
    INSERT INTO lettings_address_search (lettings_address_search, rowid, street, city, state, country_iso_code) VALUES ('delete', old.id, old.street, old.city, old.state, old.country_iso_code);
END;
CREATE TRIGGER lettings_address_search_update AFTER UPDATE ON lettings_address BEGIN
    INSERT INTO lettings_address_search (lettings_address_search, rowid, street, city, state, country_iso_code) VALUES ('delete', old.id, old.street, old.city, old.state, old.country_iso_code);
    INSERT INTO lettings_address_search (rowid, street, city, state, country_iso_code) VALUES (new.id, new.street, new.city, new.state, new.country_iso_code);
END;
INSERT INTO lettings_address_search (lettings_address_search) VALUES ('rebuild');

CREATE VIRTUAL TABLE profiles_profile_search USING fts5(favorite_city, content='profiles_profile', content_rowid='id', tokenize='trigram');
CREATE TRIGGER profiles_profile_search_insert AFTER INSERT ON profiles_profile BEGIN
    INSERT INTO profiles_profile_search (rowid, favorite_city) VALUES (new.id, new.favorite_city);
END;
CREATE TRIGGER profiles_profile_search_delete AFTER DELETE ON profiles_profile BEGIN
    INSERT INTO profiles_profile_search (profiles_profile_search, rowid, favorite_city) VALUES ('delete', old.id, old.favorite_city);
END;
CREATE TRIGGER profiles_profile_search_update AFTER UPDATE ON profiles_profile BEGIN
    INSERT INTO profiles_profile_search (profiles_profile_search, rowid, favorite_city) VALUES ('delete', old.id, old.favorite_city);
    INSERT INTO profiles_profile_search (rowid, favorite_city) VALUES (new.id, new.favorite_city);
END;
INSERT INTO profiles_profile_search (profiles_profile_search) VALUES ('rebuild');

CREATE VIRTUAL TABLE auth_user_search USING fts5(username, first_name, last_name, email, content='auth_user', content_rowid='id', tokenize='trigram');
CREATE TRIGGER auth_user_search_insert AFTER INSERT ON auth_user BEGIN
    INSERT INTO auth_user_search (rowid, username, first_name, last_name, email) VALUES (new.id, new.username, new.first_name, new.last_name, new.email);
END;
CREATE TRIGGER auth_user_search_delete AFTER DELETE ON auth_user BEGIN
    INSERT INTO auth_user_search (auth_user_search, rowid, username, first_name, last_name, email) VALUES ('delete', old.id, old.username, old.first_name, old.last_name, old.email);
END;
CREATE TRIGGER auth_user_search_update AFTER UPDATE ON auth_user BEGIN
    INSERT INTO auth_user_search (auth_user_search, rowid, username, first_name, last_name, email) VALUES ('delete', old.id, old.username, old.first_name, old.last_name, old.email);
    INSERT INTO auth_user_search (rowid, username, first_name, last_name, email) VALUES (new.id, new.username, new.first_name, new.last_name, new.email);
END;
INSERT INTO auth_user_search (auth_user_search) VALUES ('rebuild');
