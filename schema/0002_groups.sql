-- Community groups and parenting forums: membership, threads, posts, reactions, read state,
-- and the event log that feeds live delivery.

-- pg_trgm: substring search on Japanese posts (ILIKE '%子育て%' using a GIN trigram index for
-- queries of three or more characters; two-character queries are answered by the same ILIKE
-- over the group's posts). Trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE groups (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('community', 'parenting')),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    area        text CHECK (char_length(area) BETWEEN 1 AND 40),
    visibility  text NOT NULL CHECK (visibility IN ('public', 'private')),
    join_policy text NOT NULL CHECK (join_policy IN ('open', 'approval', 'invite')),
    created_by  bigint REFERENCES accounts (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX groups_public_idx ON groups (id DESC) WHERE visibility = 'public';

CREATE TABLE group_members (
    group_id   bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'moderator', 'member')),
    joined_at  timestamptz NOT NULL,
    PRIMARY KEY (group_id, account_id)
);
CREATE INDEX group_members_account_idx ON group_members (account_id, group_id);

-- A denied request stays, so it can be approved later.
CREATE TABLE group_join_requests (
    group_id   bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    state      text NOT NULL CHECK (state IN ('pending', 'denied')),
    message    text NOT NULL DEFAULT '' CHECK (char_length(message) <= 500),
    created_at timestamptz NOT NULL,
    decided_at timestamptz,
    decided_by bigint REFERENCES accounts (id) ON DELETE SET NULL,
    PRIMARY KEY (group_id, account_id)
);

CREATE TABLE group_invitations (
    group_id   bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    invited_by bigint REFERENCES accounts (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (group_id, account_id)
);

CREATE TABLE group_bans (
    group_id   bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    banned_by  bigint REFERENCES accounts (id) ON DELETE SET NULL,
    reason     text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 500),
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (group_id, account_id)
);

CREATE TABLE threads (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id   bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    title      text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 100),
    created_by bigint REFERENCES accounts (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    pinned     boolean NOT NULL DEFAULT false,
    locked     boolean NOT NULL DEFAULT false,
    last_post_at timestamptz NOT NULL
);
CREATE INDEX threads_group_idx ON threads (group_id, id DESC);

CREATE TABLE posts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_id   bigint NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    group_id    bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    author_id   bigint REFERENCES accounts (id) ON DELETE SET NULL,
    -- NULL once deleted: the thread keeps its shape, the text is gone.
    body        text CHECK (char_length(body) BETWEEN 1 AND 5000),
    reply_to_id bigint REFERENCES posts (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    edited_at   timestamptz,
    deleted_at  timestamptz
);
CREATE INDEX posts_thread_idx ON posts (thread_id, id);
CREATE INDEX posts_group_idx ON posts (group_id, id);
CREATE INDEX posts_body_trgm_idx ON posts USING gin (body gin_trgm_ops);

-- Every earlier text of an edited post.
CREATE TABLE post_edits (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    body       text NOT NULL,
    edited_at  timestamptz NOT NULL,
    edited_by  bigint REFERENCES accounts (id) ON DELETE SET NULL
);
CREATE INDEX post_edits_post_idx ON post_edits (post_id, id);

CREATE TABLE post_reactions (
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    reaction   text NOT NULL CHECK (reaction IN ('like', 'thanks', 'agree', 'smile', 'sad')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (post_id, account_id, reaction)
);

CREATE TABLE thread_reads (
    thread_id         bigint NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    last_read_post_id bigint NOT NULL,
    PRIMARY KEY (account_id, thread_id)
);

-- The event log: one row per event per stream ('group:42', 'thread:7', 'user:9').
-- Appending locks the stream's head row until commit, so offsets within a stream are
-- gap-free and become visible in order: a reader that has seen offset N has seen 1…N.
CREATE TABLE stream_heads (
    stream      text PRIMARY KEY,
    last_offset bigint NOT NULL
);

CREATE TABLE events (
    stream     text NOT NULL,
    seq        bigint NOT NULL,
    kind       text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE INDEX events_created_at_idx ON events (created_at);
