-- The scale benchmark's data: a copy of the original's refactored Django database whose
-- rows are replaced by :rows addresses, lettings, users and profiles and as many history
-- entries, made up from the row number (the same rows on every run). The user "admin"
-- (password Abc1234!) stays, as the history's author and the bench's login.
-- `cargo xtask bench scale` runs it with the sqlite3 shell; it substitutes :rows.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA foreign_keys = OFF;
BEGIN;
DELETE FROM lettings_letting;
DELETE FROM lettings_address;
DELETE FROM profiles_profile;
DELETE FROM django_admin_log;
DELETE FROM auth_user_groups;
DELETE FROM auth_user_user_permissions;
DELETE FROM django_session;
DELETE FROM auth_user WHERE username <> 'admin';
UPDATE auth_user SET id = 1 WHERE username = 'admin';

CREATE TEMP TABLE words (kind TEXT, n INTEGER, word TEXT);
INSERT INTO words
SELECT 'adjective', key, value FROM json_each('["Cozy","Sunny","Quiet","Modern","Rustic","Charming","Spacious","Bright","Hidden","Seaside","Historic","Elegant","Tiny","Grand","Secluded","Lakeside","Urban","Classic","Peaceful","Airy"]')
UNION ALL
SELECT 'noun', key, value FROM json_each('["Cottage","Loft","Cabin","Villa","Studio","Bungalow","Retreat","Farmhouse","Townhouse","Apartment","Chalet","Barn","Suite","Haus","Dome","Getaway","Lodge","Penthouse","Yurt","Treehouse"]')
UNION ALL
SELECT 'street', key, value FROM json_each('["Bedford","Ocean","Maple","Cedar","Pine","Sunset","Harbor","Willow","Lake","Hill","Park","River","Forest","Meadow","Bay","Canyon","Spring","Valley","Ridge","Garden","Mission","Sierra","Palm","Coral","Juniper"]')
UNION ALL
SELECT 'kind', key, value FROM json_each('["Street","Avenue","Road","Lane","Drive","Court","Way","Boulevard"]')
UNION ALL
SELECT 'city', key, value FROM json_each('["Brunswick","Laguna Beach","Austin","Denver","Portland","Boston","Seattle","Miami","Phoenix","Chicago","Atlanta","Nashville","Savannah","Tucson","Madison","Boise","Omaha","Reno","Fresno","Albany","Berlin","Toronto","Dublin","Lisbon","Kyoto","Oslo","Quebec","Monterrey","Vancouver","Sedona"]')
UNION ALL
SELECT 'state', key, value FROM json_each('["GA","CA","TX","CO","OR","MA","WA","FL","AZ","IL","TN","NY","NV","WI","ID","NE","UT","NM","MI","OH"]')
UNION ALL
SELECT 'country', key, value FROM json_each('["USA","USA","USA","USA","USA","USA","USA","CAN","CAN","MEX"]')
UNION ALL
SELECT 'first', key, value FROM json_each('["Jamie","Alex","Sam","Robin","Taylor","Jordan","Casey","Morgan","Riley","Avery","Quinn","Drew","Parker","Reese","Skyler"]')
UNION ALL
SELECT 'last', key, value FROM json_each('["Lal","Smith","Garcia","Chen","Okafor","Novak","Silva","Khan","Murphy","Rossi","Berg","Tanaka","Dubois","Kowalski","Haddad"]');
CREATE TEMP TABLE w AS SELECT kind, n, word FROM words;
CREATE INDEX temp.w_kind ON w (kind, n);

CREATE TEMP TABLE seq (i INTEGER PRIMARY KEY);
WITH RECURSIVE counter(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM counter WHERE i < :rows)
INSERT INTO seq SELECT i FROM counter;

INSERT INTO lettings_address (id, number, street, city, state, zip_code, country_iso_code)
SELECT i,
       (i * 7919) % 9999 + 1,
       (SELECT word FROM w WHERE kind = 'street' AND n = (i * 31) % 25) || ' '
           || (SELECT word FROM w WHERE kind = 'kind' AND n = (i / 25) % 8),
       (SELECT word FROM w WHERE kind = 'city' AND n = (i * 17) % 30),
       (SELECT word FROM w WHERE kind = 'state' AND n = (i * 13) % 20),
       (i * 104729) % 99999 + 1,
       (SELECT word FROM w WHERE kind = 'country' AND n = i % 10)
FROM seq;

INSERT INTO lettings_letting (id, title, address_id)
SELECT i,
       (SELECT word FROM w WHERE kind = 'adjective' AND n = (i * 7) % 20) || ' '
           || (SELECT word FROM w WHERE kind = 'noun' AND n = (i * 11) % 20) || ' ' || i,
       i
FROM seq;

-- Every user has the admin's password hash (Abc1234!); ids from 2, usernames unique.
INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, email, is_staff, is_active, date_joined, last_name)
SELECT i + 1,
       (SELECT password FROM auth_user WHERE id = 1),
       NULL, 0,
       (SELECT word FROM w WHERE kind = 'first' AND n = i % 15) || i,
       (SELECT word FROM w WHERE kind = 'first' AND n = i % 15),
       'user' || i || '@example.com',
       0, 1,
       '2020-06-14 09:00:00',
       (SELECT word FROM w WHERE kind = 'last' AND n = (i / 15) % 15)
FROM seq;

INSERT INTO profiles_profile (id, favorite_city, user_id)
SELECT i, (SELECT word FROM w WHERE kind = 'city' AND n = (i * 7) % 30), i + 1 FROM seq;

-- History: each letting added, by the admin, a second apart.
INSERT INTO django_admin_log (id, action_time, object_id, object_repr, change_message, content_type_id, user_id, action_flag)
SELECT i,
       strftime('%Y-%m-%d %H:%M:%f', '2020-06-14 09:00:00', '+' || i || ' seconds'),
       CAST(i AS TEXT),
       (SELECT title FROM lettings_letting WHERE id = i),
       '[{"added": {}}]',
       (SELECT id FROM django_content_type WHERE app_label = 'lettings' AND model = 'letting'),
       1, 1
FROM seq;
COMMIT;
