-- An enrolment token may be issued for a named desk (`platform agency token ID --desk NAME`):
-- a new token voids only the older unused tokens of the same desk name (tokens without a name
-- void the older ones without a name), so an agency can enrol several new desks at once; the
-- name stays with the desk that enrolled with it.
ALTER TABLE enrolment_tokens ADD COLUMN desk_name TEXT;
