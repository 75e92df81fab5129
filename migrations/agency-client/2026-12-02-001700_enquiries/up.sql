-- Enquiries (issue 14): each buyer's enquiry pulled from the platform becomes one customer (a
-- lead); this table remembers which, so pulling the same enquiry again (an acknowledgement lost
-- on the way) makes no second customer.
CREATE TABLE received_enquiries (
    enquiry_id BIGINT PRIMARY KEY NOT NULL,
    customer_id INTEGER,
    received_at BIGINT NOT NULL
);
