//! The agency vault over the agency API (`/api/v1/vault…`): every route is scoped to the
//! caller's agency by its certificate, and to its desk (certificate lineage); the rules are in
//! [`crate::vault`]. Records are ciphertext the platform cannot read.

use actix_web::{HttpResponse, web};
use api_types::api::ErrorDetail;
use api_types::vault::{
    VaultApprove, VaultConflict, VaultInit, VaultJoin, VaultKeys, VaultPush, VaultPushed,
    VaultRecordsPage, VaultRecover, VaultRotate,
};

use super::{AuthenticatedAgency, parse_json};
use crate::error::ApiError;
use crate::state::AppState;
use crate::vault::{self, VaultError};

/// Mounts the routes under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/vault", web::get().to(status))
        .route("/vault", web::post().to(init))
        .route("/vault/desks", web::post().to(join))
        .route("/vault/desks/{desk}/approve", web::post().to(approve))
        .route("/vault/desks/{desk}/remove", web::post().to(remove))
        .route("/vault/keys", web::get().to(keys))
        .route("/vault/rotate", web::post().to(rotate))
        .route("/vault/recovery", web::get().to(recovery))
        .route("/vault/recover", web::post().to(recover))
        .route("/vault/records", web::get().to(pull))
        .route("/vault/records", web::post().to(push))
        .route("/vault/records/{id}", web::get().to(record));
}

/// The status and code of each refusal; a conflict is answered with its records (see
/// [`answer`]).
fn api_error(e: VaultError) -> ApiError {
    let message = e.to_string();
    match e {
        VaultError::NotInitialized => ApiError::NotFound {
            code: "vault_not_found",
            message,
        },
        VaultError::DeskNotFound(_) => ApiError::NotFound {
            code: "vault_desk_not_found",
            message,
        },
        VaultError::RecordNotFound(_) => ApiError::NotFound {
            code: "vault_record_not_found",
            message,
        },
        VaultError::AlreadyInitialized => ApiError::Conflict {
            code: "vault_exists",
            message,
        },
        VaultError::DeskNotWaiting { .. } => ApiError::Conflict {
            code: "vault_desk_not_waiting",
            message,
        },
        VaultError::RemoveSelf => ApiError::Conflict {
            code: "vault_remove_self",
            message,
        },
        VaultError::KeyMismatch => ApiError::Conflict {
            code: "vault_desk_key_mismatch",
            message,
        },
        VaultError::Conflict(_) => ApiError::Conflict {
            code: "vault_conflict",
            message,
        },
        VaultError::RotationRequired => ApiError::Conflict {
            code: "vault_rotation_required",
            message,
        },
        VaultError::StaleEpoch { .. } => ApiError::Conflict {
            code: "vault_epoch_stale",
            message,
        },
        VaultError::Full(_) => ApiError::Conflict {
            code: "vault_full",
            message,
        },
        VaultError::UnknownDesk => ApiError::Forbidden {
            code: "vault_desk_unknown",
            message,
        },
        VaultError::Waiting => ApiError::Forbidden {
            code: "vault_access_waiting",
            message,
        },
        VaultError::Removed => ApiError::Forbidden {
            code: "vault_access_removed",
            message,
        },
        VaultError::WrongRecoveryKey => ApiError::Forbidden {
            code: "vault_wrong_recovery_key",
            message,
        },
        VaultError::Invalid { field, message } => ApiError::invalid_field(field, message),
        VaultError::Db(e) => e.into(),
        VaultError::Pool(e) => e.into(),
    }
}

/// Runs `$body` in one write transaction as the calling desk (`$desk`, its certificate
/// lineage) of the calling agency (`$agency`), on either backend (`$c`).
macro_rules! in_vault {
    ($state:expr, $caller:expr, |$c:ident, $agency:ident, $desk:ident| $body:expr) => {{
        let $agency = $caller.agency.id;
        let serial = $caller.serial.clone();
        $state
            .db
            .run(move |conn| {
                crate::write_tx!(conn, |$c| {
                    let $desk = vault::caller_desk($c, &serial)?;
                    $body
                })
            })
            .await
    }};
}

fn answer<T: serde::Serialize>(
    result: Result<T, VaultError>,
    ok: impl FnOnce(&T) -> HttpResponse,
) -> Result<HttpResponse, ApiError> {
    match result {
        Ok(value) => Ok(ok(&value)),
        Err(VaultError::Conflict(conflicts)) => Ok(HttpResponse::Conflict().json(VaultConflict {
            error: ErrorDetail {
                code: "vault_conflict".into(),
                message: format!(
                    "{} record(s) changed since your desk last synced; nothing was stored: sync \
                     again, and choose a side for each conflict",
                    conflicts.len()
                ),
                field: None,
                canonical_sha256: None,
                current_version: None,
                current: None,
            },
            conflicts,
        })),
        Err(e) => Err(api_error(e)),
    }
}

async fn status(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
) -> Result<HttpResponse, ApiError> {
    let result = in_vault!(state, caller, |c, agency, desk| vault::status(
        c, agency, &desk
    ));
    answer(result, |s| HttpResponse::Ok().json(s))
}

async fn init(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: VaultInit = parse_json(&body)?;
    let result = in_vault!(state, caller, |c, agency, desk| vault::init(
        c, agency, &desk, &request
    ));
    answer(result, |s| HttpResponse::Created().json(s))
}

async fn join(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: VaultJoin = parse_json(&body)?;
    let result = in_vault!(state, caller, |c, agency, desk| vault::join(
        c,
        agency,
        &desk,
        &request.public_key
    ));
    answer(result, |(desk, created)| {
        if *created {
            HttpResponse::Created().json(desk)
        } else {
            HttpResponse::Ok().json(desk)
        }
    })
}

async fn approve(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    target: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: VaultApprove = parse_json(&body)?;
    let target = target.into_inner();
    let result = in_vault!(state, caller, |c, agency, desk| vault::approve(
        c,
        agency,
        &desk,
        &target,
        &request.keys
    ));
    answer(result, |d| HttpResponse::Ok().json(d))
}

async fn remove(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    target: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let target = target.into_inner();
    let result = in_vault!(state, caller, |c, agency, desk| vault::remove(
        c, agency, &desk, &target
    ));
    answer(result, |d| HttpResponse::Ok().json(d))
}

async fn keys(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
) -> Result<HttpResponse, ApiError> {
    let result = in_vault!(state, caller, |c, agency, desk| vault::desk_keys(
        c, agency, &desk
    ));
    answer(result, |keys| {
        HttpResponse::Ok().json(VaultKeys { keys: keys.clone() })
    })
}

async fn rotate(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: VaultRotate = parse_json(&body)?;
    let result = in_vault!(state, caller, |c, agency, desk| vault::rotate(
        c, agency, &desk, &request
    ));
    answer(result, |s| HttpResponse::Ok().json(s))
}

async fn recovery(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
) -> Result<HttpResponse, ApiError> {
    let result = in_vault!(state, caller, |c, agency, desk| vault::recovery_keys(
        c, agency, &desk
    ));
    answer(result, |keys| {
        HttpResponse::Ok().json(VaultKeys { keys: keys.clone() })
    })
}

async fn recover(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: VaultRecover = parse_json(&body)?;
    let result = in_vault!(state, caller, |c, agency, desk| vault::recover(
        c, agency, &desk, &request
    ));
    answer(result, |d| HttpResponse::Ok().json(d))
}

async fn pull(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = super::changes_query(req.query_string())?;
    let (after, limit) = (q.after, q.limit.unwrap_or(vault::MAX_PAGE));
    let result = in_vault!(state, caller, |c, agency, desk| vault::pull(
        c, agency, &desk, after, limit
    ));
    answer(result, |(records, has_more)| {
        HttpResponse::Ok().json(VaultRecordsPage {
            next_after: records.last().map_or(after, |r| r.sequence),
            records: records.clone(),
            has_more: *has_more,
        })
    })
}

async fn push(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: VaultPush = parse_json(&body)?;
    let result = in_vault!(state, caller, |c, agency, desk| vault::push(
        c,
        agency,
        &desk,
        &request.records
    ));
    answer(result, |records| {
        HttpResponse::Ok().json(VaultPushed {
            records: records.clone(),
        })
    })
}

async fn record(
    state: web::Data<AppState>,
    caller: AuthenticatedAgency,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let result = in_vault!(state, caller, |c, agency, desk| vault::record(
        c, agency, &desk, &id
    ));
    answer(result, |r| HttpResponse::Ok().json(r))
}
