-- Support access with psql (SPEC §9): a `support` schema of read-only views over every
-- company, and the `tollgate_support` login role (created in 0001) that may read those views
-- and nothing else: no base table, no password hash, no code or token hash, no email body.
--
-- Why a second role: every tenant table has FORCE ROW LEVEL SECURITY, which binds even the
-- tables' owner, so a view owned by the migrating role would show nothing. The views are
-- therefore owned by `tollgate_support_reader`, a NOLOGIN role with SELECT on exactly the
-- base-table columns the views name and a permissive read-all policy on each table it reads.
-- The views run with their owner's rights (security_invoker = false, the default): support
-- sees all companies, through these views only. Nobody logs in as the reader, and
-- `tollgate_support` is not a member of it.
--
-- Runs as the database owner, in one transaction (the migrator wraps each file; by hand use
-- psql -1). In development and tests the owner is a superuser. In production
-- the migrating role needs CREATEROLE (to create the reader role and to take membership in it
-- for the ownership change, which is given back at the end), or an administrator pre-creates
-- `tollgate_support_reader` NOLOGIN and grants it to the migrating role before migrating.

-- Roles are cluster-wide: another database of the cluster may have created it already, or be
-- creating it at this moment.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tollgate_support_reader') THEN
        CREATE ROLE tollgate_support_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- A non-superuser can only hand objects to a role it is a member of. Take the membership for
-- this transaction's ownership changes; it is revoked again at the end of this file.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'tollgate_support_reader', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT tollgate_support_reader TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'role % cannot take membership in tollgate_support_reader', current_user
                USING HINT = 'Migrate as a superuser or a role with CREATEROLE, or pre-create tollgate_support_reader and GRANT it to the migrating role.';
        END;
        PERFORM set_config('tollgate.support_reader_granted', 'yes', true);
    END IF;
END
$$;

-- The reader sees every company's rows of the tables it reads, and may only read.
CREATE POLICY support_reader ON companies FOR SELECT TO tollgate_support_reader USING (true);
CREATE POLICY support_reader ON users FOR SELECT TO tollgate_support_reader USING (true);
CREATE POLICY support_reader ON challenges FOR SELECT TO tollgate_support_reader USING (true);
CREATE POLICY support_reader ON email_outbox FOR SELECT TO tollgate_support_reader USING (true);
CREATE POLICY support_reader ON events FOR SELECT TO tollgate_support_reader USING (true);

-- Exactly the columns the views name; never password_hash, code_hash, token_hash, subject or bodies.
GRANT USAGE ON SCHEMA public TO tollgate_support_reader;
GRANT SELECT (id, name, two_factor_enabled, two_factor_changed_at, two_factor_changed_by, created_at)
    ON companies TO tollgate_support_reader;
GRANT SELECT (company_id, id, email, name, role, dashboard_access, consecutive_wrong_codes, locked_until, created_at)
    ON users TO tollgate_support_reader;
GRANT SELECT (company_id, id, user_id, purpose, state, close_reason, code_issued_at, code_expires_at, attempts, max_attempts,
              resends_used, max_resends, wrong_total, last_sent_at, email_id, ip, user_agent, created_at, verified_at, used_at,
              closed_at)
    ON challenges TO tollgate_support_reader;
GRANT SELECT (company_id, id, challenge_id, recipient, template, code_expires_at, status, attempts, next_attempt_at,
              lease_owner, lease_expires_at, last_error, message_id, scrubbed, created_at, sent_at)
    ON email_outbox TO tollgate_support_reader;
GRANT SELECT (company_id, id, type, user_id, email, ip, user_agent, detail, created_at)
    ON events TO tollgate_support_reader;

CREATE SCHEMA support;
COMMENT ON SCHEMA support IS 'Read-only views for support staff (role tollgate_support), across all companies.';
-- The new owner of an object must be allowed to create in its schema.
GRANT USAGE, CREATE ON SCHEMA support TO tollgate_support_reader;

-- The views filter no rows, so a leaky function in a caller's WHERE clause could only see
-- what the view shows anyway: security_barrier is not needed and would stop index use.

CREATE VIEW support.companies AS
SELECT c.id,
       c.name,
       c.two_factor_enabled,
       c.two_factor_changed_at,
       c.two_factor_changed_by,
       c.created_at
FROM public.companies c;
COMMENT ON VIEW support.companies IS 'Companies and their 2FA setting (the last change and who made it).';

CREATE VIEW support.users AS
SELECT u.company_id,
       c.name AS company_name,
       u.id,
       u.email,
       u.name,
       u.role,
       u.dashboard_access,
       -- Owners and admins always have it; members only with the flag (as the API decides).
       (u.role IN ('owner', 'admin') OR u.dashboard_access) AS has_dashboard_access,
       -- Whether a dashboard login of this user asks for an email code right now.
       (c.two_factor_enabled AND (u.role IN ('owner', 'admin') OR u.dashboard_access)) AS two_factor_required,
       u.consecutive_wrong_codes,
       u.locked_until,
       coalesce(u.locked_until > now(), false) AS locked,
       u.created_at
FROM public.users u
JOIN public.companies c ON c.id = u.company_id;
COMMENT ON VIEW support.users IS 'Users of every company, without password hashes. locked: dashboard login locked (tollgate user unlock lifts it).';

CREATE VIEW support.challenges AS
SELECT ch.company_id,
       ch.id,
       ch.user_id,
       u.email AS user_email,
       ch.purpose,
       ch.state,
       ch.close_reason,
       ch.attempts,
       ch.max_attempts,
       ch.resends_used,
       ch.max_resends,
       ch.wrong_total,
       ch.code_issued_at,
       ch.code_expires_at,
       (ch.code_expires_at <= now()) AS code_expired,
       ch.last_sent_at,
       ch.email_id,
       -- The latest code email, as the API reports it (queued, sent, failed) and in detail.
       CASE o.status WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' WHEN 'expired' THEN 'failed' ELSE 'queued' END AS delivery,
       o.status AS email_status,
       o.attempts AS email_attempts,
       o.last_error AS email_last_error,
       o.sent_at AS email_sent_at,
       ch.ip,
       ch.user_agent,
       ch.created_at,
       ch.verified_at,
       ch.used_at,
       ch.closed_at
FROM public.challenges ch
JOIN public.users u ON u.company_id = ch.company_id AND u.id = ch.user_id
LEFT JOIN public.email_outbox o ON o.company_id = ch.company_id AND o.id = ch.email_id;
COMMENT ON VIEW support.challenges IS 'Login and activation challenges, without code or token hashes, with the delivery state of the latest code email.';

CREATE VIEW support.email_deliveries AS
SELECT o.company_id,
       o.id,
       o.challenge_id,
       o.recipient,
       o.template,
       o.status,
       o.attempts,
       o.next_attempt_at,
       o.last_error,
       o.message_id,
       o.code_expires_at,
       o.lease_owner,
       o.lease_expires_at,
       o.scrubbed,
       o.created_at,
       o.sent_at
FROM public.email_outbox o;
COMMENT ON VIEW support.email_deliveries IS 'The outbound email queue without subjects or bodies (they carry codes).';

CREATE VIEW support.events AS
SELECT e.company_id,
       e.id,
       e.type,
       e.user_id,
       e.email,
       e.ip,
       e.user_agent,
       e.detail,
       e.created_at
FROM public.events e;
COMMENT ON VIEW support.events IS 'The append-only event log of every company.';

ALTER VIEW support.companies OWNER TO tollgate_support_reader;
ALTER VIEW support.users OWNER TO tollgate_support_reader;
ALTER VIEW support.challenges OWNER TO tollgate_support_reader;
ALTER VIEW support.email_deliveries OWNER TO tollgate_support_reader;
ALTER VIEW support.events OWNER TO tollgate_support_reader;

-- The owner no longer needs to create anything in the schema.
REVOKE CREATE ON SCHEMA support FROM tollgate_support_reader;

-- Support reads the views, and only the views.
REVOKE ALL ON SCHEMA support FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA support FROM PUBLIC;
GRANT USAGE ON SCHEMA support TO tollgate_support;
GRANT SELECT ON support.companies, support.users, support.challenges, support.email_deliveries, support.events TO tollgate_support;

-- Give back the membership taken above (ownership stays).
DO $$
BEGIN
    IF current_setting('tollgate.support_reader_granted', true) = 'yes' THEN
        EXECUTE format('REVOKE tollgate_support_reader FROM %I', current_user);
    END IF;
END
$$;
