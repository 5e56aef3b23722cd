-- Attachments on town alerts (a map of the evacuation shelters, a PDF of the notice).
--
-- Alert mail never carries a file: it carries a link to it (feature phones cannot open a
-- 2 MB PDF, and thousands of copies of it would slow every carrier's queue). The link is
-- `/a/<file_token>/files/<attachment id>`: anyone holding the mail may open it, nobody can
-- guess it, and an alert without files has no token.
ALTER TABLE alerts ADD COLUMN file_token text UNIQUE CHECK (char_length(file_token) BETWEEN 16 AND 64);

ALTER TABLE attachments ADD COLUMN alert_id bigint REFERENCES alerts (id) ON DELETE CASCADE;
-- The table's two unnamed checks (0022) counted posts and notices only.
ALTER TABLE attachments DROP CONSTRAINT attachments_check, DROP CONSTRAINT attachments_check1;
ALTER TABLE attachments
    ADD CONSTRAINT attachments_one_owner CHECK (num_nonnulls(post_id, notice_id, alert_id) <= 1),
    ADD CONSTRAINT attachments_attached_has_owner
        CHECK ((attached_at IS NULL) = (post_id IS NULL AND notice_id IS NULL AND alert_id IS NULL));
CREATE INDEX attachments_alert_idx ON attachments (alert_id, position) WHERE alert_id IS NOT NULL;
