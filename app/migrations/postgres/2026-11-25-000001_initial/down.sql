DROP TABLE profiles_profile;
DROP TABLE lettings_letting;
DROP TABLE lettings_address;
DROP TABLE auth_user;
