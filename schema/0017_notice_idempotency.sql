-- A notice form carries its own key: the same submission twice (a double click, a reload
-- of the answer) makes one notice, so guardians are not told twice. Per author.
ALTER TABLE notices ADD COLUMN idempotency_key text CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 100);
CREATE UNIQUE INDEX notices_author_idempotency_key ON notices (author_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
