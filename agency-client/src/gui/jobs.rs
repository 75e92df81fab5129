//! Work that talks to the platform runs on a background thread with its own database
//! connection; the window polls its shared state each frame and shows the progress.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use api_types::search::SearchCriteria;

use crate::db::Store;
use crate::error::ClientError;
use crate::feed::PullWarningKind;
use crate::identity::Session;
use crate::search::{RemotePage, RemoteSearchResult};
use crate::{customers, feed, listings, search};

/// What a background job does.
#[derive(Debug, Clone, PartialEq)]
pub enum JobKind {
    /// Ask how many updates wait on the platform.
    CountUpdates,
    /// Queue local changes, send the queue, then pull everyone's listings.
    PublishAndPull,
    /// Renew the desk's certificate now.
    Renew,
    /// Search every agency's listings on the platform and check their signatures.
    RemoteSearch(SearchCriteria),
    /// Keep a tenant's wishes on the platform as the agency's saved search (or renew it).
    Watch {
        /// The tenant.
        id: i32,
        /// Their name, for the messages.
        name: String,
    },
    /// Approve a desk waiting for access to the vault (named by its fingerprint).
    VaultApprove {
        /// The fingerprint staff compared.
        fingerprint: String,
    },
    /// Remove a desk from the vault (it loses access; the key is rotated at once).
    VaultRemove {
        /// The desk (its certificate lineage).
        desk: String,
        /// Its fingerprint, for the messages.
        fingerprint: String,
    },
    /// Delete a watched customer's saved search on the platform, then the customer here.
    Remove {
        /// The customer.
        id: i32,
        /// Their name, for the messages.
        name: String,
    },
}

impl JobKind {
    /// True for work that leaves nothing queued when the platform cannot be reached (the usual
    /// words promise that queued changes are sent later).
    pub fn queues_nothing(&self) -> bool {
        matches!(
            self,
            JobKind::Watch { .. }
                | JobKind::Remove { .. }
                | JobKind::VaultApprove { .. }
                | JobKind::VaultRemove { .. }
        )
    }

    /// What to tell the user when the platform at `url` could not be reached.
    pub fn unreachable_words(&self, url: &str) -> String {
        match self {
            JobKind::Watch { name, .. } => format!(
                "Cannot reach the platform at {url}, so {name} is not watched there yet. Try \
                 again when it answers."
            ),
            JobKind::VaultApprove { fingerprint } => format!(
                "Cannot reach the platform at {url}, so the desk {fingerprint} was not approved; \
                 nothing was done. Try again when it answers."
            ),
            JobKind::Remove { name, .. } => format!(
                "Cannot reach the platform at {url} to delete {name}'s saved search there, so \
                 nothing was removed. Try again when it answers."
            ),
            JobKind::VaultRemove { fingerprint, .. } => format!(
                "Cannot reach the platform at {url}, so the desk {fingerprint} was not removed \
                 from the vault; nothing was done. Try again when it answers."
            ),
            _ => format!(
                "Cannot reach the platform at {url}; your changes are kept and will be sent when \
                 it answers."
            ),
        }
    }

    /// What the user sees while it runs.
    pub fn title(&self) -> &'static str {
        match self {
            JobKind::CountUpdates => "Asking the platform for updates…",
            JobKind::PublishAndPull => "Publishing queued changes and pulling updates…",
            JobKind::Renew => "Renewing the certificate…",
            JobKind::RemoteSearch(_) => "Searching on the platform…",
            JobKind::Watch { .. } => "Watching the wishes on the platform…",
            JobKind::VaultApprove { .. } => "Approving the desk in the vault…",
            JobKind::VaultRemove { .. } => "Removing the desk from the vault…",
            JobKind::Remove { .. } => {
                "Removing the customer and their saved search on the platform…"
            }
        }
    }
}

/// What a finished job reports.
#[derive(Debug, Clone)]
pub enum JobDone {
    /// Updates waiting on the platform.
    Count(i64),
    /// A sync finished; a summary in plain words.
    Synced(String),
    /// The certificate was renewed.
    Renewed(String),
    /// A search on the platform answered (signatures checked).
    Found(Box<RemoteSearchResult>),
    /// A tenant is watched on the platform; a summary in plain words.
    Watched(String),
    /// A customer was removed here and on the platform; a summary in plain words.
    Removed(String),
    /// A desk was let into the vault; a summary in plain words.
    VaultApproved(String),
    /// A desk was removed from the vault (and the key rotated); a summary, and the sync.
    VaultRemoved(String, Box<crate::vault::VaultSyncReport>),
}

/// State shared between the window and the job's thread.
#[derive(Debug, Default)]
pub struct JobState {
    /// The current step, in plain words.
    pub phase: String,
    /// Updates applied so far.
    pub done: usize,
    /// Updates expected (0 when not known yet).
    pub total: i64,
    /// Set when the job is over.
    pub outcome: Option<Result<JobDone, ClientError>>,
    /// The vault's sync, when the job synced it.
    pub vault: Option<crate::vault::VaultSyncReport>,
}

/// A running (or just finished) job.
#[derive(Debug)]
pub struct Job {
    /// What it does.
    pub kind: JobKind,
    /// Its shared state.
    pub state: Arc<Mutex<JobState>>,
}

impl Job {
    /// Starts `kind` on a new thread; `repaint` is called whenever there is news to show.
    pub fn start(
        kind: JobKind,
        data_dir: PathBuf,
        servers: Vec<String>,
        passphrase: String,
        repaint: impl Fn() + Send + 'static,
    ) -> Job {
        let state = Arc::new(Mutex::new(JobState {
            phase: "Unlocking the key…".into(),
            ..JobState::default()
        }));
        let shared = Arc::clone(&state);
        let job_kind = kind.clone();
        std::thread::spawn(move || {
            let outcome = run(
                job_kind,
                &data_dir,
                &servers,
                &passphrase,
                &shared,
                &repaint,
            );
            if let Ok(mut s) = shared.lock() {
                s.outcome = Some(outcome);
            }
            repaint();
        });
        Job { kind, state }
    }

    /// The outcome, once the job is over (taken: returned once).
    pub fn take_outcome(&self) -> Option<Result<JobDone, ClientError>> {
        self.state.lock().ok()?.outcome.take()
    }
}

fn set_phase(shared: &Mutex<JobState>, phase: &str, repaint: &dyn Fn()) {
    if let Ok(mut s) = shared.lock() {
        s.phase = phase.to_owned();
    }
    repaint();
}

fn run(
    kind: JobKind,
    data_dir: &std::path::Path,
    servers: &[String],
    passphrase: &str,
    shared: &Mutex<JobState>,
    repaint: &dyn Fn(),
) -> Result<JobDone, ClientError> {
    let mut store = Store::open(data_dir)?;
    set_phase(shared, "Connecting to the platform…", repaint);
    let mut session = Session::open(&mut store, passphrase, servers)?;
    match kind {
        JobKind::RemoteSearch(criteria) => {
            set_phase(
                shared,
                "Searching and checking each agency's signature…",
                repaint,
            );
            let found = search::search_remote(
                store.conn(),
                &mut session,
                &criteria,
                RemotePage {
                    per_page: 50,
                    ..RemotePage::default()
                },
            )?;
            Ok(JobDone::Found(Box::new(found)))
        }
        JobKind::Watch { id, name } => {
            set_phase(shared, "Saving the wishes on the platform…", repaint);
            let saved = customers::watch(store.conn(), &mut session, id)?;
            let until = saved.expires_at.date();
            Ok(JobDone::Watched(format!(
                "{name}'s wishes are watched on the platform as \"{}\" until {until}: listings \
                 from every agency that fit are emailed to the agency, naming that handle, while \
                 this desk is off.",
                saved.name
            )))
        }
        JobKind::Remove { id, name } => {
            set_phase(
                shared,
                "Deleting the saved search on the platform…",
                repaint,
            );
            let removed = customers::unwatch_and_remove(store.conn(), &mut session, id)?;
            Ok(JobDone::Removed(format!(
                "{name} was removed from this desk with {} hint(s), and their saved search on \
                 the platform was deleted.",
                removed.hints
            )))
        }
        JobKind::VaultApprove { fingerprint } => {
            set_phase(shared, "Wrapping the vault key for the desk…", repaint);
            let desk = crate::vault::approve(&mut store, &mut session, passphrase, &fingerprint)?;
            Ok(JobDone::VaultApproved(format!(
                "Desk {} (fingerprint {}) is approved: it reads the customers at its next sync.",
                desk.desk, desk.fingerprint
            )))
        }
        JobKind::VaultRemove { desk, .. } => {
            set_phase(
                shared,
                "Removing the desk and sealing the customers anew…",
                repaint,
            );
            let removed = crate::vault::remove(&mut store, &mut session, passphrase, &desk)?;
            Ok(JobDone::VaultRemoved(
                format!(
                    "Desk {} (fingerprint {}) was removed from the vault: the key was rotated \
                     (epoch {}) and it cannot read customers written from now on.",
                    removed.desk.desk, removed.desk.fingerprint, removed.sync.epoch
                ),
                Box::new(removed.sync),
            ))
        }
        JobKind::CountUpdates => Ok(JobDone::Count(feed::count(&mut store, &mut session)?.count)),
        JobKind::Renew => {
            session.renew(&mut store, passphrase)?;
            Ok(JobDone::Renewed(format!(
                "The certificate was renewed; new serial {}.",
                session.identity.serial
            )))
        }
        JobKind::PublishAndPull => {
            set_phase(shared, "Publishing your changes…", repaint);
            let queued = listings::queue_changes(store.conn(), &[])?;
            let resigning = listings::queue_resigning(store.conn(), &mut session)?;
            let sent = listings::drain(store.conn(), &mut session)?;
            set_phase(shared, "Pulling updates…", repaint);
            let pulled = feed::pull(&mut store, &mut session, &mut |done, total| {
                if let Ok(mut s) = shared.lock() {
                    s.done = done;
                    s.total = total;
                }
                repaint();
            })?;
            let mut text = format!(
                "{} change(s) queued, {} sent, {} refused by the platform, {} still waiting. \
                 Pulled {} update(s): {} listing(s) new or changed, {} gone; {} new hint(s).",
                queued.len(),
                sent.sent.len(),
                sent.rejected.len(),
                sent.remaining,
                pulled.events,
                pulled.upserted,
                pulled.removed,
                pulled.new_hints
            );
            for r in &sent.rejected {
                text += &format!("\nRefused: {} ({})", r.listing_key, r.outcome);
            }
            for c in &sent.conflicts {
                text += &format!(
                    "\nConflict: {}: {}; nothing was overwritten. Both versions are shown under Listings: keep one, or merge.",
                    c.listing_key, c.outcome
                );
            }
            if let Some(note) = resigning.text() {
                text += &format!("\n{note}");
            }
            for serial in &pulled.compromised {
                text += &format!(
                    "\nThe platform announced that certificate {serial} was revoked because its key was compromised; listings it signed are checked again."
                );
            }
            text += &format!(
                "\nSignatures: {} verified, {} invalid, {} not checked yet.",
                pulled.verified,
                pulled.invalid.len(),
                pulled.unchecked
            );
            for w in pulled.warnings() {
                let (office, key, problem) = (w.office_key, w.listing_key, w.problem);
                text += &match w.kind {
                    PullWarningKind::InvalidSignature => format!(
                        "\nINVALID SIGNATURE on {office}/{key}: {problem}. It is kept flagged and gives no hints."
                    ),
                    PullWarningKind::RefusedRemoval => {
                        format!("\nThe platform says {office}/{key} is gone, but {problem}.")
                    }
                    PullWarningKind::RefusedRollback => {
                        format!("\nListing {office}/{key}: {problem}.")
                    }
                };
            }
            set_phase(shared, "Syncing the customers vault…", repaint);
            match crate::vault::sync(&mut store, &mut session, passphrase) {
                Ok(report) => {
                    text += &format!(
                        "\nVault: {} pulled, {} sent, {} conflict(s) open.",
                        report.pulled, report.pushed, report.open_conflicts
                    );
                    if let Ok(mut s) = shared.lock() {
                        s.vault = Some(report);
                    }
                }
                Err(e) => text += &format!("\nVault: not synced: {e}"),
            }
            Ok(JobDone::Synced(text))
        }
    }
}
