//! The one shape of every console action: an operator fully signed in (password and TOTP code),
//! the form's CSRF token, one function of [`crate::admin`] run with the operator's audit
//! identity, then a `303` to the record's page with a `?done=` code ([`super::notice`] words
//! it); or, when the action was refused (wrong state, bad input), the record's page again with
//! the refusal at the top (`422`) and nothing changed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::session::{ConsoleVisitor, operator};
use super::{ConsoleError, Layout, see_other};
use crate::audit::Actor;
use crate::db::DbConn;
use crate::state::AppState;

/// Where an action's outcome is shown: the record's page.
#[derive(Debug, Clone)]
pub struct ActionPage {
    /// The page's path (`/agencies/3`); the redirect adds `?done=CODE`.
    pub path: String,
    /// Its title, while the refusal is shown.
    pub title: &'static str,
    /// Its navigation entry.
    pub section: &'static str,
}

impl ActionPage {
    /// The page at `path`, titled `title` under the navigation entry `section`.
    pub fn new(path: String, title: &'static str, section: &'static str) -> ActionPage {
        ActionPage {
            path,
            title,
            section,
        }
    }
}

/// Runs `action` for the operator posting `csrf`, then answers as the module documentation
/// says. `action` runs on a database connection (off the async threads) and returns the `done`
/// code; it refuses with [`ConsoleError::Invalid`] (what [`crate::admin::AdminError::Refused`]
/// and `Invalid` become), which `refused` renders on the page with the status given.
pub async fn perform<A, R>(
    state: &AppState,
    req: &HttpRequest,
    csrf: &str,
    page: ActionPage,
    action: A,
    refused: R,
) -> Result<HttpResponse, ConsoleError>
where
    A: FnOnce(&mut DbConn, &Actor) -> Result<&'static str, ConsoleError> + Send + 'static,
    R: AsyncFnOnce(&ConsoleVisitor, Layout, StatusCode) -> Result<HttpResponse, ConsoleError>,
{
    let (visitor, actor) = operator(state, req).await?;
    visitor.check_csrf(csrf)?;
    let outcome = state
        .db
        .run(move |conn| -> Result<_, ConsoleError> { Ok(action(conn, &actor)) })
        .await?;
    match outcome {
        Ok(done) => Ok(see_other(&format!("{}?done={done}", page.path))),
        Err(ConsoleError::Invalid(why)) => {
            let mut layout = visitor.layout(page.title, page.section);
            layout.refusal = Some(why);
            refused(&visitor, layout, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other),
    }
}
