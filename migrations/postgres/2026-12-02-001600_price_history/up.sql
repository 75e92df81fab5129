-- Price history for the listing page: one row per version whose price (or currency) differs
-- from the version before, written in the publishing transaction. The price is the one in the
-- signed document; `at` is when the platform took that version (ms), like the page's other
-- dates.
CREATE TABLE listing_prices (
    listing_id BIGINT NOT NULL REFERENCES listings (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    price BIGINT NOT NULL,
    currency TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (listing_id, version)
);
-- Listings published before this table: their current price is their first known one.
INSERT INTO listing_prices (listing_id, version, price, currency, at)
    SELECT id, version, price, currency, updated_at FROM listings;
