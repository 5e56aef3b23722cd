-- Attachments: photos (JPEG, PNG, WebP) and PDF on posts and notices.
--
-- The bytes live in a file store (a folder under the data directory, or an S3-compatible
-- bucket) under the SHA-256 of their content; `stored_files` says which contents the store
-- holds, `attachments` which post or notice shows one under which name. An upload writes
-- its `stored_files` row first (committed), then the bytes, then the attachment: a crash in
-- between leaves a row without attachments, and the collector removes its bytes and the row
-- once it is a day old. The same photo posted twice is stored once.
CREATE TABLE stored_files (
    sha256        text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    byte_size     bigint NOT NULL CHECK (byte_size > 0),
    content_type  text NOT NULL,
    created_at    timestamptz NOT NULL,
    -- Set by every upload of these bytes: the collector leaves a file alone for a day after
    -- it, so an upload on its way never loses its bytes.
    touched_at    timestamptz NOT NULL
);
CREATE INDEX stored_files_touched_idx ON stored_files (touched_at);

CREATE TABLE attachments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL once the account is deleted: its posts stay, so do their photos.
    uploader_id   bigint REFERENCES accounts (id) ON DELETE SET NULL,
    sha256        text NOT NULL REFERENCES stored_files (sha256),
    content_type  text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')),
    byte_size     bigint NOT NULL CHECK (byte_size > 0),
    -- As the uploader named it (the extension made to match the real type).
    filename      text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 200),
    width         integer,
    height        integer,
    -- Where it is shown: at most one; neither while it waits to be attached (a day at most).
    post_id       bigint REFERENCES posts (id) ON DELETE CASCADE,
    notice_id     bigint REFERENCES notices (id) ON DELETE CASCADE,
    position      smallint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    attached_at   timestamptz,
    CHECK (num_nonnulls(post_id, notice_id) <= 1),
    CHECK ((attached_at IS NULL) = (post_id IS NULL AND notice_id IS NULL))
);
CREATE INDEX attachments_post_idx ON attachments (post_id, position) WHERE post_id IS NOT NULL;
CREATE INDEX attachments_notice_idx ON attachments (notice_id, position) WHERE notice_id IS NOT NULL;
CREATE INDEX attachments_sha_idx ON attachments (sha256);
-- Uploads waiting to be attached, per uploader (their allowance) and by age (the collector).
CREATE INDEX attachments_waiting_idx ON attachments (uploader_id, created_at) WHERE attached_at IS NULL;
CREATE INDEX attachments_uploads_idx ON attachments (uploader_id, created_at);
