-- Community events (地区の行事): a group's event with a place and a time, members' answers
-- (going / maybe / not going, with a head count), a reminder the day before, and the
-- cancellation told to everyone who answered.
CREATE TABLE group_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id      bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 100),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    place         text NOT NULL CHECK (char_length(place) BETWEEN 1 AND 200),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL CHECK (ends_at > starts_at),
    -- People in all 'going' answers together (head counts, not answers); NULL: no limit.
    capacity      integer CHECK (capacity BETWEEN 1 AND 100000),
    -- Answers close then; NULL: when the event starts.
    answer_deadline timestamptz CHECK (answer_deadline <= starts_at),
    created_by    bigint REFERENCES accounts (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- Bumped by every change a calendar should pick up (iCalendar SEQUENCE).
    revision      integer NOT NULL DEFAULT 0,
    cancelled_at  timestamptz,
    cancel_reason text CHECK (char_length(cancel_reason) <= 500),
    -- The day-before reminder: due then (NULL: none, the event was made too late for one),
    -- sent once (reminded_at set in the transaction that sends it).
    remind_at     timestamptz,
    reminded_at   timestamptz
);
CREATE INDEX group_events_group_idx ON group_events (group_id, starts_at);
-- The reminder worker's lookup: reminders still to send, earliest first.
CREATE INDEX group_events_remind_idx ON group_events (remind_at) WHERE reminded_at IS NULL AND cancelled_at IS NULL;

CREATE TABLE group_event_answers (
    event_id       bigint NOT NULL REFERENCES group_events (id) ON DELETE CASCADE,
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    answer         text NOT NULL CHECK (answer IN ('going', 'maybe', 'not_going')),
    -- People coming with this answer, the member included: 0 only for 'not_going'.
    head_count     smallint NOT NULL CHECK (head_count BETWEEN 0 AND 20),
    -- For the organiser only (アレルギー, 遅れて参加…).
    comment        text NOT NULL DEFAULT '' CHECK (char_length(comment) <= 200),
    -- The reminder and changes by mail too (to the account's address), not only in the app.
    remind_by_mail boolean NOT NULL DEFAULT false,
    answered_at    timestamptz NOT NULL,
    PRIMARY KEY (event_id, account_id),
    CHECK ((answer = 'not_going') = (head_count = 0))
);
CREATE INDEX group_event_answers_account_idx ON group_event_answers (account_id);

