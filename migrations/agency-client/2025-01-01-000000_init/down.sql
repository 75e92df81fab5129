DROP TABLE saved_queries;
DROP TABLE hints;
DROP TABLE customers;
DROP TABLE shared_listings;
DROP TABLE outbox;
DROP TABLE own_listings;
DROP TABLE endpoints;
DROP TABLE identity;
