-- Fixed-window counters for logins and registrations, keyed by what is throttled: a login
-- address (as a SHA-256 digest: no address is stored in plain text here) or a client's
-- network address. Shared by every instance; old windows are deleted by the maintenance
-- worker.
CREATE TABLE login_throttle (
    key          text NOT NULL CHECK (char_length(key) <= 200),
    window_start timestamptz NOT NULL,
    count        integer NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX login_throttle_window_idx ON login_throttle (window_start);
