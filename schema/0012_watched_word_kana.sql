-- Hiragana and katakana become the same word only for watched words that ask for it
-- (fold_kana): folded for every word, a short kana entry collided with everyday words
-- (バカ blocked 「生まれたばかり」, シカ blocked 「しかし」).
--
-- Existing words were stored folded. They are stored again as written, NFKC and lower case
-- (what the server computes for a word that does not fold, for every pattern the form
-- accepts), and do not fold: a moderator who wants ばか = バカ says so per word.
ALTER TABLE watched_words ADD COLUMN fold_kana boolean NOT NULL DEFAULT false;
UPDATE watched_words SET normalized = normalize(lower(pattern), NFKC);
