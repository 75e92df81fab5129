DROP TABLE site_keys;
DROP INDEX rate_limits_window;
DROP TABLE rate_limits;
