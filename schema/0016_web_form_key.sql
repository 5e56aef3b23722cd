-- The key the web pages' form tokens (CSRF) are made with: generated once per database,
-- so every instance agrees without configuration.
INSERT INTO server_secrets (name, value)
    VALUES ('web_forms', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
