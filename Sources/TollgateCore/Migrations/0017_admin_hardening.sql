-- Findings of the outside security review (issue 22).

-- 1. Idempotency-Key claims have a lease. A process that dies after claiming a key left
--    `status` NULL and every retry was refused for 24 hours; now a retry of the same request
--    takes over a claim whose lease is over (AdminIdempotency.swift, 60 seconds). `claim`
--    names the request holding the key: the answer is written, in the work's own
--    transaction, only while that request still holds it. Rows of an older build get a
--    lease from now (the default is evaluated once for them) and no claim.
ALTER TABLE idempotency_keys
    ADD COLUMN claimed_until timestamptz NOT NULL DEFAULT now() + interval '60 seconds',
    ADD COLUMN claim uuid;

-- 2. Retention periods are the owner's, not the caller's: purge_ended() took them as
--    arguments, so a stolen worker credential could erase every event older than 30 days
--    whatever RETENTION_EVENTS said. `tollgate migrate` (the owner) writes the one row from
--    RETENTION_*; the worker may neither read nor write it, only run purge_ended(batch).
--    The floors stay, in the table and in the function.
CREATE TABLE retention_settings (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    sessions   bigint NOT NULL CHECK (sessions >= 3600),
    challenges bigint NOT NULL CHECK (challenges >= 86400),
    emails     bigint NOT NULL CHECK (emails >= 3600),
    events     bigint NOT NULL CHECK (events >= 2592000),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- RetentionSettings' defaults: 30, 30, 7 and 400 days.
INSERT INTO retention_settings (sessions, challenges, emails, events) VALUES (2592000, 2592000, 604800, 34560000);
REVOKE ALL ON retention_settings FROM PUBLIC;

-- A revoked session is found by its own index: `expires_at < … OR revoked_at < …` could use
-- neither, so each arm is now a DELETE of its own.
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

DROP FUNCTION purge_ended(integer, integer, integer, integer, integer);
CREATE FUNCTION purge_ended(p_batch integer)
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
REVOKE ALL ON FUNCTION purge_ended(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_ended(integer) TO tollgate_worker;

-- 3. Nobody but the owner creates objects in schema public. PostgreSQL 15 no longer grants
--    CREATE there to PUBLIC, but a cluster upgraded from 14 keeps the old grant, and a role
--    that can create a table or function in public can shadow names the others resolve.
--    A REVOKE by a role that does not own the schema only warns, so the result is checked.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['tollgate_api', 'tollgate_worker', 'tollgate_support', 'tollgate_support_reader'] LOOP
        IF has_schema_privilege(r, 'public', 'CREATE') THEN
            RAISE EXCEPTION 'role % may create objects in schema public', r
                USING HINT = 'as the owner of schema public, run REVOKE CREATE ON SCHEMA public FROM PUBLIC (and from that role), then migrate again';
        END IF;
    END LOOP;
END
$$;
