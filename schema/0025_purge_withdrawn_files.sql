-- The bytes of a file withdrawn on purpose (taken off an alert that went out: a list that
-- names a child) go at the collector's next pass once nothing shows them and no upload of
-- the same bytes came in the last ten minutes, not a day after their last upload. A new
-- upload of the same bytes clears the mark.
ALTER TABLE stored_files ADD COLUMN purge_soon boolean NOT NULL DEFAULT false;
CREATE INDEX stored_files_purge_idx ON stored_files (touched_at) WHERE purge_soon;
