-- One-time tickets for opening the WebSocket stream from a browser, which cannot set an
-- Authorization header on a WebSocket. Short-lived, single use, stored only as a hash.
CREATE TABLE stream_tickets (
    ticket_hash bytea PRIMARY KEY CHECK (octet_length(ticket_hash) = 32),
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX stream_tickets_expires_at_idx ON stream_tickets (expires_at);
