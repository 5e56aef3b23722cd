-- Search finds what residents mean whatever width or case they typed: q=PTA finds 「ＰＴＡ総会」
-- and q=パパ finds 「ﾊﾟﾊﾟ」. Both sides are compared in NFKC and lower case; the trigram index
-- is on that same expression, so a search still uses it.
CREATE INDEX posts_body_folded_trgm_idx ON posts USING gin (lower(normalize(body, NFKC)) gin_trgm_ops);
DROP INDEX posts_body_trgm_idx;
