DROP INDEX listings_active_type_price;
DROP INDEX listings_active_price;
DROP INDEX listings_active_newest;
DROP TABLE email_tokens;
DROP TABLE sign_in_attempts;
DROP TABLE search_history;
DROP TABLE web_sessions;
