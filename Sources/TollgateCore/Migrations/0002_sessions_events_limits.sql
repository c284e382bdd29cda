-- Sessions, the append-only event log and the abuse-limit counters.

CREATE TABLE sessions (
    company_id           uuid NOT NULL REFERENCES companies (id),
    id                   uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id              uuid NOT NULL,
    -- SHA-256 of the bearer token; the token itself is never stored.
    token_hash           bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    client               text NOT NULL CHECK (client IN ('dashboard', 'phone_app')),
    two_factor_verified  boolean NOT NULL DEFAULT false,
    ip                   text,
    user_agent           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    revoked_at           timestamptz,
    revoked_reason       text,
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, user_id) REFERENCES users (company_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (company_id, user_id) WHERE revoked_at IS NULL;
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sessions USING (company_id = app_company()) WITH CHECK (company_id = app_company());
GRANT SELECT, INSERT, UPDATE ON sessions TO tollgate_api;

CREATE TABLE events (
    company_id  uuid NOT NULL REFERENCES companies (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    type        text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    user_id     uuid,
    -- The address as the account knows it (normalised), for support; never a password.
    email       text,
    ip          text,
    user_agent  text,
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id)
);
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON events USING (company_id = app_company()) WITH CHECK (company_id = app_company());
GRANT SELECT, INSERT ON events TO tollgate_api;

-- The event log is append-only for everyone, the owner included.
CREATE FUNCTION events_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- Fixed-window counters for the abuse limits of SPEC §5, shared by every server process.
-- Keys name the limit and its subject ("failed_password:<user id>", "login_ip:<address>").
CREATE TABLE rate_limits (
    key                text PRIMARY KEY,
    window_started_at  timestamptz NOT NULL,
    count              integer NOT NULL CHECK (count >= 0)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits TO tollgate_api;
