//! Turning claimed rows into emails: one email per row for single mails, and one per recipient
//! for matches (digest rows deferred, repeats and listings off the market cancelled, several
//! searches matching one listing shown once). What is not sent now is a [`Dispositions`] entry.

use std::collections::{BTreeMap, HashMap, HashSet};

use lettre::Message;

use super::compose::Composer;
use super::facts::{Availability, MatchFacts};
use crate::accounts::{NotifyMode, UserStore};
use crate::db::{DbConn, DbError};
use crate::notify::messages::NewMailMessage;
use crate::notify::outbox::{MailKind, MatchPayload};
use crate::notify::render::{self, Links, ListingSummary, MatchItem};
use crate::notify::store::{DeliveryStore, NotificationRow};

/// One email to send and the rows it stands for.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) ids: Vec<i64>,
    pub(super) secret: bool,
    pub(super) message: Message,
}

impl Outgoing {
    /// The message as stored: its envelope, its bytes and its Message-ID, fixed from now on.
    pub(super) fn stored(&self) -> NewMailMessage {
        let envelope = self.message.envelope();
        NewMailMessage {
            message_id: self
                .message
                .headers()
                .get_raw("Message-ID")
                .unwrap_or_default()
                .to_owned(),
            sender: envelope.from().map(ToString::to_string).unwrap_or_default(),
            recipient: envelope
                .to()
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
            raw: self.message.formatted(),
            secret: self.secret,
        }
    }
}

/// What to do with claimed rows that are not sent now.
#[derive(Debug, Default)]
pub(super) struct Dispositions {
    pub(super) cancel: Vec<(i64, String)>,
    pub(super) fail: Vec<(i64, String)>,
    pub(super) defer: Vec<(i64, i64)>,
}

impl Composer {
    /// Turns claimed rows into emails; decides which rows are cancelled, failed or deferred.
    pub(super) fn prepare(
        &self,
        conn: &mut DbConn,
        claimed: Vec<NotificationRow>,
    ) -> Result<(Vec<Outgoing>, Dispositions), DbError> {
        let mut out = Vec::new();
        let mut disp = Dispositions::default();
        let mut matches: BTreeMap<String, Vec<NotificationRow>> = BTreeMap::new();
        for row in claimed {
            let Some(kind) = MailKind::from_code(&row.kind) else {
                disp.fail
                    .push((row.id, format!("unknown mail kind {:?}", row.kind)));
                continue;
            };
            if kind == MailKind::ListingMatch {
                matches
                    .entry(row.recipient.to_lowercase())
                    .or_default()
                    .push(row);
                continue;
            }
            let payload: serde_json::Value =
                serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
            let unsubscribe = match (kind, row.user_id) {
                (MailKind::SavedSearchExpiring, Some(user)) => {
                    Some(self.key.link(&self.public_url, user))
                }
                _ => None,
            };
            let links = Links {
                public_url: self.public_url.clone(),
                unsubscribe,
            };
            let rendered = match render::render_single(kind, &payload, &links) {
                Ok(r) => r,
                Err(e) => {
                    disp.fail.push((row.id, e.to_string()));
                    continue;
                }
            };
            match self.message(&row.recipient, &rendered, links.unsubscribe.as_deref()) {
                Ok(message) => out.push(Outgoing {
                    ids: vec![row.id],
                    secret: kind.contains_secret(),
                    message,
                }),
                Err(e) => disp.fail.push((row.id, e)),
            }
        }
        for (recipient, rows) in matches {
            if let Some(email) = self.prepare_matches(conn, &recipient, rows, &mut disp)? {
                out.push(email);
            }
        }
        Ok((out, disp))
    }

    /// One email for the claimed matches of one recipient, if any remain after deferring
    /// digest rows and cancelling repeats.
    fn prepare_matches(
        &self,
        conn: &mut DbConn,
        recipient: &str,
        mut rows: Vec<NotificationRow>,
        disp: &mut Dispositions,
    ) -> Result<Option<Outgoing>, DbError> {
        rows.sort_by_key(|r| r.id);
        let user_id = rows.iter().find_map(|r| r.user_id);
        let mode = match user_id {
            Some(id) => crate::with_conn!(conn, |c| c.notify_mode(id))?,
            None => None,
        };
        let mut digest = false;
        match mode {
            Some(NotifyMode::Off) => {
                for r in rows {
                    disp.cancel.push((
                        r.id,
                        "cancelled: the recipient turned listing emails off".into(),
                    ));
                }
                return Ok(None);
            }
            Some(NotifyMode::Daily) => {
                digest = true;
                let (hold, due): (Vec<_>, Vec<_>) = rows
                    .into_iter()
                    .partition(|r| r.next_attempt_at < self.settings.next_digest_at(r.created_at));
                for r in hold {
                    disp.defer
                        .push((r.id, self.settings.next_digest_at(r.created_at)));
                }
                rows = due;
            }
            _ => {}
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let listing_ids: Vec<i64> = rows.iter().filter_map(|r| r.listing_id).collect();
        let told: HashSet<(i64, i64)> = crate::with_conn!(conn, |c| c.told_prices(
            user_id,
            &rows[0].recipient,
            &listing_ids
        ))?
        .into_iter()
        .collect();
        let summaries: HashMap<i64, (ListingSummary, Availability)> =
            crate::with_conn!(conn, |c| c.listing_summaries(&listing_ids))?;
        let search_ids: Vec<i64> = rows.iter().filter_map(|r| r.saved_search_id).collect();
        let names: HashMap<i64, String> = crate::with_conn!(conn, |c| c.search_names(&search_ids))?;

        let mut items: Vec<MatchItem> = Vec::new();
        let mut index: HashMap<(i64, i64), usize> = HashMap::new();
        let mut ids = Vec::new();
        for r in &rows {
            let payload: MatchPayload = match serde_json::from_str(&r.payload) {
                Ok(p) => p,
                Err(e) => {
                    disp.fail
                        .push((r.id, format!("the listing_match payload is invalid: {e}")));
                    continue;
                }
            };
            let Some(listing_id) = r.listing_id else {
                disp.fail
                    .push((r.id, "the listing_match row names no listing".into()));
                continue;
            };
            if told.contains(&(listing_id, payload.price)) {
                disp.cancel.push((
                    r.id,
                    "duplicate: the recipient was already sent this listing at this price".into(),
                ));
                continue;
            }
            let Some((summary, availability)) = summaries.get(&listing_id) else {
                disp.cancel
                    .push((r.id, "cancelled: the listing no longer exists".into()));
                continue;
            };
            match availability {
                Availability::OnMarket => {}
                Availability::OffMarket => {
                    disp.cancel.push((
                        r.id,
                        "cancelled: the listing is no longer on the market".into(),
                    ));
                    continue;
                }
                Availability::Held => {
                    disp.cancel.push((
                        r.id,
                        "cancelled: the listing is held (its agency's signing key was reported compromised)".into(),
                    ));
                    continue;
                }
            }
            let search = r.saved_search_id.and_then(|s| names.get(&s).cloned());
            if let Some(&i) = index.get(&(listing_id, payload.price)) {
                // Several searches matched the same listing: one entry naming them all.
                if let Some(name) = search
                    && !items[i].searches.contains(&name)
                {
                    items[i].searches.push(name);
                }
                ids.push(r.id);
                continue;
            }
            index.insert((listing_id, payload.price), items.len());
            items.push(MatchItem {
                listing: summary.clone(),
                searches: search.into_iter().collect(),
                reason: payload.reason,
                price: payload.price,
                previous_price: payload.previous_price,
            });
            ids.push(r.id);
        }
        if items.is_empty() {
            return Ok(None);
        }
        let unsubscribe = user_id.map(|u| self.key.link(&self.public_url, u));
        let links = Links {
            public_url: self.public_url.clone(),
            unsubscribe,
        };
        let total = items.len();
        let shown = &items[..total.min(self.settings.max_listings)];
        let rendered = render::render_matches(shown, total, digest, &links);
        match self.message(recipient, &rendered, links.unsubscribe.as_deref()) {
            Ok(message) => Ok(Some(Outgoing {
                ids,
                secret: false,
                message,
            })),
            Err(e) => {
                for id in ids {
                    disp.fail.push((id, e.clone()));
                }
                Ok(None)
            }
        }
    }
}
