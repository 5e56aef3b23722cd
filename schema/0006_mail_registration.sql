-- Registration by empty mail (空メール) with double opt-in, address changes, and the
-- delivery status notifications (bounces) that come back to VERP addresses.

-- A pending confirmation: the link in the reply to an empty mail. Only a hash of the
-- link's secret is kept; the link works once and expires.
CREATE TABLE mail_registrations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    -- subscribe: a new subscription; change: move subscriber_id to this address.
    purpose       text NOT NULL CHECK (purpose IN ('subscribe', 'change')),
    email         text NOT NULL CHECK (octet_length(email) BETWEEN 3 AND 254),
    email_key     text NOT NULL,
    subscriber_id bigint REFERENCES alert_subscribers (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
-- "At most one reply per address per window" looks up the latest request per address.
CREATE INDEX mail_registrations_email_idx ON mail_registrations (email_key, created_at DESC);

-- A subscriber who wants to move to a new address gets a code from the settings page and
-- sends an empty mail from the new address to <entry>+<code>@<mail domain>.
CREATE TABLE mail_change_codes (
    code          text PRIMARY KEY CHECK (code ~ '^[a-z0-9]{8,32}$'),
    subscriber_id bigint NOT NULL REFERENCES alert_subscribers (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);

-- Bounce reports received for delivery jobs, as the reporting server worded them.
CREATE TABLE delivery_bounces (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    status      text NOT NULL,
    action      text NOT NULL,
    diagnostic  text,
    permanent   boolean NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX delivery_bounces_delivery_idx ON delivery_bounces (delivery_id);
