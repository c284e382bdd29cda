-- Passkeys (SPEC §13): a passkey is a row of user_methods of kind 'passkey' with its public
-- credential. Nothing here is secret (a public key, a counter), but it is tenant data under the
-- table's row-level security like every method.
--
-- credential_id is unique across the deployment: a credential names one account of one company,
-- and a second registration of it anywhere is refused (409 passkey_already_registered).
-- public_key is the COSE_Key exactly as the authenticator sent it (its algorithm is inside);
-- sign_count the last counter an assertion carried; backup_eligible (BE) never changes for a
-- credential, backup_state (BS) is updated at each use.
ALTER TABLE user_methods
    ADD COLUMN credential_id bytea UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
    ADD COLUMN public_key bytea CHECK (length(public_key) BETWEEN 1 AND 2048),
    ADD COLUMN sign_count bigint CHECK (sign_count BETWEEN 0 AND 4294967295),
    ADD COLUMN backup_eligible boolean,
    ADD COLUMN backup_state boolean,
    ADD COLUMN transports text[] CHECK (cardinality(transports) <= 8),
    ADD CONSTRAINT user_methods_passkey_complete CHECK (
        kind <> 'passkey' OR (credential_id IS NOT NULL AND public_key IS NOT NULL AND sign_count IS NOT NULL
                              AND backup_eligible IS NOT NULL AND backup_state IS NOT NULL AND confirmed_at IS NOT NULL));

-- The seed of a login's passkey step: 32 random bytes from which the WebAuthn challenge the
-- assertion must sign is derived under TOLLGATE_SECRET (an HMAC), so the row never holds the
-- challenge itself. Single use (cleared by the verify that reads it) and it ends with its login
-- challenge: a verify of a used, closed or expired challenge is refused before it is looked at.
ALTER TABLE challenges ADD COLUMN passkey_challenge bytea CHECK (length(passkey_challenge) = 32);

-- A registration started by `POST /v1/me/methods/passkeys/options`: bound to the session that
-- asked (and so to its user), single use, valid for `expires_at`. A new one of the same session
-- replaces it; the session's end removes it.
CREATE TABLE passkey_registrations (
    company_id  uuid NOT NULL REFERENCES companies (id),
    session_id  uuid NOT NULL,
    user_id     uuid NOT NULL,
    -- The seed of the WebAuthn challenge, as for challenges.passkey_challenge.
    challenge   bytea NOT NULL CHECK (length(challenge) = 32),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (company_id, session_id),
    FOREIGN KEY (company_id, session_id) REFERENCES sessions (company_id, id) ON DELETE CASCADE
);
ALTER TABLE passkey_registrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE passkey_registrations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON passkey_registrations USING (company_id = app_company()) WITH CHECK (company_id = app_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON passkey_registrations TO tollgate_api;

-- Under the policy 'phishing_resistant' a user without a passkey gets one email-code login that
-- leads to adding one (SPEC §13): the time it was used. An owner's or admin's reset of the
-- user's methods clears it, which allows that login again.
ALTER TABLE users ADD COLUMN passkey_enrollment_used_at timestamptz;

-- A session made by that login: it may add a passkey, read /v1/me and log out, nothing else.
ALTER TABLE sessions ADD COLUMN enrollment_only boolean NOT NULL DEFAULT false;

-- Support sees passkeys beside apps in support.methods (0021): their counters and backup flags
-- are no secret; the keys themselves are left out as useless to read.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'tollgate_support_reader', 'MEMBER') THEN
        EXECUTE format('GRANT tollgate_support_reader TO %I', current_user);
        PERFORM set_config('tollgate.support_reader_granted', 'yes', true);
    END IF;
END
$$;
GRANT SELECT (sign_count, backup_eligible, backup_state) ON user_methods TO tollgate_support_reader;

-- The dashboards CORS admits besides CORS_ALLOWED_ORIGINS (SPEC §13): every company's
-- dashboard_url, so a company added through the provisioning API needs no redeploy. The API
-- role sees one company per transaction; like open_challenges() (0006) this runs with the
-- support reader's rights and answers the addresses only. The server caches the answer briefly.
CREATE FUNCTION dashboard_urls() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT DISTINCT c.dashboard_url FROM public.companies c WHERE c.dashboard_url IS NOT NULL $$;
REVOKE ALL ON FUNCTION dashboard_urls() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dashboard_urls() TO tollgate_api;
GRANT SELECT (dashboard_url) ON companies TO tollgate_support_reader;
GRANT CREATE ON SCHEMA public TO tollgate_support_reader;
ALTER FUNCTION dashboard_urls() OWNER TO tollgate_support_reader;
REVOKE CREATE ON SCHEMA public FROM tollgate_support_reader;
CREATE OR REPLACE VIEW support.methods AS
SELECT m.company_id,
       m.id,
       m.user_id,
       u.email AS user_email,
       m.kind,
       m.name,
       m.created_at,
       m.confirmed_at,
       (m.confirmed_at IS NULL) AS pending,
       m.last_used_at,
       to_timestamp(u.totp_last_step * 30) AS last_code_step_at,
       -- Passkeys: the last signature counter (a lower one was refused as a possible clone:
       -- event passkey.counter_regression) and whether the passkey may sync / is synced.
       m.sign_count,
       m.backup_eligible,
       m.backup_state
FROM public.user_methods m
JOIN public.users u ON u.company_id = m.company_id AND u.id = m.user_id;
COMMENT ON VIEW support.methods IS 'Sign-in methods besides email (authenticator apps and passkeys), without secrets or keys; pending: started, never confirmed.';

DO $$
BEGIN
    IF current_setting('tollgate.support_reader_granted', true) = 'yes' THEN
        EXECUTE format('REVOKE tollgate_support_reader FROM %I', current_user);
    END IF;
END
$$;
