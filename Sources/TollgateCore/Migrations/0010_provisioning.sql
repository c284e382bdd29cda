-- The provisioning API (SPEC §11): API keys, idempotent POSTs, deactivation and the last
-- active owner, and what support sees of them.

-- API keys for the platform that owns the companies. Only SHA-256 of a key is kept; keys are
-- made and revoked by `tollgate api-key` as the database owner, and the API only reads them.
-- A key with a company manages that company only; one without manages every company.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    company_id  uuid REFERENCES companies (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
REVOKE ALL ON api_keys FROM PUBLIC;
GRANT SELECT (id, name, key_hash, company_id, revoked_at) ON api_keys TO tollgate_api;

-- Idempotency-Key: the first answer to a key's POST, replayed to a retry with the same body.
-- `status` is NULL while the first request is still running. Kept 24 hours.
CREATE TABLE idempotency_keys (
    api_key_id    uuid NOT NULL REFERENCES api_keys (id),
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  bytea NOT NULL,
    status        integer,
    body          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO tollgate_api;

-- A platform key reaches a user by id before knowing its company: the one narrow path from a
-- user id to its company, as login_lookup is from an address.
CREATE FUNCTION user_company(p_user uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT d.company_id FROM login_directory d WHERE d.user_id = p_user $$;
REVOKE ALL ON FUNCTION user_company(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION user_company(uuid) TO tollgate_api;

-- A company keeps at least one *active* owner: demoting or deactivating the last one is
-- refused (`users_last_owner`, answered 409 last_owner). Concurrent changes take turns on the
-- company's row, and each statement of this function sees what the one before committed.
CREATE OR REPLACE FUNCTION users_keep_an_owner() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF OLD.role = 'owner' AND OLD.active AND (TG_OP = 'DELETE' OR NEW.role <> 'owner' OR NOT NEW.active
                                              OR NEW.company_id <> OLD.company_id) THEN
        PERFORM 1 FROM companies WHERE id = OLD.company_id FOR UPDATE;
        IF NOT EXISTS (
            SELECT 1 FROM users WHERE company_id = OLD.company_id AND role = 'owner' AND active AND id <> OLD.id
        ) THEN
            RAISE EXCEPTION 'a company must keep at least one active owner' USING ERRCODE = 'check_violation',
                CONSTRAINT = 'users_last_owner';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- Support sees whether an account is active and whether a reset link is waiting.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'tollgate_support_reader', 'MEMBER') THEN
        EXECUTE format('GRANT tollgate_support_reader TO %I', current_user);
        PERFORM set_config('tollgate.support_reader_granted', 'yes', true);
    END IF;
END
$$;
GRANT SELECT (active, deactivated_at) ON users TO tollgate_support_reader;
GRANT SELECT (company_id, user_id, purpose, expires_at, used_at, created_at) ON password_resets TO tollgate_support_reader;
CREATE POLICY support_reader ON password_resets FOR SELECT TO tollgate_support_reader USING (true);
CREATE OR REPLACE VIEW support.users AS
SELECT u.company_id,
       c.name AS company_name,
       u.id,
       u.email,
       u.name,
       u.role,
       u.dashboard_access,
       (u.role IN ('owner', 'admin') OR u.dashboard_access) AS has_dashboard_access,
       (c.two_factor_enabled AND (u.role IN ('owner', 'admin') OR u.dashboard_access)) AS two_factor_required,
       u.consecutive_wrong_codes,
       u.locked_until,
       coalesce(u.locked_until > now(), false) AS locked,
       u.created_at,
       -- A deactivated account cannot log in (answered like an unknown address).
       u.active,
       u.deactivated_at,
       -- A reset or invitation link is out and still works (not used, not expired).
       EXISTS (SELECT 1 FROM public.password_resets r
               WHERE r.company_id = u.company_id AND r.user_id = u.id AND r.used_at IS NULL AND r.expires_at > now()) AS reset_pending
FROM public.users u
JOIN public.companies c ON c.id = u.company_id;
DO $$
BEGIN
    IF current_setting('tollgate.support_reader_granted', true) = 'yes' THEN
        EXECUTE format('REVOKE tollgate_support_reader FROM %I', current_user);
    END IF;
END
$$;
