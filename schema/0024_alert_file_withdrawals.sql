-- A file taken off a town alert after it went out: the wrong PDF, or a list that names a
-- child. The mail cannot be called back, but its link can stop working: the attachment row
-- goes (so its link answers that the file was withdrawn, and its bytes are removed once
-- nothing else uses them), and this row keeps what it was, when and by whom, beside the
-- alert's delivery record.
CREATE TABLE alert_file_withdrawals (
    alert_id       bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    -- The attachment's id as the mail's link names it (the row itself is gone).
    attachment_id  bigint NOT NULL,
    filename       text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 200),
    content_type   text NOT NULL,
    byte_size      bigint NOT NULL CHECK (byte_size > 0),
    withdrawn_by   bigint REFERENCES accounts (id) ON DELETE SET NULL,
    withdrawn_at   timestamptz NOT NULL,
    PRIMARY KEY (alert_id, attachment_id)
);
