-- An idle server sleeps: workers wait for a NOTIFY or the earliest due time instead of
-- polling. And a session's end reaches the live stream.

-- The notice scheduler sleeps until the earliest release or escalation; whatever moves one
-- of those wakes it on commit. A statement trigger: one notification per statement, and
-- PostgreSQL folds identical ones within a transaction.
CREATE FUNCTION kairan_wake_notice_scheduler() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kairan_notices', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER notices_wake_scheduler
    AFTER INSERT OR UPDATE OF state, release_at, escalate_at ON notices
    FOR EACH STATEMENT EXECUTE FUNCTION kairan_wake_notice_scheduler();

-- The mail worker's deadline watch reads the earliest unchecked deadline.
CREATE INDEX outbox_messages_unreported_deadline_idx ON outbox_messages (deadline_at)
    WHERE deadline_at IS NOT NULL AND deadline_reported_at IS NULL;

-- A stream ticket belongs to the session that asked for it: logging out ends the tickets
-- not yet spent, and the socket opened with one closes with its session. Spending requires
-- a live session, so a ticket without one (made before this migration, or by an older
-- instance still running during a rolling upgrade, which does not know the column) is
-- never accepted here. Nullable for those older instances; a later migration can make it
-- NOT NULL once none is left.
ALTER TABLE stream_tickets ADD COLUMN session_id bigint REFERENCES sessions (id) ON DELETE CASCADE;
CREATE INDEX stream_tickets_session_idx ON stream_tickets (session_id);
