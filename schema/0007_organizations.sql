-- Schools, nurseries, children's facilities and the town office; their staff, classes,
-- the children enrolled and the households and guardians linked to them.

CREATE TABLE organizations (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('school', 'nursery', 'facility', 'town_office')),
    name              text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- Normal notices wait outside these hours (minutes after local midnight); NULL: never.
    quiet_start       smallint CHECK (quiet_start BETWEEN 0 AND 1439),
    quiet_end         smallint CHECK (quiet_end BETWEEN 0 AND 1439),
    -- Notices drafted by staff wait for an org admin's approval.
    requires_approval boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL
);

CREATE TABLE organization_staff (
    organization_id   bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    account_id        bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role              text NOT NULL CHECK (role IN ('org_admin', 'staff')),
    added_at          timestamptz NOT NULL,
    PRIMARY KEY (organization_id, account_id)
);
CREATE INDEX organization_staff_account_idx ON organization_staff (account_id);

CREATE TABLE classes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    grade           smallint CHECK (grade BETWEEN 0 AND 12),
    UNIQUE (organization_id, name)
);

-- A household: one or more guardians, and children in any number of organizations.
CREATE TABLE households (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at timestamptz NOT NULL
);

CREATE TABLE children (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    class_id        bigint REFERENCES classes (id) ON DELETE SET NULL,
    household_id    bigint REFERENCES households (id) ON DELETE SET NULL,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    created_at      timestamptz NOT NULL
);
CREATE INDEX children_organization_idx ON children (organization_id, class_id);
CREATE INDEX children_household_idx ON children (household_id);

CREATE TABLE guardians (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    household_id bigint NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    -- NULL: registered by staff with a mail address only (no app account).
    account_id   bigint UNIQUE REFERENCES accounts (id) ON DELETE SET NULL,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    -- Exactly as given (legacy carrier local parts are delivered byte for byte).
    email        text CHECK (octet_length(email) BETWEEN 3 AND 254),
    phone        text CHECK (char_length(phone) BETWEEN 1 AND 30),
    delivery     text NOT NULL CHECK (delivery IN ('app', 'mail', 'both')),
    created_at   timestamptz NOT NULL,
    CHECK (account_id IS NOT NULL OR email IS NOT NULL)
);
CREATE INDEX guardians_household_idx ON guardians (household_id);

-- A one-time code staff hand to a family (on paper or by mail) so a guardian's account can
-- link itself to the child. Only a hash is stored.
CREATE TABLE child_link_codes (
    code_hash  bytea PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    child_id   bigint NOT NULL REFERENCES children (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
