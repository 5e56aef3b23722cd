-- School and facility notices to guardians (学校・保育所→保護者 連絡): channels, notices
-- through the fan-out core, read confirmation, escalation, reply forms, absence reports
-- and the approval queue.

ALTER TABLE organizations
    -- Urgent notices: households still unconfirmed this long after sending are escalated.
    ADD COLUMN escalate_after_minutes smallint NOT NULL DEFAULT 30 CHECK (escalate_after_minutes BETWEEN 1 AND 1440),
    -- Reason categories offered on absence reports.
    ADD COLUMN absence_reasons text[] NOT NULL DEFAULT '{体調不良,通院,家庭の事情,その他}'
        CHECK (cardinality(absence_reasons) BETWEEN 1 AND 20);

-- Staff the organization allows to send an urgent notice without waiting for approval.
ALTER TABLE organization_staff ADD COLUMN may_skip_approval boolean NOT NULL DEFAULT false;

-- 担任: the staff who receive a class's absence reports.
CREATE TABLE class_teachers (
    class_id   bigint NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (class_id, account_id)
);
CREATE INDEX class_teachers_account_idx ON class_teachers (account_id);

-- Custom channels: lists of children chosen by staff (a club, a bus route, a trip group).
CREATE TABLE notice_lists (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    created_at      timestamptz NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE notice_list_children (
    list_id  bigint NOT NULL REFERENCES notice_lists (id) ON DELETE CASCADE,
    child_id bigint NOT NULL REFERENCES children (id) ON DELETE CASCADE,
    PRIMARY KEY (list_id, child_id)
);

-- States:
--   pending_approval  waiting in the approval queue
--   returned          sent back by an org admin with a comment; never delivered unless resubmitted
--   scheduled         approved (or needing none), published at release_at
--   sent              published: recipients, delivery jobs and live events written
--   cancelled         withdrawn before publishing
CREATE TABLE notices (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id   bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    author_id         bigint NOT NULL REFERENCES accounts (id),
    urgent            boolean NOT NULL,
    title             text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 100),
    body              text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 5000),
    -- Channels: the whole organization, grades, classes, custom lists.
    target_all        boolean NOT NULL,
    target_grades     smallint[] NOT NULL DEFAULT '{}',
    target_classes    bigint[] NOT NULL DEFAULT '{}',
    target_lists      bigint[] NOT NULL DEFAULT '{}',
    -- Optional reply form: one question.
    form_kind         text CHECK (form_kind IN ('single', 'multiple', 'text')),
    form_question     text CHECK (char_length(form_question) BETWEEN 1 AND 200),
    form_options      text[] NOT NULL DEFAULT '{}',
    reply_deadline    timestamptz,
    state             text NOT NULL CHECK (state IN ('pending_approval', 'returned', 'scheduled', 'sent', 'cancelled')),
    -- When the author asked for it to go out, and when it may (after quiet hours).
    send_at           timestamptz NOT NULL,
    release_at        timestamptz NOT NULL,
    skip_reason       text CHECK (char_length(skip_reason) BETWEEN 1 AND 500),
    message_id        bigint REFERENCES outbox_messages (id),
    escalate_at       timestamptz,
    escalated_at      timestamptz,
    escalation_message_id bigint REFERENCES outbox_messages (id),
    -- Raised by every edit: an approver approves the revision they read.
    revision          integer NOT NULL DEFAULT 1,
    -- Publishing or escalating that failed and was postponed (the scheduler backs off
    -- per notice, so one bad notice never holds up the others).
    scheduler_failures smallint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    sent_at           timestamptz,
    CHECK ((form_kind IS NULL) = (form_question IS NULL))
);
CREATE INDEX notices_organization_idx ON notices (organization_id, id);
CREATE INDEX notices_release_idx ON notices (release_at) WHERE state = 'scheduled';
CREATE INDEX notices_escalate_idx ON notices (escalate_at) WHERE escalated_at IS NULL AND escalate_at IS NOT NULL;

-- The children a published notice was for (a snapshot: later class changes do not alter it).
CREATE TABLE notice_children (
    notice_id    bigint NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    child_id     bigint NOT NULL REFERENCES children (id) ON DELETE CASCADE,
    household_id bigint NOT NULL,
    PRIMARY KEY (notice_id, child_id)
);
CREATE INDEX notice_children_household_idx ON notice_children (household_id);

-- One row per guardian a published notice reached, however many of their children it
-- concerned. A household is confirmed when any of its guardians confirmed.
CREATE TABLE notice_recipients (
    notice_id     bigint NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    guardian_id   bigint NOT NULL REFERENCES guardians (id) ON DELETE CASCADE,
    household_id  bigint NOT NULL,
    account_id    bigint,
    via_app       boolean NOT NULL,
    via_mail      boolean NOT NULL,
    -- The secret in the mail's link (confirm, answer) for this guardian.
    link_token    text NOT NULL UNIQUE,
    opened_at     timestamptz,
    confirmed_at  timestamptz,
    PRIMARY KEY (notice_id, guardian_id)
);
CREATE INDEX notice_recipients_household_idx ON notice_recipients (notice_id, household_id);
CREATE INDEX notice_recipients_account_idx ON notice_recipients (account_id, notice_id DESC);

-- Reply-form answers, one per child; the latest answer by any of its guardians counts.
CREATE TABLE notice_answers (
    notice_id   bigint NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    child_id    bigint NOT NULL REFERENCES children (id) ON DELETE CASCADE,
    guardian_id bigint NOT NULL REFERENCES guardians (id) ON DELETE CASCADE,
    choices     smallint[] NOT NULL DEFAULT '{}',
    text        text CHECK (char_length(text) <= 500),
    answered_at timestamptz NOT NULL,
    PRIMARY KEY (notice_id, child_id)
);

-- The approval audit trail. Append-only: no route updates or deletes it, and the trigger
-- refuses anyone who tries.
CREATE TABLE notice_approval_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notice_id       bigint NOT NULL REFERENCES notices (id),
    organization_id bigint NOT NULL REFERENCES organizations (id),
    actor_id        bigint NOT NULL REFERENCES accounts (id),
    action          text NOT NULL CHECK (action IN ('submitted', 'approved', 'edited', 'returned', 'resubmitted', 'skipped', 'cancelled')),
    comment         text CHECK (char_length(comment) <= 1000),
    at              timestamptz NOT NULL
);
CREATE INDEX notice_approval_log_notice_idx ON notice_approval_log (notice_id, id);

CREATE FUNCTION kairan_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER notice_approval_log_append_only BEFORE UPDATE OR DELETE ON notice_approval_log
    FOR EACH ROW EXECUTE FUNCTION kairan_append_only();
CREATE TRIGGER notice_approval_log_no_truncate BEFORE TRUNCATE ON notice_approval_log
    FOR EACH STATEMENT EXECUTE FUNCTION kairan_append_only();

-- 欠席・遅刻連絡 from guardians to the class teachers.
CREATE TABLE absence_reports (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    class_id         bigint REFERENCES classes (id) ON DELETE SET NULL,
    child_id         bigint NOT NULL REFERENCES children (id) ON DELETE CASCADE,
    guardian_id      bigint NOT NULL REFERENCES guardians (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('absent', 'late', 'early_leave')),
    day              date NOT NULL,
    reason           text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 30),
    note             text NOT NULL DEFAULT '' CHECK (char_length(note) <= 500),
    created_at       timestamptz NOT NULL,
    acknowledged_by  bigint REFERENCES accounts (id),
    acknowledged_at  timestamptz
);
CREATE INDEX absence_reports_class_idx ON absence_reports (organization_id, day DESC, id DESC);
CREATE INDEX absence_reports_child_idx ON absence_reports (child_id, day DESC);

-- Mail jobs of a notice carry the guardian's link token, rendered as a link by the worker.
ALTER TABLE deliveries ADD COLUMN link_token text;
