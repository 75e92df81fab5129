ALTER TABLE enrolment_tokens DROP COLUMN desk_name;
