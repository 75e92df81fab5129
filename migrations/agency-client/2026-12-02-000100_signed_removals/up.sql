-- A listing the platform announced as gone without a valid signature (neither its agency's
-- signed withdrawal nor the platform's signed take-down statement) is kept; this says why, until
-- a signed change for it arrives.
ALTER TABLE shared_listings ADD COLUMN removal_refused TEXT;
