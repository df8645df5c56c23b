//! The tables, as diesel sees them (same names as the refactored Django site).

diesel::table! {
    auth_user (id) {
        id -> Integer,
        password -> Text,
        last_login -> Nullable<Timestamp>,
        is_superuser -> Bool,
        username -> Text,
        first_name -> Text,
        last_name -> Text,
        email -> Text,
        is_staff -> Bool,
        is_active -> Bool,
        date_joined -> Timestamp,
    }
}

diesel::table! {
    lettings_address (id) {
        id -> Integer,
        number -> Integer,
        street -> Text,
        city -> Text,
        state -> Text,
        zip_code -> Integer,
        country_iso_code -> Text,
    }
}

diesel::table! {
    lettings_letting (id) {
        id -> Integer,
        title -> Text,
        address_id -> Integer,
    }
}

diesel::table! {
    profiles_profile (id) {
        id -> Integer,
        favorite_city -> Text,
        user_id -> Integer,
    }
}

diesel::joinable!(lettings_letting -> lettings_address (address_id));
diesel::joinable!(profiles_profile -> auth_user (user_id));

diesel::allow_tables_to_appear_in_same_query!(auth_user, lettings_address, lettings_letting, profiles_profile,);

diesel::table! {
    admin_session (token_hash) {
        token_hash -> Text,
        user_id -> Integer,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(admin_session -> auth_user (user_id));
diesel::allow_tables_to_appear_in_same_query!(admin_session, auth_user);

diesel::table! {
    auth_user_totp (user_id) {
        user_id -> Integer,
        secret -> Text,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    auth_user_recovery_code (id) {
        id -> Integer,
        user_id -> Integer,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(auth_user_totp -> auth_user (user_id));
diesel::joinable!(auth_user_recovery_code -> auth_user (user_id));
diesel::allow_tables_to_appear_in_same_query!(auth_user_totp, auth_user);
diesel::allow_tables_to_appear_in_same_query!(auth_user_recovery_code, auth_user);

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Integer,
        last_failure_ms -> BigInt,
        blocked_until_ms -> BigInt,
    }
}

diesel::table! {
    django_admin_log (id) {
        id -> Integer,
        action_time -> Timestamp,
        user_id -> Nullable<Integer>,
        content_type -> Text,
        object_id -> Nullable<Text>,
        object_repr -> Text,
        action_flag -> SmallInt,
        change_message -> Text,
        username -> Text,
    }
}

diesel::joinable!(django_admin_log -> auth_user (user_id));
diesel::allow_tables_to_appear_in_same_query!(django_admin_log, auth_user);

diesel::table! {
    auth_group (id) {
        id -> Integer,
        name -> Text,
    }
}

diesel::table! {
    auth_group_permissions (group_id, permission) {
        group_id -> Integer,
        permission -> Text,
    }
}

diesel::table! {
    auth_user_groups (user_id, group_id) {
        user_id -> Integer,
        group_id -> Integer,
    }
}

diesel::table! {
    auth_user_user_permissions (user_id, permission) {
        user_id -> Integer,
        permission -> Text,
    }
}

diesel::joinable!(auth_group_permissions -> auth_group (group_id));
diesel::joinable!(auth_user_groups -> auth_group (group_id));
diesel::joinable!(auth_user_groups -> auth_user (user_id));
diesel::joinable!(auth_user_user_permissions -> auth_user (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    auth_group,
    auth_group_permissions,
    auth_user_groups,
    auth_user_user_permissions,
    auth_user
);
