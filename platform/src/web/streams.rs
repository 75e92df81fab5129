//! The live-match streams open on this node, by session. A session keeps at most
//! [`MAX_PER_SESSION`] streams: opening one more ends the oldest (the page most likely left
//! behind), so a new page never waits for a connection. Signing out and a password reset end a
//! session's or a user's streams at once, not at the next keep-alive.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// Streams one session may hold open at once (browsers allow six connections per host).
pub const MAX_PER_SESSION: usize = 3;

/// The open streams of this node.
#[derive(Debug, Default, Clone)]
pub struct LiveStreams {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    open: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    session: String,
    user: i64,
    /// Dropping it (removing the entry) ends the stream: its ticket's receiver closes.
    _end: oneshot::Sender<()>,
}

/// One open stream's place; dropping it (the stream ended) frees the place.
#[derive(Debug)]
pub struct StreamTicket {
    id: u64,
    streams: LiveStreams,
    /// Resolves when the stream must end (a newer stream took its place, or the session ended).
    pub ended: oneshot::Receiver<()>,
}

impl LiveStreams {
    /// Registers a new stream of `session` (its id hash) for `user`, ending the session's oldest
    /// one when it already has [`MAX_PER_SESSION`].
    pub fn open(&self, session: &str, user: i64) -> StreamTicket {
        let (end, ended) = oneshot::channel();
        let mut inner = self.lock();
        let mine: Vec<usize> = (0..inner.open.len())
            .filter(|&i| inner.open[i].session == session)
            .collect();
        if mine.len() >= MAX_PER_SESSION {
            // Entries are in opening order: the first of this session's is its oldest.
            inner.open.remove(mine[0]);
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.open.push(Entry {
            id,
            session: session.to_owned(),
            user,
            _end: end,
        });
        StreamTicket {
            id,
            streams: self.clone(),
            ended,
        }
    }

    /// Ends every stream of `session` (signed out).
    pub fn end_session(&self, session: &str) {
        self.lock().open.retain(|e| e.session != session);
    }

    /// Ends every stream of `user` (password reset, account deleted).
    pub fn end_user(&self, user: i64) {
        self.lock().open.retain(|e| e.user != user);
    }

    /// Streams open now for `session`.
    pub fn count(&self, session: &str) -> usize {
        self.lock()
            .open
            .iter()
            .filter(|e| e.session == session)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        let id = self.id;
        self.streams.lock().open.retain(|e| e.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_keeps_its_newest_streams_and_ends_the_oldest() {
        let streams = LiveStreams::default();
        let mut first = streams.open("s1", 1);
        let mut rest: Vec<StreamTicket> = (0..MAX_PER_SESSION - 1)
            .map(|_| streams.open("s1", 1))
            .collect();
        let _other = streams.open("s2", 2);
        assert_eq!(streams.count("s1"), MAX_PER_SESSION);
        assert!(
            first
                .ended
                .try_recv()
                .is_err_and(|e| e == oneshot::error::TryRecvError::Empty)
        );
        let _newest = streams.open("s1", 1);
        assert_eq!(streams.count("s1"), MAX_PER_SESSION);
        assert_eq!(
            first.ended.try_recv(),
            Err(oneshot::error::TryRecvError::Closed),
            "the oldest stream was told to end"
        );
        for t in &mut rest {
            assert_eq!(t.ended.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        }
        assert_eq!(streams.count("s2"), 1);
    }

    #[test]
    fn ending_a_session_or_a_user_ends_their_streams_and_a_dropped_ticket_frees_its_place() {
        let streams = LiveStreams::default();
        let mut a = streams.open("s1", 1);
        let mut b = streams.open("s2", 1);
        let mut c = streams.open("s3", 2);
        streams.end_session("s1");
        assert_eq!(
            a.ended.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        assert_eq!(b.ended.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        streams.end_user(1);
        assert_eq!(
            b.ended.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        );
        assert_eq!(c.ended.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        drop(c);
        assert_eq!(streams.count("s3"), 0);
    }
}
