-- Web Push (RFC 8030/8291/8292): notices reach a guardian's phone when the app is closed.

-- One row per browser or app install that asked for pushes. The endpoint is the push
-- service's URL for that install; it is unique, so a device that logs in as someone else
-- moves to that account rather than pushing to both.
CREATE TABLE push_subscriptions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    endpoint        text NOT NULL UNIQUE CHECK (octet_length(endpoint) BETWEEN 12 AND 2048),
    -- The browser's P-256 public key (65 bytes, uncompressed) and its 16-byte auth secret.
    p256dh          bytea NOT NULL CHECK (octet_length(p256dh) = 65),
    auth            bytea NOT NULL CHECK (octet_length(auth) = 16),
    -- What the person calls the device ("母のiPhone"), shown on マイページ.
    label           text CHECK (char_length(label) <= 60),
    created_at      timestamptz NOT NULL,
    last_success_at timestamptz
);
CREATE INDEX push_subscriptions_account_idx ON push_subscriptions (account_id);

-- One row per (source, subscription): the same claim, lease and retry rules as mail.
-- A subscription that the push service says is gone (404/410), or that its owner removed,
-- leaves its rows behind with subscription_id NULL, so the record of what was sent stays.
CREATE TABLE push_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id  bigint REFERENCES push_subscriptions (id) ON DELETE SET NULL,
    -- What it is about: 'notice:<id>'.
    source           text NOT NULL CHECK (octet_length(source) <= 100),
    -- The JSON the service worker shows; encrypted per subscription when sent.
    payload          text NOT NULL CHECK (octet_length(payload) <= 3000),
    urgency          text NOT NULL CHECK (urgency IN ('normal', 'high')),
    ttl_seconds      integer NOT NULL CHECK (ttl_seconds BETWEEN 0 AND 2419200),
    -- A newer push with the same topic replaces one the phone has not fetched yet.
    topic            text CHECK (topic ~ '^[A-Za-z0-9_-]{1,32}$'),
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'gone', 'cancelled')),
    due_at           timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    last_status      text CHECK (octet_length(last_status) <= 300),
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    UNIQUE (source, subscription_id)
);
CREATE INDEX push_deliveries_due_idx ON push_deliveries (due_at) WHERE state = 'queued';
CREATE INDEX push_deliveries_lease_idx ON push_deliveries (lease_expires_at) WHERE state = 'sending';
