//! Extractors for what every admin handler needs first, so that no handler can forget it
//! (as zero2prod's `TypedSession`/`reject_anonymous_users` do): [`StaffUser`] is the
//! logged-in staff member (or a redirect to the login page), [`StaffForm`] a POSTed form
//! whose CSRF token is that session's, [`AnonymousForm`] the login form checked against
//! the signed CSRF cookie.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::request::{check_anonymous_csrf, check_csrf, current_staff, full_path, parse_form};
use super::session::StaffSession;
use crate::errors::AppError;
use crate::forms::Form;
use crate::state::AppState;

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::BadRequest("the site's state is missing".into()))
}

/// The logged-in staff member. Anonymous: [`AppError::LoginRequired`], a redirect to the
/// login page and back here afterwards.
#[derive(Debug, Clone)]
pub struct StaffUser(pub StaffSession);

impl FromRequest for StaffUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            let staff = current_staff(&req, &state)
                .await?
                .ok_or_else(|| AppError::LoginRequired {
                    location: super::urls::login_then(&full_path(&req)),
                })?;
            // A superuser the setting requires a second factor of sets one up first.
            if !super::two_factor::open_before_enrolment(req.path())
                && super::two_factor::must_enrol(&state, &staff).await?
            {
                return Err(AppError::LoginRequired {
                    location: super::urls::TWO_FACTOR.to_owned(),
                });
            }
            Ok(StaffUser(staff))
        })
    }
}

/// A POSTed admin form from a logged-in staff member, its CSRF token checked against the
/// session's (a 403 page otherwise, before the handler runs).
#[derive(Debug, Clone)]
pub struct StaffForm {
    pub staff: StaffSession,
    pub form: Form,
}

impl FromRequest for StaffForm {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let staff = StaffUser::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let StaffUser(staff) = staff.await?;
            let body = body.await.map_err(|err| AppError::BadRequest(err.to_string()))?;
            let form = parse_form(&body)?;
            check_csrf(&staff, &form)?;
            Ok(StaffForm { staff, form })
        })
    }
}

/// A POSTed form before login (the login form): its CSRF token must be the one in the
/// signed `oc_csrf` cookie.
#[derive(Debug, Clone)]
pub struct AnonymousForm(pub Form);

impl FromRequest for AnonymousForm {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = app_state(&req)?;
            let body = body.await.map_err(|err| AppError::BadRequest(err.to_string()))?;
            let form = parse_form(&body)?;
            check_anonymous_csrf(&req, &state, &form)?;
            Ok(AnonymousForm(form))
        })
    }
}
