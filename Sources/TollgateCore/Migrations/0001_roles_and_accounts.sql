-- Roles, tenancy helpers, companies, users and the login directory.
--
-- The API and the worker connect as roles that own nothing and cannot bypass row-level
-- security. Every tenant table has RLS enabled and forced, keyed on app.company_id, which
-- the API sets per transaction with set_config(..., true).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate_api') THEN
        CREATE ROLE tollgate_api LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate_worker') THEN
        CREATE ROLE tollgate_worker LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate_support') THEN
        CREATE ROLE tollgate_support LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
EXCEPTION
    -- Another database of the same cluster created them at the same moment.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- Roles are cluster-wide; the grants on this database are not.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tollgate_api, tollgate_worker, tollgate_support', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO tollgate_api, tollgate_worker;

-- The company of the current transaction, or NULL when none is set (then nothing is visible).
CREATE FUNCTION app_company() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.company_id', true), '')::uuid $$;

CREATE TABLE companies (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    two_factor_enabled     boolean NOT NULL DEFAULT false,
    two_factor_changed_at  timestamptz,
    two_factor_changed_by  uuid,
    created_at             timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE companies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON companies USING (id = app_company()) WITH CHECK (id = app_company());

CREATE TABLE users (
    company_id               uuid NOT NULL REFERENCES companies (id),
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    -- Normalised once, in the application (trimmed, lower case); unique across the deployment.
    email                    text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name                     text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    role                     text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    dashboard_access         boolean NOT NULL DEFAULT false,
    password_hash            text NOT NULL,
    -- Wrong codes since the last successful login (SPEC §5: 100 lock the dashboard login).
    consecutive_wrong_codes  integer NOT NULL DEFAULT 0,
    locked_until             timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id),
    UNIQUE (id)
);
CREATE UNIQUE INDEX users_email_key ON users (email);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users USING (company_id = app_company()) WITH CHECK (company_id = app_company());

-- Owners and admins always have dashboard access; only members depend on the flag.
CREATE FUNCTION users_has_dashboard_access(role text, flag boolean) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT role IN ('owner', 'admin') OR flag $$;

-- A company keeps at least one owner: the last one cannot be removed or demoted.
CREATE FUNCTION users_keep_an_owner() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF OLD.role = 'owner' AND (TG_OP = 'DELETE' OR NEW.role <> 'owner' OR NEW.company_id <> OLD.company_id) THEN
        -- Serialise concurrent demotions within the company.
        PERFORM 1 FROM companies WHERE id = OLD.company_id FOR UPDATE;
        IF NOT EXISTS (
            SELECT 1 FROM users WHERE company_id = OLD.company_id AND role = 'owner' AND id <> OLD.id
        ) THEN
            RAISE EXCEPTION 'a company must keep at least one owner' USING ERRCODE = 'check_violation',
                CONSTRAINT = 'users_last_owner';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER users_keep_an_owner BEFORE UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_keep_an_owner();

-- A new company must have an owner by the end of the transaction that creates it.
CREATE FUNCTION companies_require_owner() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE company_id = NEW.id AND role = 'owner') THEN
        RAISE EXCEPTION 'a company needs an owner' USING ERRCODE = 'check_violation',
            CONSTRAINT = 'companies_owner_required';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER companies_require_owner AFTER INSERT ON companies
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION companies_require_owner();

-- The login directory: the one narrow path from an email address to its company, used
-- before the company is known. It holds no tenant data beyond that mapping; the API role
-- cannot read it, only call login_lookup() for one exact address at a time.
CREATE TABLE login_directory (
    email       text PRIMARY KEY,
    company_id  uuid NOT NULL,
    user_id     uuid NOT NULL UNIQUE
);
REVOKE ALL ON login_directory FROM PUBLIC;

CREATE FUNCTION login_directory_sync() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM login_directory WHERE user_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO login_directory (email, company_id, user_id) VALUES (NEW.email, NEW.company_id, NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER login_directory_sync AFTER INSERT OR DELETE OR UPDATE OF email, company_id ON users
    FOR EACH ROW EXECUTE FUNCTION login_directory_sync();

CREATE FUNCTION login_lookup(p_email text, OUT company_id uuid, OUT user_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT d.company_id, d.user_id FROM login_directory d WHERE d.email = p_email $$;
REVOKE ALL ON FUNCTION login_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION login_lookup(text) TO tollgate_api;

GRANT SELECT, INSERT, UPDATE ON companies TO tollgate_api;
GRANT SELECT, INSERT, UPDATE ON users TO tollgate_api;

-- Readiness checks compare the applied migrations with the build's.
GRANT SELECT ON schema_migrations TO tollgate_api, tollgate_worker;
