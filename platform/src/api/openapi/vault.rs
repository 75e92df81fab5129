//! The vault's operations in the OpenAPI document (`/api/v1/vault…`, see `api/vault.rs`).

use api_types::vault::{
    VaultApprove, VaultConflict, VaultDesk, VaultInit, VaultJoin, VaultKeys, VaultPush,
    VaultPushed, VaultRecord, VaultRecordsPage, VaultRecover, VaultRotate, VaultStatus,
};
use utoipa::openapi::path::HttpMethod::{Get, Post};

use super::Caller::Agency;
use super::{Builder, after_param, op, path_param, query_param};

/// Refusals every route past the status answers: the calling desk's access.
const ACCESS: (&str, &str) = (
    "403",
    "vault_desk_unknown (register first), vault_access_waiting (approve it on another desk) or vault_access_removed",
);

fn desk_param() -> utoipa::openapi::path::Parameter {
    path_param(
        "desk",
        "^[0-9A-Fa-f]{1,64}$",
        "the desk: the serial of its enrolment certificate (its certificate lineage)",
    )
}

/// Adds the vault's operations.
pub(super) fn operations(b: &mut Builder) {
    let status = b.json::<VaultStatus>();
    b.add(
        op(Get, "/api/v1/vault", Agency, "The agency's vault as the calling desk sees it: epoch, whether a key rotation is due, desks with their state and vault public key, live record count; removes desks whose certificates are all revoked or expired")
            .answer("200", "the status (initialized false before `vault init`)", status.clone()),
    );
    let errors = b.errors(&[
        (
            "400",
            "invalid_json, or invalid_field naming the key, wrap or proof",
        ),
        ("409", "vault_exists"),
    ]);
    let request = b.schema::<VaultInit>();
    b.add(
        op(Post, "/api/v1/vault", Agency, "Create the agency's vault: the calling desk's vault public key and the epoch-1 vault key wrapped (HPKE) for it and for the recovery key, and the recovery proof (only its SHA-256 is kept)")
            .body(request)
            .answer("201", "created", status.clone())
            .answers(errors),
    );
    let desk = b.json::<VaultDesk>();
    let errors = b.errors(&[
        ("400", "invalid_json, or invalid_field public_key"),
        ("403", "vault_access_removed"),
        ("404", "vault_not_found"),
        ("409", "vault_desk_key_mismatch or vault_full"),
    ]);
    let request = b.schema::<VaultJoin>();
    b.add(
        op(Post, "/api/v1/vault/desks", Agency, "Register the calling desk's vault public key; it waits until an approved desk approves it")
            .body(request)
            .answer("200", "already registered with this key", desk.clone())
            .answer("201", "registered, waiting", desk.clone())
            .answers(errors),
    );
    let errors = b.errors(&[
        ("400", "invalid_json, or invalid_field keys (one per epoch)"),
        ACCESS,
        (
            "404",
            "vault_not_found or vault_desk_not_found (also for another agency's desk)",
        ),
        ("409", "vault_desk_not_waiting"),
    ]);
    let request = b.schema::<VaultApprove>();
    b.add(
        op(Post, "/api/v1/vault/desks/{desk}/approve", Agency, "Approve a waiting desk of the agency (after comparing its key's fingerprint), giving it every epoch's vault key wrapped for its vault public key")
            .param(desk_param())
            .body(request)
            .answer("200", "approved", desk.clone())
            .answers(errors),
    );
    let errors = b.errors(&[
        ACCESS,
        (
            "404",
            "vault_not_found or vault_desk_not_found (also for another agency's desk)",
        ),
        ("409", "vault_remove_self"),
    ]);
    b.add(
        op(Post, "/api/v1/vault/desks/{desk}/remove", Agency, "Remove a desk: refused every vault route from now on, its wrapped keys deleted, and a key rotation due before records are accepted again")
            .param(desk_param())
            .answer("200", "removed", desk.clone())
            .answers(errors),
    );
    let keys = b.json::<VaultKeys>();
    let errors = b.errors(&[ACCESS, ("404", "vault_not_found")]);
    b.add(
        op(
            Get,
            "/api/v1/vault/keys",
            Agency,
            "The vault key of every epoch, wrapped for the calling desk",
        )
        .answer("200", "the wrapped keys", keys.clone())
        .answers(errors),
    );
    let errors = b.errors(&[
        (
            "400",
            "invalid_json, or invalid_field keys (exactly the approved desks)",
        ),
        ACCESS,
        ("404", "vault_not_found"),
        (
            "409",
            "vault_epoch_stale (the epoch must be the current one plus one)",
        ),
    ]);
    let request = b.schema::<VaultRotate>();
    b.add(
        op(
            Post,
            "/api/v1/vault/rotate",
            Agency,
            "Start a new key epoch, wrapped for exactly the approved desks and the recovery key",
        )
        .body(request)
        .answer("200", "rotated", status)
        .answers(errors),
    );
    let errors = b.errors(&[("403", "vault_access_removed"), ("404", "vault_not_found")]);
    b.add(
        op(Get, "/api/v1/vault/recovery", Agency, "The vault key of every epoch wrapped for the recovery key (only the recovery key opens them)")
            .answer("200", "the wrapped keys", keys)
            .answers(errors),
    );
    let errors = b.errors(&[
        (
            "400",
            "invalid_json, or invalid_field naming the key, proof or keys",
        ),
        ("403", "vault_wrong_recovery_key or vault_access_removed"),
        ("404", "vault_not_found"),
        ("409", "vault_full"),
    ]);
    let request = b.schema::<VaultRecover>();
    b.add(
        op(Post, "/api/v1/vault/recover", Agency, "Let the calling desk in with the recovery proof, with every epoch's key wrapped for its own vault public key")
            .body(request)
            .answer("200", "approved", desk)
            .answers(errors),
    );
    let page = b.json::<VaultRecordsPage>();
    let errors = b.errors(&[
        (
            "400",
            "invalid_query, or invalid_field naming after or limit",
        ),
        ACCESS,
        ("404", "vault_not_found"),
    ]);
    b.add(
        op(
            Get,
            "/api/v1/vault/records",
            Agency,
            "Records (ciphertext) changed after a sequence number, oldest first",
        )
        .param(after_param("the last record sequence already seen"))
        .param(query_param("limit", 1000, Some(1000), "records per page"))
        .answer("200", "a page; pass next_after as after for the next", page)
        .answers(errors),
    );
    let pushed = b.json::<VaultPushed>();
    let conflict = b.json::<VaultConflict>();
    let errors = b.errors(&[
        ("400", "invalid_json, or invalid_field naming records[i].FIELD (id, size, at most 500 changes)"),
        ACCESS,
        ("404", "vault_not_found, or vault_record_not_found for a change on a record the agency does not have"),
    ]);
    let request = b.schema::<VaultPush>();
    b.add(
        op(Post, "/api/v1/vault/records", Agency, "Store changes, all or none: each on the record's current version (0 for a new record), sealed under the current epoch")
            .body(request)
            .answer("200", "stored, with their new versions and sequences", pushed)
            .answer("409", "vault_conflict with the current records (nothing stored); also vault_rotation_required, vault_epoch_stale or vault_full with the error body", conflict)
            .answers(errors),
    );
    let record = b.json::<VaultRecord>();
    let errors = b.errors(&[
        ("400", "invalid_field id"),
        ACCESS,
        (
            "404",
            "vault_not_found or vault_record_not_found (also for another agency's record)",
        ),
    ]);
    b.add(
        op(
            Get,
            "/api/v1/vault/records/{id}",
            Agency,
            "One record (ciphertext)",
        )
        .param(path_param(
            "id",
            "^[A-Za-z0-9_-]{16,64}$",
            "the record's id",
        ))
        .answer("200", "the record", record)
        .answers(errors),
    );
}
