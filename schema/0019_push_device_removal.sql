-- A device removed, whichever way (its owner, its push service's 404/410, an 11th device
-- replacing it), takes its pushes not yet sent with it: they are cancelled, and their rows
-- stay as the record. One rule in one place, so the push workers' claims need not look for
-- orphans (that was a scan of every push ever queued at each claim).
CREATE FUNCTION kairan_cancel_pushes_of_removed_device() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE push_deliveries SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL
    WHERE subscription_id = OLD.id AND state IN ('queued', 'sending');
    RETURN OLD;
END $$;
CREATE TRIGGER push_subscriptions_cancel_pushes BEFORE DELETE ON push_subscriptions
    FOR EACH ROW EXECUTE FUNCTION kairan_cancel_pushes_of_removed_device();
-- The trigger's lookup: a device's pushes still to send.
CREATE INDEX push_deliveries_pending_idx ON push_deliveries (subscription_id) WHERE state IN ('queued', 'sending');
