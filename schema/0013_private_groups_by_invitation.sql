-- A private group cannot be found by outsiders, so nobody could ever ask to join one that
-- approves its members (every attempt was 404). Such groups become invitation-only, and
-- the combination is refused from now on (422 invalid_join_policy). Requests already made
-- stay with the group's moderators, who may still approve them.
UPDATE groups SET join_policy = 'invite' WHERE visibility = 'private' AND join_policy = 'approval';
ALTER TABLE groups ADD CONSTRAINT groups_private_is_not_by_approval CHECK (NOT (visibility = 'private' AND join_policy = 'approval'));
