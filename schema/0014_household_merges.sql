-- One family registered twice (a parent in the app at a school, the other parent by mail at
-- the nursery) becomes one household: by a guardian redeeming a link code for a child of
-- the other household (the code is the organization's word that they are its guardian), or
-- by an organization's admin merging two of its children's households. Every merge is kept
-- here, append-only.
CREATE TABLE household_merges (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kept_household   bigint NOT NULL,
    merged_household bigint NOT NULL,
    -- The organization that vouched (the link code's, or the admin's).
    organization_id  bigint REFERENCES organizations (id) ON DELETE SET NULL,
    by_account       bigint REFERENCES accounts (id) ON DELETE SET NULL,
    via              text NOT NULL CHECK (via IN ('link_code', 'staff')),
    reason           text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 500),
    children_moved   integer NOT NULL,
    guardians_moved  integer NOT NULL,
    at               timestamptz NOT NULL
);
CREATE INDEX household_merges_organization_idx ON household_merges (organization_id, id DESC);
CREATE TRIGGER household_merges_append_only BEFORE UPDATE OR DELETE ON household_merges
    FOR EACH ROW EXECUTE FUNCTION kairan_append_only();
CREATE TRIGGER household_merges_no_truncate BEFORE TRUNCATE ON household_merges
    FOR EACH STATEMENT EXECUTE FUNCTION kairan_append_only();
