-- Town alerts get a public page and attachments, and reach app users by Web Push.
--
-- Alert mail never carries a file: it carries a link to it (feature phones cannot open a
-- 2 MB PDF, and thousands of copies of it would slow every carrier's queue). The alert's
-- page is `/a/<public_token>` (what a push notification opens) and its files
-- `/a/<public_token>/files/<attachment id>`: anyone holding the mail or the push may open
-- them, nobody can guess them, and nothing is shown before the alert's send time. Alerts
-- from before this migration have no token and no page.
ALTER TABLE alerts ADD COLUMN public_token text UNIQUE CHECK (char_length(public_token) BETWEEN 16 AND 64);

ALTER TABLE attachments ADD COLUMN alert_id bigint REFERENCES alerts (id) ON DELETE CASCADE;
-- The table's two unnamed checks (0022) counted posts and notices only.
ALTER TABLE attachments DROP CONSTRAINT attachments_check, DROP CONSTRAINT attachments_check1;
ALTER TABLE attachments
    ADD CONSTRAINT attachments_one_owner CHECK (num_nonnulls(post_id, notice_id, alert_id) <= 1),
    ADD CONSTRAINT attachments_attached_has_owner
        CHECK ((attached_at IS NULL) = (post_id IS NULL AND notice_id IS NULL AND alert_id IS NULL));
CREATE INDEX attachments_alert_idx ON attachments (alert_id, position) WHERE alert_id IS NOT NULL;

-- Whether a post has attachments: a thread page asks for the files of the few posts that
-- have some, not for each of its 50 (that subquery per post cost 13 % of the page's rate).
ALTER TABLE posts ADD COLUMN has_attachments boolean NOT NULL DEFAULT false;
UPDATE posts SET has_attachments = true WHERE id IN (SELECT post_id FROM attachments WHERE post_id IS NOT NULL);

-- A resident with the app who wants the town's alerts on their devices (Web Push), as a
-- mail subscriber chooses them: mandatory categories always, the others as chosen; the
-- areas chosen (none: every area, and alerts for the whole town always).
CREATE TABLE alert_push_preferences (
    account_id    bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    category_ids  bigint[] NOT NULL DEFAULT '{}' CHECK (cardinality(category_ids) <= 50),
    area_ids      bigint[] NOT NULL DEFAULT '{}' CHECK (cardinality(area_ids) <= 100),
    updated_at    timestamptz NOT NULL
);
