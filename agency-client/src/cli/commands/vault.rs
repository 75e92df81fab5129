//! `vault …`: the agency vault, customers synced end-to-end encrypted between the agency's
//! desks. `init`, `status`, `approve`, `remove`, `recover` and `sync` need the platform (without
//! it: "nothing was done", exit status 3; customer changes stay queued here); `conflicts` and
//! `resolve` work on this desk alone (what is kept goes at the next sync).

use serde_json::json;

use super::open_session_keeping_passphrase;
use crate::cli::Cli;
use crate::cli::args::VaultCommand;
use crate::cli::render::Output;
use crate::db::Store;
use crate::error::ClientError;
use crate::identity::Session;
use crate::vault::{self, ConflictView, DeskView, Keep, VaultOverview, VaultSyncReport};

/// Runs a `vault` command.
pub fn run(store: &mut Store, cli: &Cli, cmd: &VaultCommand) -> Result<Output, ClientError> {
    match cmd {
        VaultCommand::Conflicts => return Ok(conflicts(&vault::conflicts(store.conn())?)),
        VaultCommand::Resolve { id, keep } => {
            let keep = if keep == "mine" {
                Keep::Mine
            } else {
                Keep::Theirs
            };
            let view = vault::resolve(store.conn(), id, keep)?;
            let side = if keep == Keep::Mine {
                "yours"
            } else {
                "theirs"
            };
            return Ok(Output {
                exit: 0,
                json: json!({"resolved": view, "kept": if keep == Keep::Mine { "mine" } else { "theirs" }}),
                text: format!(
                    "conflict {} settled: {side} kept{}",
                    view.id,
                    if keep == Keep::Mine {
                        "; it is sent at the next sync"
                    } else {
                        ""
                    }
                ),
            });
        }
        _ => {}
    }
    let what = match cmd {
        VaultCommand::Init => "the vault was not created",
        VaultCommand::Status => "the vault's state was not read",
        VaultCommand::Approve { .. } => "the desk was not approved",
        VaultCommand::Remove { .. } => "the desk was not removed",
        VaultCommand::Recover => "this desk was not let in",
        _ => "the vault was not synced; customer changes stay queued on this desk",
    };
    let recovery_key = match cmd {
        VaultCommand::Recover => Some(recovery_key_from_env_or_prompt()?),
        _ => None,
    };
    let (mut session, passphrase) = open_session_keeping_passphrase(store, cli)?;
    let result = match cmd {
        VaultCommand::Init => vault::init(store, &mut session, &passphrase).map(|done| {
            let mut text = format!(
                "vault created; this desk's fingerprint is {}.\n\nRECOVERY KEY (shown this once; \
                 write it down and keep it offline; it lets a new desk in when no desk with \
                 access is left):\n\n    {}\n",
                done.sync.fingerprint.as_deref().unwrap_or("-"),
                done.recovery_key
            );
            text.push('\n');
            text.push_str(&sync_text(&done.sync));
            Output {
                exit: 0,
                json: json!({"recovery_key": done.recovery_key, "sync": done.sync}),
                text,
            }
        }),
        VaultCommand::Status => vault::status(store, &mut session, &passphrase).map(|s| status(&s)),
        VaultCommand::Approve { desk } => vault::approve(store, &mut session, &passphrase, desk)
            .map(|d| Output {
                exit: 0,
                text: format!(
                    "desk {} (fingerprint {}) approved: it reads the vault at its next sync",
                    d.desk, d.fingerprint
                ),
                json: json!({"approved": d}),
            }),
        VaultCommand::Remove { desk } => {
            vault::remove(store, &mut session, &passphrase, desk).map(|r| Output {
                exit: 0,
                text: format!(
                    "desk {} (fingerprint {}) removed: the platform refuses it from now on\n{}",
                    r.desk.desk,
                    r.desk.fingerprint,
                    match &r.sync_problem {
                        None => sync_text(&r.sync),
                        Some(problem) => format!(
                            "the vault did not sync afterwards ({problem}); the key is rotated \
                             at the next sync of a desk with access"
                        ),
                    }
                ),
                json: json!({"removed": r.desk, "sync": r.sync, "sync_problem": r.sync_problem}),
            })
        }
        VaultCommand::Recover => vault::recover(
            store,
            &mut session,
            &passphrase,
            recovery_key.as_deref().unwrap_or_default(),
        )
        .map(|r| Output {
            exit: 0,
            text: format!("this desk is in the vault again\n{}", sync_text(&r)),
            json: json!({"sync": r}),
        }),
        _ => vault::sync(store, &mut session, &passphrase).map(|r| Output {
            exit: 0,
            text: sync_text(&r),
            json: json!({"vault": r}),
        }),
    };
    result.map_err(|e| e.nothing_done(what))
}

/// `sync`'s output with the vault's sync added (`"vault"` in JSON, a line in text). A vault
/// that cannot sync does not undo the listings' sync: the problem is reported in its place.
pub fn after_sync(
    store: &mut Store,
    session: &mut Session,
    passphrase: &str,
    mut output: Output,
) -> Output {
    let (json, text) = match vault::sync(store, session, passphrase) {
        Ok(report) => (json!(report), sync_text(&report)),
        Err(e) => (
            json!({"error": {"code": e.code(), "message": e.to_string()}}),
            format!("vault: not synced: {e}"),
        ),
    };
    if let Some(object) = output.json.as_object_mut() {
        object.insert("vault".into(), json);
    }
    if !output.text.is_empty() {
        output.text.push('\n');
    }
    output.text.push_str(&text);
    output
}

fn recovery_key_from_env_or_prompt() -> Result<String, ClientError> {
    if let Ok(key) = std::env::var("AGENCY_CLIENT_RECOVERY_KEY") {
        return Ok(key);
    }
    rpassword::prompt_password("Recovery key: ").map_err(|e| {
        ClientError::input(
            "recovery key",
            format!("set AGENCY_CLIENT_RECOVERY_KEY or run from a terminal ({e})"),
        )
    })
}

fn sync_text(r: &VaultSyncReport) -> String {
    let mut lines = Vec::new();
    match r.state.as_str() {
        "none" => lines.push(
            "vault: your agency has no vault yet (`agency-client vault init` creates it)".into(),
        ),
        "waiting" => lines.push(format!(
            "vault: this desk waits for access; on a desk with access compare the fingerprint \
             {} and run `agency-client vault approve {}`",
            r.fingerprint.as_deref().unwrap_or("-"),
            r.fingerprint.as_deref().unwrap_or(&r.desk)
        )),
        "removed" => lines.push(
            "vault: this desk was removed from the vault; its customers stay here but no longer sync"
                .into(),
        ),
        _ => lines.push(format!(
            "vault: {} pulled ({} applied), {} sent, epoch {}{}",
            r.pulled,
            r.applied,
            r.pushed,
            r.epoch,
            r.rotated_to
                .map(|e| format!(" (key rotated to epoch {e})"))
                .unwrap_or_default()
        )),
    }
    if r.open_conflicts > 0 {
        lines.push(format!(
            "vault: {} conflict(s) wait for you ({} new): `agency-client vault conflicts`",
            r.open_conflicts, r.new_conflicts
        ));
    }
    for id in &r.refused {
        lines.push(format!(
            "WARNING vault record {id} did not authenticate (tampered with, or sealed under a key \
             this desk lacks): not applied, nothing changed here"
        ));
    }
    for d in &r.waiting {
        lines.push(format!(
            "vault: desk {} waits for access (fingerprint {}): compare it, then `agency-client \
             vault approve {}`",
            d.desk, d.fingerprint, d.fingerprint
        ));
    }
    for w in &r.unwatched {
        lines.push(format!(
            "vault: saved search {w} deleted on the platform (its tenant was removed or \
             unwatched on another desk)"
        ));
    }
    lines.join("\n")
}

fn desk_line(d: &DeskView) -> String {
    format!(
        "{:<40} {:<9} {}{}",
        d.desk,
        d.state.code(),
        d.fingerprint,
        if d.this_desk { "  (this desk)" } else { "" }
    )
}

fn status(s: &VaultOverview) -> Output {
    let mut text = if s.initialized {
        format!(
            "vault: epoch {}{}; this desk {} is {} (fingerprint {})\n{} record(s) on the platform; \
             here: {} customer(s), {} change(s) waiting, {} conflict(s)\n",
            s.epoch,
            if s.rotation_required {
                " (key rotation due at the next sync)"
            } else {
                ""
            },
            s.desk,
            s.state,
            s.fingerprint.as_deref().unwrap_or("-"),
            s.records,
            s.local.customers,
            s.local.pending,
            s.local.conflicts
        )
    } else {
        "vault: your agency has no vault yet (`agency-client vault init` creates it)\n".into()
    };
    for d in &s.desks {
        text.push_str(&desk_line(d));
        text.push('\n');
    }
    if let Some(note) = &s.last_sync_note {
        text.push_str(&format!("last sync: {note}\n"));
    }
    Output {
        exit: 0,
        json: json!(s),
        text: text.trim_end().to_owned(),
    }
}

fn side(record: Option<&crate::customers::synced::CustomerRecord>) -> String {
    match record {
        None => "(removed)".into(),
        Some(r) => format!("{} {} <{}>", r.kind, r.name, r.contact),
    }
}

fn conflicts(list: &[ConflictView]) -> Output {
    let text = if list.is_empty() {
        "no conflicts".to_owned()
    } else {
        list.iter()
            .map(|c| {
                format!(
                    "{}\n  mine:   {}\n  theirs: {}",
                    c.id,
                    side(c.mine.as_ref()),
                    side(c.theirs.as_ref())
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Output {
        exit: 0,
        json: json!({"conflicts": list}),
        text,
    }
}
