//! Matches: the page of past matches for the user's saved searches, the live stream of new ones
//! (server-sent events from [`crate::events::EventBus`]), and "not interested" on a listing.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;

use super::pages::{self, Card, Layout};
use super::saved::ActionForm;
use super::search::dismissed_ids;
use super::session::Visitor;
use super::{WebError, see_other};
use crate::accounts::UserStore;
use crate::accounts::dismissals::Dismissals;
use crate::accounts::sessions::SessionStore;
use crate::events::LiveEvent;
use crate::listings::ListingStore;
use crate::notify::store::MatchHistory;
use crate::searches::SavedSearchStore;
use crate::state::AppState;

/// Matches shown on the page.
pub const MATCHES_SHOWN: i64 = 100;
/// How often the event stream sends a comment so proxies keep it open.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Registers the notification routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(page))
        .route("/events", web::get().to(events))
        .route("/listings/{id}/dismiss", web::post().to(dismiss));
}

/// One past match.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchView {
    /// The listing.
    pub card: Card,
    /// The saved search's name.
    pub search: String,
    /// When.
    pub when: String,
    /// New since the last visit.
    pub new: bool,
}

/// The matches page.
#[derive(Debug, Template)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    /// Frame.
    pub layout: Layout,
    /// Past matches, newest first.
    pub matches: Vec<MatchView>,
}

/// `GET /notifications`: past matches; opening it marks them seen.
async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    let since = user.last_seen_at.unwrap_or(0);
    let rows = state
        .db
        .run(move |conn| -> Result<_, WebError> {
            let dismissed = dismissed_ids(conn, user.id)?;
            crate::with_conn!(conn, |c| {
                let rows = c.recent_matches(user.id, MATCHES_SHOWN)?;
                c.mark_matches_seen(user.id, crate::db::now_ms())?;
                Ok(rows
                    .into_iter()
                    .filter(|(_, l, _)| !dismissed.contains(&l.id) && l.status != "taken_down")
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    let page = NotificationsPage {
        layout: Layout::new("Your matches", &visitor),
        matches: rows
            .iter()
            .map(|(at, listing, search)| MatchView {
                card: Card::of(listing),
                search: search.clone().unwrap_or_else(|| "a saved search".into()),
                when: pages::date_time(*at),
                new: *at > since,
            })
            .collect(),
    };
    Ok(pages::ok(&visitor, &page))
}

/// The JSON sent for a live match (what the page's script shows).
fn match_event(state: &AppState, event: &LiveEvent) -> impl Future<Output = Option<String>> {
    let LiveEvent::Match {
        user_id,
        saved_search_id,
        listing_id,
        ..
    } = event.clone();
    let db = state.db.clone();
    async move {
        let found = db
            .run(move |conn| -> Result<_, WebError> {
                let dismissed = dismissed_ids(conn, user_id)?;
                if dismissed.contains(&listing_id) {
                    return Ok(None);
                }
                crate::with_conn!(conn, |c| {
                    let listing = c.find_listing_by_id(listing_id)?;
                    let name = c.find_saved_search(saved_search_id)?.map(|s| s.name);
                    Ok(listing.map(|l| (l, name)))
                })
            })
            .await
            .ok()
            .flatten()?;
        let (listing, name) = found;
        let card = Card::of(&listing);
        let data = serde_json::json!({
            "listing_id": listing_id,
            "saved_search_id": saved_search_id,
            "search_name": name,
            "title": card.title,
            "price": card.price,
            "place": card.place,
        });
        Some(format!("event: match\ndata: {data}\n\n"))
    }
}

/// `GET /events`: `text/event-stream` of the signed-in user's live matches.
async fn events(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let Some(user) = visitor.user.clone() else {
        return Ok(HttpResponse::Unauthorized()
            .content_type("text/plain; charset=utf-8")
            .body("sign in to receive live matches"));
    };
    let session = visitor
        .session
        .as_ref()
        .map(|s| s.id_hash.clone())
        .unwrap_or_default();
    let rx = state.events.subscribe();
    let ticket = state.streams.open(&session, user.id);
    let bus = state.events.clone();
    let state = state.into_inner();
    let live =
        futures_util::stream::unfold((rx, state, ticket), move |(mut rx, state, mut ticket)| {
            let session = session.clone();
            let bus = bus.clone();
            async move {
                loop {
                    let next = tokio::select! {
                        biased;
                        // Shutdown: the stream ends now; the page's script reconnects elsewhere.
                        () = bus.closed() => return None,
                        // A newer page of this session took the place, or the session ended here.
                        _ = &mut ticket.ended => return None,
                        next = tokio::time::timeout(KEEPALIVE, rx.recv()) => next,
                    };
                    match next {
                        Err(_) => {
                            // The stream ends with its session (sign-out or reset on another node,
                            // expiry).
                            if !still_signed_in(&state, &session, user.id).await {
                                return None;
                            }
                            return Some((
                                Bytes::from_static(b": keepalive\n\n"),
                                (rx, state, ticket),
                            ));
                        }
                        Ok(Ok(event)) if event.user_id() == user.id => {
                            if !still_signed_in(&state, &session, user.id).await {
                                return None;
                            }
                            if let Some(text) = match_event(&state, &event).await {
                                return Some((Bytes::from(text), (rx, state, ticket)));
                            }
                        }
                        Ok(Ok(_))
                        | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                        Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
                    }
                }
            }
        });
    let stream = futures_util::stream::once(async { Bytes::from_static(b": connected\n\n") })
        .chain(live)
        .map(Ok::<_, actix_web::Error>);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// Whether the session `id_hash` is still live and still `user`'s (false on a database error:
/// a stream that cannot check ends, and the page's script reconnects).
async fn still_signed_in(state: &AppState, id_hash: &str, user: i64) -> bool {
    let id_hash = id_hash.to_owned();
    let now = crate::db::now_ms();
    state
        .db
        .run(move |conn| -> Result<_, WebError> {
            Ok(crate::with_conn!(conn, |c| c.live_session(&id_hash, now))?)
        })
        .await
        .is_ok_and(|(_, signed_in)| signed_in.is_some_and(|u| u.id == user))
}

/// `POST /listings/{id}/dismiss`: "not interested".
async fn dismiss(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, WebError> {
    let visitor = Visitor::load(&state, &req).await?;
    let user = visitor.require_user()?.clone();
    visitor.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let found = state
        .db
        .run(move |conn| -> Result<bool, WebError> {
            crate::with_conn!(conn, |c| {
                if c.find_listing_by_id(id)?.is_none() {
                    return Ok(false);
                }
                c.dismiss(user.id, id, crate::db::now_ms())?;
                Ok(true)
            })
        })
        .await?;
    if !found {
        return Err(WebError::NotFound);
    }
    Ok(see_other(&format!("/listings/{id}")))
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use actix_web::body::MessageBody;
    use actix_web::{App, test};
    use diesel::prelude::*;

    use crate::accounts::secrets::sha256_hex;
    use crate::db::schema::web_sessions;
    use crate::events::LiveEvent;

    async fn next_chunk(body: &mut Pin<Box<actix_web::body::BoxBody>>) -> String {
        let chunk = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            std::future::poll_fn(|cx| body.as_mut().poll_next(cx)),
        )
        .await
        .expect("a chunk within 10 s")
        .expect("the stream goes on")
        .expect("no error");
        String::from_utf8(chunk.to_vec()).unwrap()
    }

    crate::db_test!(async live_matches_reach_only_their_user, |db| {
        let mut conn = db.get().unwrap();
        let user = crate::testing::fixtures::user(&mut conn, "live@example.com");
        let other = crate::testing::fixtures::user(&mut conn, "other@example.com");
        let (agency, serial) =
            crate::testing::fixtures::active_agency_with_certificate(&mut conn, "Live Homes");
        let listing = crate::testing::fixtures::publish(
            &mut conn,
            agency.id,
            &serial,
            &api_types::ListingDocument::example("LIVE-1"),
        )
        .unwrap()
        .current;
        let now = crate::db::now_ms();
        crate::with_conn!(&mut conn, |c| diesel::insert_into(web_sessions::table)
            .values((
                web_sessions::id_hash.eq(sha256_hex("live-session")),
                web_sessions::user_id.eq(Some(user)),
                web_sessions::csrf_token.eq("t"),
                web_sessions::created_at.eq(now),
                web_sessions::expires_at.eq(now + 60_000),
            ))
            .execute(c))
        .unwrap();
        let (_dir, state) = crate::testing::app_state(db);
        let bus = state.events.clone();
        let state = actix_web::web::Data::new(state);
        let app = test::init_service(App::new().app_data(state).configure(crate::web::routes)).await;
        let resp = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/events")
                .insert_header(("Cookie", "session=live-session"))
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        let mut body = Box::pin(resp.into_body());
        assert!(next_chunk(&mut body).await.starts_with(": connected"));
        let event = |user_id| LiveEvent::Match {
            user_id,
            saved_search_id: 0,
            listing_id: listing.id,
            notification_id: None,
        };
        // Someone else's match is not forwarded; ours is, with the listing's card facts.
        bus.publish(event(other));
        bus.publish(event(user));
        let text = next_chunk(&mut body).await;
        assert!(text.starts_with("event: match\ndata: "), "{text}");
        let data: serde_json::Value =
            serde_json::from_str(text.trim_start_matches("event: match\ndata: ").trim()).unwrap();
        assert_eq!(data["listing_id"], listing.id);
        assert_eq!(data["title"], "Bright two-bedroom flat with river view");

        // Signed out (the session row gone): the next match is not sent and the stream ends.
        crate::with_conn!(&mut conn, |c| diesel::delete(web_sessions::table).execute(c)).unwrap();
        bus.publish(event(user));
        let end = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            std::future::poll_fn(|cx| body.as_mut().poll_next(cx)),
        )
        .await
        .expect("the stream answers within 10 s");
        assert!(end.is_none(), "the stream ended with its session");
    });

    crate::db_test!(async a_session_holds_a_few_streams_and_sign_out_ends_them_at_once, |db| {
        let mut conn = db.get().unwrap();
        let user = crate::testing::fixtures::user(&mut conn, "tabs@example.com");
        let now = crate::db::now_ms();
        crate::with_conn!(&mut conn, |c| diesel::insert_into(web_sessions::table)
            .values((
                web_sessions::id_hash.eq(sha256_hex("tabs-session")),
                web_sessions::user_id.eq(Some(user)),
                web_sessions::csrf_token.eq("t"),
                web_sessions::created_at.eq(now),
                web_sessions::expires_at.eq(now + 60_000),
            ))
            .execute(c))
        .unwrap();
        let (_dir, state) = crate::testing::app_state(db);
        let streams = state.streams.clone();
        let state = actix_web::web::Data::new(state);
        let app = test::init_service(App::new().app_data(state).configure(crate::web::routes)).await;
        let open = || async {
            let resp = test::call_service(
                &app,
                test::TestRequest::get()
                    .uri("/events")
                    .insert_header(("Cookie", "session=tabs-session"))
                    .to_request(),
            )
            .await;
            assert_eq!(resp.status(), 200);
            let mut body = Box::pin(resp.into_body());
            assert!(next_chunk(&mut body).await.starts_with(": connected"));
            body
        };
        let ended = |mut body: Pin<Box<actix_web::body::BoxBody>>| async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                std::future::poll_fn(|cx| body.as_mut().poll_next(cx)),
            )
            .await
            .expect("the stream answers at once, not at the next keep-alive")
            .is_none()
        };
        let oldest = open().await;
        let mut kept = Vec::new();
        for _ in 1..crate::web::streams::MAX_PER_SESSION {
            kept.push(open().await);
        }
        let session = sha256_hex("tabs-session");
        assert_eq!(streams.count(&session), crate::web::streams::MAX_PER_SESSION);
        // One page more (pages left in the back/forward cache): the oldest stream gives way.
        kept.push(open().await);
        assert!(ended(oldest).await, "the oldest stream ended");
        assert_eq!(streams.count(&session), crate::web::streams::MAX_PER_SESSION);
        // Signing out ends the rest at once.
        streams.end_session(&session);
        for body in kept {
            assert!(ended(body).await);
        }
        assert_eq!(streams.count(&session), 0);
    });

    crate::db_test!(async open_streams_end_at_once_on_shutdown, |db| {
        let mut conn = db.get().unwrap();
        let user = crate::testing::fixtures::user(&mut conn, "live@example.com");
        let now = crate::db::now_ms();
        crate::with_conn!(&mut conn, |c| diesel::insert_into(web_sessions::table)
            .values((
                web_sessions::id_hash.eq(sha256_hex("live-session")),
                web_sessions::user_id.eq(Some(user)),
                web_sessions::csrf_token.eq("t"),
                web_sessions::created_at.eq(now),
                web_sessions::expires_at.eq(now + 60_000),
            ))
            .execute(c))
        .unwrap();
        let (_dir, state) = crate::testing::app_state(db);
        let bus = state.events.clone();
        let app = test::init_service(
            App::new()
                .app_data(actix_web::web::Data::new(state))
                .configure(crate::web::routes),
        )
        .await;
        let resp = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/events")
                .insert_header(("Cookie", "session=live-session"))
                .to_request(),
        )
        .await;
        let mut body = Box::pin(resp.into_body());
        assert!(next_chunk(&mut body).await.starts_with(": connected"));
        bus.close();
        let end = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            std::future::poll_fn(|cx| body.as_mut().poll_next(cx)),
        )
        .await
        .expect("the stream ends at once, not after its keep-alive");
        assert!(end.is_none());
    });
}
