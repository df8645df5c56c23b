//! Demo data for a first run: the original site's six lettings and four profiles, so a new
//! database shows a living site. Demo users have unusable passwords (nobody can log in as them).

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::accounts::model::{User, UNUSABLE_PASSWORD};
use crate::db::schema::{auth_user, lettings_address, lettings_letting, profiles_profile};
use crate::db::{DbConnection, DbError};
use crate::lettings::model::{Address, Letting};
use crate::profiles::model::Profile;

/// (title, number, street, city, state, zip, country)
const LETTINGS: &[(&str, i32, &str, &str, &str, i32, &str)] = &[
    (
        "Joshua Tree Green Haus /w Hot Tub",
        7217,
        "Bedford Street",
        "Brunswick",
        "GA",
        31525,
        "USA",
    ),
    (
        "Oceanview Retreat",
        4,
        "Military Street",
        "Willoughby",
        "OH",
        44094,
        "USA",
    ),
    (
        "'Silo Studio' Cottage",
        340,
        "Wintergreen Avenue",
        "Newport News",
        "VA",
        23601,
        "USA",
    ),
    (
        "Pirates of the Caribbean Getaway",
        9230,
        "E. Joy Ridge Street",
        "Marquette",
        "MI",
        49855,
        "USA",
    ),
    (
        "The Mushroom Dome Retreat & LAND of Paradise Suite",
        9606,
        "Harvard Street",
        "Aliquippa",
        "PA",
        15001,
        "USA",
    ),
    (
        "Underground Hygge",
        588,
        "Argyle Avenue",
        "East Meadow",
        "NY",
        11554,
        "USA",
    ),
];

/// (profile id, user id, username, first name, last name, email, favorite city), with the
/// original's ids, so importing the original's database over the demo data updates it in place.
type DemoProfile = (
    i32,
    i32,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);
const PROFILES: &[DemoProfile] = &[
    (
        1,
        5,
        "HeadlinesGazer",
        "Jamie",
        "Lal",
        "jssssss33@acee9.live",
        "Buenos Aires",
    ),
    (
        2,
        4,
        "DavWin",
        "Cassandra",
        "Grahm",
        "5houssam.kessaiso@facpidif.ml",
        "Barcelona",
    ),
    (
        3,
        3,
        "AirWow",
        "Ada",
        "Paul",
        "flocation.vam4@glendenningflowerdesign.com",
        "Budapest",
    ),
    (
        4,
        2,
        "4meRomance",
        "John",
        "Rodriguez",
        "coemperor@famemma.net",
        "Berlin",
    ),
];

/// True when the site holds no data at all (no users, addresses, lettings or profiles).
pub fn is_empty(conn: &mut DbConnection) -> Result<bool, DbError> {
    let users: i64 = auth_user::table.count().get_result(conn)?;
    let addresses: i64 = lettings_address::table.count().get_result(conn)?;
    let lettings: i64 = lettings_letting::table.count().get_result(conn)?;
    let profiles: i64 = profiles_profile::table.count().get_result(conn)?;
    Ok(users + addresses + lettings + profiles == 0)
}

/// Seeds the demo data when the database is empty; returns whether it did.
/// Call under `migrations::with_schema_lock`, which makes the check-then-insert atomic.
pub fn seed_if_empty(conn: &mut DbConnection) -> Result<bool, DbError> {
    if !is_empty(conn)? {
        return Ok(false);
    }
    insert_demo_data(conn)?;
    crate::db::migrations::sync_id_sequences(conn)?;
    Ok(true)
}

fn insert_demo_data(conn: &mut DbConnection) -> Result<(), DbError> {
    for (index, (title, number, street, city, state, zip_code, country)) in (1..).zip(LETTINGS) {
        let address = Address {
            id: index,
            number: *number,
            street: (*street).into(),
            city: (*city).into(),
            state: (*state).into(),
            zip_code: *zip_code,
            country_iso_code: (*country).into(),
        };
        diesel::insert_into(lettings_address::table)
            .values(&address)
            .execute(conn)?;
        let letting = Letting {
            id: index,
            title: (*title).into(),
            address_id: index,
        };
        diesel::insert_into(lettings_letting::table)
            .values(&letting)
            .execute(conn)?;
    }
    let joined = NaiveDate::from_ymd_opt(2020, 6, 14)
        .and_then(|d| d.and_hms_opt(9, 45, 0))
        .unwrap_or_default();
    for (profile_id, user_id, username, first_name, last_name, email, city) in PROFILES {
        let user = User {
            id: *user_id,
            password: UNUSABLE_PASSWORD.into(),
            last_login: None,
            is_superuser: false,
            username: (*username).into(),
            first_name: (*first_name).into(),
            last_name: (*last_name).into(),
            email: (*email).into(),
            is_staff: false,
            is_active: true,
            date_joined: joined,
        };
        diesel::insert_into(auth_user::table).values(&user).execute(conn)?;
        let profile = Profile {
            id: *profile_id,
            favorite_city: (*city).into(),
            user_id: *user_id,
        };
        diesel::insert_into(profiles_profile::table)
            .values(&profile)
            .execute(conn)?;
    }
    Ok(())
}
