DROP TABLE auth_user_recovery_code;
DROP TABLE auth_user_totp;
