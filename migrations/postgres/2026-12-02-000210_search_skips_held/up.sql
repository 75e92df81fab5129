-- Search leaves out held listings (see 2026-12-02-000200_certificate_family): the search
-- indexes become partial indexes over listings not held, so the filter `held_at IS NULL` costs
-- nothing and counts stay index-only (with a plain column filter every counted row was looked
-- up in the table: a capped count of 10,000 went from about 1 ms to 35 ms on SQLite, and
-- PostgreSQL fell back to a sequential scan). Nothing else reads listings through these.
DROP INDEX listings_search;
DROP INDEX listings_active_city_newest;
DROP INDEX listings_active_city_price;
DROP INDEX listings_active_city_district;
DROP INDEX listings_active_newest;
DROP INDEX listings_active_price;
DROP INDEX listings_active_type_price;
CREATE INDEX listings_search ON listings (status, transaction_type, city_key, price) WHERE held_at IS NULL;
CREATE INDEX listings_active_city_newest ON listings (status, city_key, created_at, id) WHERE held_at IS NULL;
CREATE INDEX listings_active_city_price ON listings (status, city_key, price, id) WHERE held_at IS NULL;
CREATE INDEX listings_active_city_district ON listings (status, city_key, district_key, price) WHERE held_at IS NULL;
CREATE INDEX listings_active_newest ON listings (status, created_at, id) WHERE held_at IS NULL;
CREATE INDEX listings_active_price ON listings (status, price, id) WHERE held_at IS NULL;
CREATE INDEX listings_active_type_price ON listings (status, transaction_type, price) WHERE held_at IS NULL;
