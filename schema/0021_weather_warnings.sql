-- Weather warnings (気象警報・注意報) from JMA's 防災情報XML, turned into alerts.

-- The Atom feeds polled, with their conditional-GET validators.
CREATE TABLE jma_feeds (
    url             text PRIMARY KEY CHECK (octet_length(url) <= 2000),
    last_modified   text CHECK (octet_length(last_modified) <= 200),
    etag            text CHECK (octet_length(etag) <= 200),
    last_success_at timestamptz
);

-- Whose turn it is to poll: one row, so that of several instances one polls at a time,
-- whichever feed it reads. The holder extends its lease before each document and ends it
-- only while it still holds it; failures count the polls that failed in a row.
CREATE TABLE jma_poll (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    owner       text,
    lease_until timestamptz NOT NULL,
    failures    integer NOT NULL DEFAULT 0
);
INSERT INTO jma_poll (lease_until) VALUES ('-infinity');

-- Every warning document ever fetched, so none is fetched twice (JMA's one request of its
-- users). A claim older than five minutes that never finished is fetched again: the
-- process that claimed it died before its transaction committed.
CREATE TABLE jma_documents (
    url         text PRIMARY KEY CHECK (octet_length(url) <= 2000),
    state       text NOT NULL CHECK (state IN ('claimed', 'applied', 'skipped', 'unreadable')),
    claimed_at  timestamptz NOT NULL,
    done_at     timestamptz,
    -- Why it was skipped or could not be read, for the operator (never the document).
    note        text CHECK (char_length(note) <= 200),
    report_time timestamptz
);

-- What is in force for each of the town's warning areas, per family of documents: the
-- older system (VPWW53/VPWW54, each the whole picture) and each phenomenon of the 2026 one
-- (VPWW55…61, one phenomenon each) are compared only with themselves.
CREATE TABLE jma_warning_state (
    family      text NOT NULL CHECK (char_length(family) <= 40),
    area_code   text NOT NULL CHECK (area_code ~ '^[0-9]{7}$'),
    report_time timestamptz NOT NULL,
    kind_codes  text[] NOT NULL,
    kind_names  text[] NOT NULL,
    PRIMARY KEY (family, area_code)
);

-- Each issuance and each lifting announced, once, whichever documents carry it (the same
-- 発表 arrives in VPWW53, VPWW54 and the 2026 documents).
CREATE TABLE jma_announcements (
    area_code   text NOT NULL,
    kind_code   text NOT NULL,
    report_time timestamptz NOT NULL,
    action      text NOT NULL CHECK (action IN ('issued', 'lifted')),
    alert_id    bigint REFERENCES alerts (id) ON DELETE SET NULL,
    PRIMARY KEY (area_code, kind_code, report_time, action)
);

-- Warnings that wait for a person before they go out (`--jma-approval`): the alert as it
-- would be sent, until alert staff send it or set it aside.
CREATE TABLE jma_pending_alerts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    area_code   text NOT NULL,
    category    text NOT NULL,
    areas       text[] NOT NULL,
    urgent      boolean NOT NULL,
    subject     text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 100),
    body        text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 4000),
    report_time timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    decided_at  timestamptz,
    decided_by  bigint REFERENCES accounts (id) ON DELETE SET NULL,
    decision    text CHECK (decision IN ('sent', 'discarded')),
    alert_id    bigint REFERENCES alerts (id) ON DELETE SET NULL,
    CHECK ((decided_at IS NULL) = (decision IS NULL))
);
CREATE INDEX jma_pending_alerts_open_idx ON jma_pending_alerts (id DESC) WHERE decided_at IS NULL;
