-- Enquiries (issue 14): a buyer contacts the agency about a listing from the listing page. The
-- agency gets an email at once and its desk pulls the enquiry as a lead
-- (GET /api/v1/enquiries), then acknowledges it; the acknowledgement erases the personal fields:
-- name, email and phone always, the message too unless a signed-in buyer wrote it (it is theirs,
-- shown on their /enquiries page). What stays: ids and dates. Deleting the account deletes its
-- rows.
CREATE TABLE enquiries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id BIGINT NOT NULL REFERENCES listings (id) ON DELETE CASCADE,
    agency_id BIGINT NOT NULL REFERENCES agencies (id),
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    name TEXT,
    email TEXT,
    phone TEXT,
    message TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX enquiries_agency ON enquiries (agency_id, delivered_at, id);
CREATE INDEX enquiries_user ON enquiries (user_id, id);
