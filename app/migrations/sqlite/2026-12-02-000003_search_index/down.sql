DROP TRIGGER lettings_letting_search_insert;
DROP TRIGGER lettings_letting_search_delete;
DROP TRIGGER lettings_letting_search_update;
DROP TABLE lettings_letting_search;

DROP TRIGGER lettings_address_search_insert;
DROP TRIGGER lettings_address_search_delete;
DROP TRIGGER lettings_address_search_update;
DROP TABLE lettings_address_search;

DROP TRIGGER profiles_profile_search_insert;
DROP TRIGGER profiles_profile_search_delete;
DROP TRIGGER profiles_profile_search_update;
DROP TABLE profiles_profile_search;

DROP TRIGGER auth_user_search_insert;
DROP TRIGGER auth_user_search_delete;
DROP TRIGGER auth_user_search_update;
DROP TABLE auth_user_search;
