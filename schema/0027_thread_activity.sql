-- A thread's last visible post time is kept in a table of its own, `thread_activity`.
--
-- Every reply inserts a post, whose foreign key takes a FOR KEY SHARE lock on its thread's
-- row until the commit, and every reply also moved `threads.last_post_at`. An update of a
-- row that other transactions hold key-share locks on records them all in a MultiXact,
-- so under concurrent replies each version of the thread's row carried one, and every read
-- of the row (the access check of every page and every reply) looked the members of each
-- version's MultiXact up in pg_multixact: about 1 ms to read one row after ten seconds of
-- replies, against 0.1 ms for the same row without those locks. Nothing references
-- `thread_activity`, so its updates carry a plain transaction id; the thread's row is now
-- updated only by the rare pin, lock or rename, and replies' key-share locks on it cost
-- readers nothing (BENCHMARKS.md, REST, 2026-12-03).
--
-- `threads.last_post_at` stays for now, written when a thread is created and no longer
-- moved: instances of the previous release, still running during a rolling upgrade, read
-- and update it. A later migration drops it. Threads such an instance creates meanwhile get
-- their `thread_activity` row with their first reply or approval here (an upsert).
CREATE TABLE thread_activity (
    thread_id    bigint PRIMARY KEY REFERENCES threads (id) ON DELETE CASCADE,
    last_post_at timestamptz NOT NULL
);
INSERT INTO thread_activity (thread_id, last_post_at) SELECT id, last_post_at FROM threads;
