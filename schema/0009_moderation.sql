-- Moderation: flags, the review queue, actions on posts and authors, appeals, and the
-- append-only moderation log.

-- What moderation did to a post. 'hidden': only its author and moderators see it (the text
-- is kept, a keep or a reversed appeal restores it); 'removed': the text is gone from the
-- post (a copy stays with the queue item for the appeal and the log); 'held': waiting for a
-- moderator's approval (a watched word, or a new account in a group that asks for it),
-- seen only by its author and moderators.
ALTER TABLE posts ADD COLUMN moderation text NOT NULL DEFAULT 'visible'
    CHECK (moderation IN ('visible', 'hidden', 'removed', 'held'));

-- Groups that want new accounts' posts approved first.
ALTER TABLE groups ADD COLUMN approve_new_accounts boolean NOT NULL DEFAULT false;

-- Town-wide settings, one row; town admins change them.
CREATE TABLE moderation_settings (
    id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- A queue item whose score reaches this hides its post pending review.
    auto_hide_score     numeric(6, 2) NOT NULL DEFAULT 3 CHECK (auto_hide_score > 0),
    -- Accounts younger than this are new (their flags weigh less; the sandbox applies).
    new_account_days    integer NOT NULL DEFAULT 7 CHECK (new_account_days BETWEEN 0 AND 365),
    -- The sandbox: a new account's posts per hour and links per post.
    new_account_posts_per_hour integer NOT NULL DEFAULT 5 CHECK (new_account_posts_per_hour BETWEEN 1 AND 1000),
    new_account_max_links      integer NOT NULL DEFAULT 2 CHECK (new_account_max_links BETWEEN 0 AND 100)
);
INSERT INTO moderation_settings DEFAULT VALUES;

-- One queue item per flagged post. States: pending, kept, removed, ignored, escalated (a
-- group moderator passed it to the town's moderators).
CREATE TABLE moderation_items (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id       bigint NOT NULL UNIQUE REFERENCES posts (id) ON DELETE CASCADE,
    group_id      bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    author_id     bigint REFERENCES accounts (id) ON DELETE SET NULL,
    -- The post's text when the item was opened: what moderators judge and appeals restore.
    post_body     text NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'kept', 'removed', 'ignored', 'escalated')),
    -- Why it is in the queue: residents' flags, a watched word, or a post held for approval.
    source        text NOT NULL DEFAULT 'flags' CHECK (source IN ('flags', 'watched_word', 'approval')),
    score         numeric(8, 2) NOT NULL DEFAULT 0,
    auto_hidden   boolean NOT NULL DEFAULT false,
    -- Escalated, appealed, or acted on by the town's moderators: from then on only they act.
    town_handled  boolean NOT NULL DEFAULT false,
    -- False when the author had deleted the post before moderation removed it: a keep or a
    -- reversed appeal must not bring back what its author took down.
    restorable    boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    decided_at    timestamptz
);
CREATE INDEX moderation_items_queue_idx ON moderation_items (state, id DESC);
CREATE INDEX moderation_items_group_idx ON moderation_items (group_id, id DESC);

CREATE TABLE moderation_flags (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     bigint NOT NULL REFERENCES moderation_items (id) ON DELETE CASCADE,
    post_id     bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (reason IN ('spam', 'harassment', 'personal_info', 'inappropriate', 'other')),
    note        text NOT NULL DEFAULT '' CHECK (char_length(note) <= 500),
    weight      numeric(4, 2) NOT NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (post_id, account_id)
);
CREATE INDEX moderation_flags_account_idx ON moderation_flags (account_id, id DESC);
CREATE INDEX moderation_flags_item_idx ON moderation_flags (item_id);

-- Suspensions from one group (group_id) or the whole town (group_id NULL).
CREATE TABLE suspensions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    group_id    bigint REFERENCES groups (id) ON DELETE CASCADE,
    until       timestamptz NOT NULL,
    reason      text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    created_by  bigint REFERENCES accounts (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX suspensions_account_idx ON suspensions (account_id, until DESC);

-- One appeal per removed item, by the post's author, decided by town moderators.
CREATE TABLE moderation_appeals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     bigint NOT NULL UNIQUE REFERENCES moderation_items (id) ON DELETE CASCADE,
    author_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    text        text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 2000),
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'upheld', 'reversed')),
    created_at  timestamptz NOT NULL,
    decided_by  bigint REFERENCES accounts (id) ON DELETE SET NULL,
    decided_at  timestamptz,
    decision_reason text CHECK (char_length(decision_reason) <= 500)
);
CREATE INDEX moderation_appeals_state_idx ON moderation_appeals (state, id DESC);

-- Who did what to which item, when and why. Append-only: no route updates or deletes a
-- row, and the trigger refuses anyone who tries, the server's own role included.
CREATE TABLE moderation_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Plain ids, no foreign keys: a cascade from a deleted group or account would have to
    -- rewrite log rows, and the log is never rewritten.
    item_id     bigint,
    post_id     bigint,
    group_id    bigint,
    -- NULL: the system itself (an automatic hide).
    actor_id    bigint,
    action      text NOT NULL,
    reason      text NOT NULL CHECK (char_length(reason) <= 500),
    -- The account acted on (warned, suspended, banned), when there is one.
    subject_id  bigint,
    detail      text NOT NULL DEFAULT '' CHECK (char_length(detail) <= 500),
    at          timestamptz NOT NULL
);
CREATE TRIGGER moderation_log_append_only BEFORE UPDATE OR DELETE ON moderation_log
    FOR EACH ROW EXECUTE FUNCTION kairan_append_only();
CREATE TRIGGER moderation_log_no_truncate BEFORE TRUNCATE ON moderation_log
    FOR EACH STATEMENT EXECUTE FUNCTION kairan_append_only();
CREATE INDEX moderation_log_item_idx ON moderation_log (item_id, id);

-- Watched words, managed by the town's moderators. Matched against posts after NFKC
-- normalisation, case folding and hiragana→katakana folding (the stored `normalized`
-- form), so ｂａｄ, BAD and bad, or ﾊﾞｶ, ばか and バカ, are one word. A pattern may use `*`
-- for any run of characters.
CREATE TABLE watched_words (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pattern     text NOT NULL CHECK (char_length(pattern) BETWEEN 1 AND 100),
    normalized  text NOT NULL UNIQUE CHECK (char_length(normalized) BETWEEN 1 AND 200),
    -- block: refused; hold: kept back until a moderator approves; flag: posted and queued.
    action      text NOT NULL CHECK (action IN ('block', 'hold', 'flag')),
    created_by  bigint REFERENCES accounts (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL
);

-- Fixed-window counters for rate limits (posting, flagging, joining), shared by every
-- instance. Old windows are deleted by the maintenance worker.
CREATE TABLE rate_counters (
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    action       text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL,
    PRIMARY KEY (account_id, action, window_start)
);
CREATE INDEX rate_counters_window_idx ON rate_counters (window_start);
