-- Data that stays small (issue 13): ended challenges, expired or revoked sessions, used
-- reset links, delivered email rows and old events are deleted after retention periods, by
-- the worker, in small batches.
--
-- The worker reaches nothing of the accounts (SPEC §9), so it may not delete those rows
-- itself: it calls purge_ended(), a SECURITY DEFINER function owned by the database owner
-- (this migration's role). Row-level security is forced on the owner too, so the owner gets
-- policies that show and delete exactly the rows past retention, and nothing else.

CREATE INDEX sessions_ended ON sessions (expires_at);
CREATE INDEX challenges_ended ON challenges (created_at) WHERE state IN ('used', 'closed');
CREATE INDEX email_outbox_done ON email_outbox (created_at) WHERE status IN ('sent', 'failed', 'expired');
CREATE INDEX password_resets_age ON password_resets (expires_at);
CREATE INDEX events_age ON events (created_at);

-- "past retention" for each table; p_* are seconds, the floors keep a mistaken setting from
-- deleting live rows (a session or challenge is never deleted while it could still be used).
CREATE FUNCTION purge_ended(p_batch integer, p_sessions integer, p_challenges integer, p_emails integer, p_events integer)
    RETURNS TABLE (kind text, deleted bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('tollgate.purge', 'on', true);
    DELETE FROM sessions WHERE ctid IN (
        SELECT ctid FROM sessions
        WHERE expires_at < now() - make_interval(secs => greatest(p_sessions, 3600))
           OR revoked_at < now() - make_interval(secs => greatest(p_sessions, 3600))
        LIMIT p_batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'sessions'; deleted := n; RETURN NEXT;

    DELETE FROM challenges WHERE ctid IN (
        SELECT ctid FROM challenges
        WHERE state IN ('used', 'closed') AND created_at < now() - make_interval(secs => greatest(p_challenges, 86400))
        LIMIT p_batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'challenges'; deleted := n; RETURN NEXT;

    DELETE FROM password_resets WHERE ctid IN (
        SELECT ctid FROM password_resets
        WHERE expires_at < now() - make_interval(secs => greatest(p_challenges, 86400))
        LIMIT p_batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'password_resets'; deleted := n; RETURN NEXT;

    DELETE FROM email_outbox WHERE ctid IN (
        SELECT ctid FROM email_outbox
        WHERE status IN ('sent', 'failed', 'expired') AND created_at < now() - make_interval(secs => greatest(p_emails, 3600))
        LIMIT p_batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'emails'; deleted := n; RETURN NEXT;

    DELETE FROM events WHERE ctid IN (
        SELECT ctid FROM events WHERE created_at < now() - make_interval(secs => greatest(p_events, 86400 * 30))
        LIMIT p_batch);
    GET DIAGNOSTICS n = ROW_COUNT; kind := 'events'; deleted := n; RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION purge_ended(integer, integer, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_ended(integer, integer, integer, integer, integer) TO tollgate_worker;

-- The owner sees and deletes only rows the function may purge (and only inside it: the
-- setting below is made by the function, and no other role is this one).
CREATE POLICY purge_read ON sessions FOR SELECT TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_delete ON sessions FOR DELETE TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_read ON challenges FOR SELECT TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_delete ON challenges FOR DELETE TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_read ON password_resets FOR SELECT TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_delete ON password_resets FOR DELETE TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_read ON email_outbox FOR SELECT TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_delete ON email_outbox FOR DELETE TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_read ON events FOR SELECT TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');
CREATE POLICY purge_delete ON events FOR DELETE TO CURRENT_USER USING (current_setting('tollgate.purge', true) = 'on');

-- The event log stays append-only for everyone, but for retention: a DELETE is let through
-- only inside purge_ended(), for rows older than 30 days.
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tollgate.purge', true) = 'on'
       AND OLD.created_at < now() - interval '30 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the event log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
