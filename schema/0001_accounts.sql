-- Accounts, roles and login sessions.

-- Town-wide roles. Later features add scoped roles (group moderators, organization staff)
-- in their own tables; new town-wide roles are new rows here, not new columns.
CREATE TABLE roles (
    code        text PRIMARY KEY,
    description text NOT NULL
);

INSERT INTO roles (code, description) VALUES
    ('resident',        'A resident using the community SNS and forums'),
    ('org_staff',       'Staff of a school, nursery, facility or the town office'),
    ('group_moderator', 'Moderator of one or more community groups'),
    ('town_moderator',  'Moderator for every group in the town'),
    ('town_admin',      'Town administrator');

CREATE TABLE accounts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Exactly as the person typed it: legacy carrier addresses (taro..yamada@docomo.ne.jp)
    -- must be delivered to byte for byte.
    email         text NOT NULL CHECK (octet_length(email) BETWEEN 3 AND 254),
    -- Local part as-is, domain lower-cased: the comparison the mail system itself makes.
    email_key     text NOT NULL,
    password_hash text NOT NULL,
    display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 50),
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz
);
CREATE UNIQUE INDEX accounts_email_key_idx ON accounts (email_key);

CREATE TABLE account_roles (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       text NOT NULL REFERENCES roles (code),
    granted_at timestamptz NOT NULL,
    granted_by bigint REFERENCES accounts (id) ON DELETE SET NULL,
    PRIMARY KEY (account_id, role)
);

-- Bearer sessions. Only a SHA-256 of the token is stored: a copy of this table does not
-- let anyone log in.
CREATE TABLE sessions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_account_idx ON sessions (account_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
