//! Django's per-model permissions: `view`, `add`, `change` and `delete` on each model, given
//! to a staff user directly or through their groups; superusers have them all. A
//! permission is named as Django's `user.has_perm` names it, `app.codename`
//! (`lettings.change_letting`). Models only superusers manage (users, groups) have no
//! permissions to give: no staff member can be given the means to promote itself.

use std::collections::BTreeSet;

use diesel::prelude::*;

use super::model::{registry, ModelMeta};
use crate::db::schema::{auth_group_permissions, auth_user_groups, auth_user_user_permissions};
use crate::db::{DbConnection, DbError};

/// What a permission allows on a model (Django's four default permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    View,
    Add,
    Change,
    Delete,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Add, Action::Change, Action::Delete, Action::View];

    fn verb(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Add => "add",
            Action::Change => "change",
            Action::Delete => "delete",
        }
    }
}

/// `app.codename` of `action` on the model (`lettings.view_letting`).
pub fn codename(meta: &ModelMeta, action: Action) -> String {
    format!("{}.{}_{}", meta.app, action.verb(), meta.name)
}

/// Every permission that can be given, with Django's label ("Lettings | letting | Can
/// view letting"), in the admin's order.
pub fn choices() -> Vec<(String, String)> {
    registry()
        .into_iter()
        .map(|model| model.meta())
        .filter(|meta| !meta.superuser_only)
        .flat_map(|meta| {
            Action::ALL.into_iter().map(move |action| {
                (
                    codename(meta, action),
                    format!(
                        "{} | {} | Can {} {}",
                        meta.app_label,
                        meta.verbose,
                        action.verb(),
                        meta.verbose
                    ),
                )
            })
        })
        .collect()
}

/// Whether `permission` is one that can be given.
pub fn is_known(permission: &str) -> bool {
    choices().iter().any(|(name, _)| name == permission)
}

/// What one staff member may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    superuser: bool,
    granted: BTreeSet<String>,
}

impl Permissions {
    pub fn superuser() -> Self {
        Permissions {
            superuser: true,
            granted: BTreeSet::new(),
        }
    }

    pub fn granted(granted: impl IntoIterator<Item = String>) -> Self {
        Permissions {
            superuser: false,
            granted: granted.into_iter().collect(),
        }
    }

    /// Whether `action` on the model is allowed (Django's `ModelAdmin.has_*_permission`).
    pub fn may(&self, meta: &ModelMeta, action: Action) -> bool {
        self.superuser || (!meta.superuser_only && self.granted.contains(&codename(meta, action)))
    }

    /// Whether the model's list and its objects' pages may be seen: `view` or `change`,
    /// as Django's `has_view_permission` has it.
    pub fn may_view(&self, meta: &ModelMeta) -> bool {
        self.may(meta, Action::View) || self.may(meta, Action::Change)
    }

    /// Whether the model shows on the index at all (any of the four).
    pub fn may_see(&self, meta: &ModelMeta) -> bool {
        Action::ALL.into_iter().any(|action| self.may(meta, action))
    }
}

/// What `user_id` has been given, directly and through their groups.
pub fn load(conn: &mut DbConnection, user_id: i32) -> Result<Permissions, DbError> {
    let mut granted: Vec<String> = auth_user_user_permissions::table
        .filter(auth_user_user_permissions::user_id.eq(user_id))
        .select(auth_user_user_permissions::permission)
        .load(conn)?;
    let through_groups: Vec<String> = auth_group_permissions::table
        .inner_join(auth_user_groups::table.on(auth_user_groups::group_id.eq(auth_group_permissions::group_id)))
        .filter(auth_user_groups::user_id.eq(user_id))
        .select(auth_group_permissions::permission)
        .load(conn)?;
    granted.extend(through_groups);
    Ok(Permissions::granted(granted))
}

/// The permissions given to `user_id` directly.
pub fn of_user(conn: &mut DbConnection, user_id: i32) -> Result<Vec<String>, DbError> {
    Ok(auth_user_user_permissions::table
        .filter(auth_user_user_permissions::user_id.eq(user_id))
        .select(auth_user_user_permissions::permission)
        .order(auth_user_user_permissions::permission)
        .load(conn)?)
}

/// Gives `user_id` exactly `permissions` (directly; their groups' stay as they are).
pub fn set_for_user(conn: &mut DbConnection, user_id: i32, permissions: &[String]) -> Result<(), DbError> {
    diesel::delete(auth_user_user_permissions::table.filter(auth_user_user_permissions::user_id.eq(user_id)))
        .execute(conn)?;
    for permission in permissions {
        diesel::insert_into(auth_user_user_permissions::table)
            .values((
                auth_user_user_permissions::user_id.eq(user_id),
                auth_user_user_permissions::permission.eq(permission),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The permissions of group `group_id`.
pub fn of_group(conn: &mut DbConnection, group_id: i32) -> Result<Vec<String>, DbError> {
    Ok(auth_group_permissions::table
        .filter(auth_group_permissions::group_id.eq(group_id))
        .select(auth_group_permissions::permission)
        .order(auth_group_permissions::permission)
        .load(conn)?)
}

/// Gives group `group_id` exactly `permissions`.
pub fn set_for_group(conn: &mut DbConnection, group_id: i32, permissions: &[String]) -> Result<(), DbError> {
    diesel::delete(auth_group_permissions::table.filter(auth_group_permissions::group_id.eq(group_id)))
        .execute(conn)?;
    for permission in permissions {
        diesel::insert_into(auth_group_permissions::table)
            .values((
                auth_group_permissions::group_id.eq(group_id),
                auth_group_permissions::permission.eq(permission),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The ids of the groups `user_id` belongs to.
pub fn groups_of(conn: &mut DbConnection, user_id: i32) -> Result<Vec<i32>, DbError> {
    Ok(auth_user_groups::table
        .filter(auth_user_groups::user_id.eq(user_id))
        .select(auth_user_groups::group_id)
        .order(auth_user_groups::group_id)
        .load(conn)?)
}

/// Makes `user_id` a member of exactly `groups`.
pub fn set_groups(conn: &mut DbConnection, user_id: i32, groups: &[i32]) -> Result<(), DbError> {
    diesel::delete(auth_user_groups::table.filter(auth_user_groups::user_id.eq(user_id))).execute(conn)?;
    for group in groups {
        diesel::insert_into(auth_user_groups::table)
            .values((
                auth_user_groups::user_id.eq(user_id),
                auth_user_groups::group_id.eq(group),
            ))
            .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::model::find;

    fn meta(app: &str, name: &str) -> &'static ModelMeta {
        find(app, name).map(|m| m.meta()).expect("registered model")
    }

    #[test]
    fn the_choices_are_the_four_permissions_of_each_model_staff_may_be_given() {
        let names: Vec<String> = choices().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names.len(), 12);
        assert!(names.contains(&"lettings.view_letting".to_owned()));
        assert!(names.contains(&"profiles.delete_profile".to_owned()));
        assert!(!names.iter().any(|n| n.starts_with("auth.")), "{names:?}");
        assert_eq!(
            choices()[0],
            (
                "lettings.add_address".to_owned(),
                "Lettings | address | Can add address".to_owned()
            )
        );
        assert!(is_known("lettings.change_address"));
        assert!(!is_known("auth.change_user"));
    }

    #[test]
    fn view_or_change_lets_a_model_be_seen_and_nothing_else_is_implied() {
        let letting = meta("lettings", "letting");
        let viewer = Permissions::granted(["lettings.view_letting".to_owned()]);
        assert!(viewer.may_view(letting) && viewer.may_see(letting));
        assert!(!viewer.may(letting, Action::Change));
        assert!(!viewer.may(letting, Action::Delete));
        assert!(!viewer.may_see(meta("lettings", "address")));

        let changer = Permissions::granted(["lettings.change_letting".to_owned()]);
        assert!(changer.may_view(letting));
        assert!(!changer.may(letting, Action::Add));

        let adder = Permissions::granted(["lettings.add_letting".to_owned()]);
        assert!(adder.may_see(letting) && !adder.may_view(letting));
    }

    #[test]
    fn superusers_have_everything_and_no_grant_opens_users_to_staff() {
        let users = meta("auth", "user");
        assert!(Permissions::superuser().may(users, Action::Delete));
        let staff = Permissions::granted(["auth.change_user".to_owned(), "auth.view_user".to_owned()]);
        assert!(!staff.may_see(users));
        assert!(Permissions::default() == Permissions::granted([]));
        assert!(!Permissions::default().may_see(meta("profiles", "profile")));
    }
}
