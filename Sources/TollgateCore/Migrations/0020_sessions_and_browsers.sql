-- "Where you're logged in" (SPEC §14, issue 25): ended remembered browsers are purged like
-- ended sessions, a session's last use is kept to the minute, and support sees sessions and
-- remembered browsers (SPEC §9) without their token hashes.

-- 1. Retention. A revoked remembered browser is found by its own index, as a revoked session
--    is (0017); an expired one by `remembered_browsers_ended` (0019). Both go after the
--    sessions' period: a remembered browser is a longer-lived kind of sign-in.
CREATE INDEX remembered_browsers_revoked ON remembered_browsers (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE OR REPLACE FUNCTION purge_ended(p_batch integer)
    RETURNS TABLE (kind text, deleted bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    n bigint;
    m bigint;
    s retention_settings;
    -- The batch is the caller's, bounded: it changes how fast, never what is deleted.
    batch integer := least(greatest(coalesce(p_batch, 1), 1), 10000);
BEGIN
    SELECT * INTO STRICT s FROM retention_settings;
    PERFORM set_config('tollgate.purge', 'on', true);
    DELETE FROM sessions WHERE ctid IN (
        SELECT ctid FROM sessions
        WHERE expires_at < now() - make_interval(secs => greatest(s.sessions, 3600))
        LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM sessions WHERE ctid IN (
        SELECT ctid FROM sessions
        WHERE revoked_at < now() - make_interval(secs => greatest(s.sessions, 3600))
        LIMIT batch - n);
    GET DIAGNOSTICS m = ROW_COUNT; kind := 'sessions'; deleted := n + m; RETURN NEXT;

    DELETE FROM remembered_browsers WHERE ctid IN (
        SELECT ctid FROM remembered_browsers
        WHERE expires_at < now() - make_interval(secs => greatest(s.sessions, 3600))
        LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM remembered_browsers WHERE ctid IN (
        SELECT ctid FROM remembered_browsers
        WHERE revoked_at < now() - make_interval(secs => greatest(s.sessions, 3600))
        LIMIT batch - n);
    GET DIAGNOSTICS m = ROW_COUNT; kind := 'remembered_browsers'; deleted := n + m; RETURN NEXT;

    DELETE FROM challenges WHERE ctid IN (
        SELECT ctid FROM challenges
        WHERE state IN ('used', 'closed') AND created_at < now() - make_interval(secs => greatest(s.challenges, 86400))
        LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'challenges'; deleted := n; RETURN NEXT;

    DELETE FROM password_resets WHERE ctid IN (
        SELECT ctid FROM password_resets
        WHERE expires_at < now() - make_interval(secs => greatest(s.challenges, 86400))
        LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'password_resets'; deleted := n; RETURN NEXT;

    DELETE FROM email_outbox WHERE ctid IN (
        SELECT ctid FROM email_outbox
        WHERE status IN ('sent', 'failed', 'expired') AND created_at < now() - make_interval(secs => greatest(s.emails, 3600))
        LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'emails'; deleted := n; RETURN NEXT;

    DELETE FROM events WHERE ctid IN (
        SELECT ctid FROM events WHERE created_at < now() - make_interval(secs => greatest(s.events, 86400 * 30))
        LIMIT batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'events'; deleted := n; RETURN NEXT;
END
$$;
-- CREATE OR REPLACE keeps the grants of 0017 (EXECUTE for the worker only).

-- 2. When a session was last used (SPEC §14), to the minute. Called by the authentication
--    statement for its row only when the touch is due, so that statement stays a plain SELECT
--    on every other request; never waits for a row another transaction holds (SKIP LOCKED:
--    a later request touches it). Runs with the caller's rights, in the caller's tenant.
CREATE FUNCTION touch_session(p_session uuid) RETURNS boolean
    LANGUAGE sql VOLATILE SET search_path = public, pg_temp
    AS $$
    UPDATE sessions SET last_used_at = now()
    WHERE company_id = app_company() AND id = (
        SELECT id FROM sessions
        WHERE company_id = app_company() AND id = p_session AND revoked_at IS NULL
          AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        FOR UPDATE SKIP LOCKED)
    RETURNING true
$$;
REVOKE ALL ON FUNCTION touch_session(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION touch_session(uuid) TO tollgate_api;

-- 3. Support views: every session and remembered browser, live or ended, with why it ended;
--    never a token hash. Owned by the reader role, as in 0004.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'tollgate_support_reader', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT tollgate_support_reader TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'role % cannot take membership in tollgate_support_reader', current_user
                USING HINT = 'Migrate as a superuser or a role with CREATEROLE, or GRANT tollgate_support_reader to the migrating role.';
        END;
        PERFORM set_config('tollgate.support_reader_granted', 'yes', true);
    END IF;
END
$$;

CREATE POLICY support_reader ON sessions FOR SELECT TO tollgate_support_reader USING (true);
CREATE POLICY support_reader ON remembered_browsers FOR SELECT TO tollgate_support_reader USING (true);
GRANT SELECT (company_id, id, user_id, client, two_factor_verified, ip, user_agent, created_at, last_used_at, expires_at,
              revoked_at, revoked_reason)
    ON sessions TO tollgate_support_reader;
GRANT SELECT (company_id, id, user_id, ip, user_agent, created_at, last_used_at, expires_at, revoked_at, revoked_reason)
    ON remembered_browsers TO tollgate_support_reader;
GRANT CREATE ON SCHEMA support TO tollgate_support_reader;

CREATE VIEW support.sessions AS
SELECT s.company_id,
       s.id,
       s.user_id,
       u.email AS user_email,
       s.client,
       s.two_factor_verified,
       s.ip,
       s.user_agent,
       s.created_at,
       -- To the minute: the API touches it at most once a minute per session.
       s.last_used_at,
       s.expires_at,
       s.revoked_at,
       -- logout, ended_by_user, ended_by_owner, password_changed, password_reset, reported, deactivated
       s.revoked_reason,
       (s.revoked_at IS NULL AND s.expires_at > now()) AS live
FROM public.sessions s
JOIN public.users u ON u.company_id = s.company_id AND u.id = s.user_id;
COMMENT ON VIEW support.sessions IS 'Sessions of every company, live or ended and why, without token hashes.';

CREATE VIEW support.remembered_browsers AS
SELECT b.company_id,
       b.id,
       b.user_id,
       u.email AS user_email,
       b.ip,
       b.user_agent,
       b.created_at,
       -- The last login it let skip the second step; NULL until one has.
       b.last_used_at,
       b.expires_at,
       b.revoked_at,
       -- forgotten, ended_by_owner, policy_changed, password_changed, password_reset, reported, deactivated
       b.revoked_reason,
       (b.revoked_at IS NULL AND b.expires_at > now()) AS live
FROM public.remembered_browsers b
JOIN public.users u ON u.company_id = b.company_id AND u.id = b.user_id;
COMMENT ON VIEW support.remembered_browsers IS 'Browsers users chose to be remembered on (no second step until expiry), without token hashes.';

ALTER VIEW support.sessions OWNER TO tollgate_support_reader;
ALTER VIEW support.remembered_browsers OWNER TO tollgate_support_reader;
REVOKE CREATE ON SCHEMA support FROM tollgate_support_reader;
REVOKE ALL ON support.sessions, support.remembered_browsers FROM PUBLIC;
GRANT SELECT ON support.sessions, support.remembered_browsers TO tollgate_support;

DO $$
BEGIN
    IF current_setting('tollgate.support_reader_granted', true) = 'yes' THEN
        EXECUTE format('REVOKE tollgate_support_reader FROM %I', current_user);
    END IF;
END
$$;
