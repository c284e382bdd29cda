-- Closes what an outside review found in the database's own rules (issue 11).

-- 1. The worker may append email events only. 0007 narrowed its own INSERT policy, but the
--    permissive `tenant` policy of 0002 applies to every role and permissive policies are
--    OR-ed, so a worker that set app.company_id could still insert any event type. A
--    RESTRICTIVE policy is AND-ed with the others: it binds whatever else allows.
CREATE POLICY worker_email_events_only ON events AS RESTRICTIVE FOR INSERT TO tollgate_worker
    WITH CHECK (type IN ('email.sent', 'email.failed', 'email.expired'));

-- 2. The API role writes code emails but never needs to read them back: it reads an email's
--    id and delivery status only. Column grants keep subjects and bodies (live codes) out of
--    reach of a compromised API process or an SQL injection in it.
REVOKE SELECT ON email_outbox FROM tollgate_api;
GRANT SELECT (company_id, id, challenge_id, template, status, code_expires_at, created_at, sent_at) ON email_outbox TO tollgate_api;

-- 3. Refusals for a limit are counted, and only the first of each window is written to the
--    event log (SPEC §5), so unauthenticated requests cannot flood a company's log.
--    `last_refused` says whether the latest hit was refused (one upsert both counts and decides).
ALTER TABLE rate_limits ADD COLUMN refused integer NOT NULL DEFAULT 0 CHECK (refused >= 0),
    ADD COLUMN last_refused boolean NOT NULL DEFAULT false;

-- 4. A key that outlives TOLLGATE_SECRET rotation: rate-limit counters are keyed by an HMAC
--    of the address under it, so rotating the secret no longer resets every failed-password
--    counter. Made once, at random (gen_random_uuid draws from the server's strong source);
--    the database already holds every address in clear, so keeping the key here hides nothing
--    that a copy of the database would not show anyway.
CREATE TABLE instance_keys (
    name text PRIMARY KEY,
    key  bytea NOT NULL CHECK (length(key) >= 32)
);
INSERT INTO instance_keys (name, key)
VALUES ('rate_limit', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
REVOKE ALL ON instance_keys FROM PUBLIC;
GRANT SELECT ON instance_keys TO tollgate_api;

-- 5. The worker changes an email's delivery bookkeeping, never whom it goes to or what it
--    says: with UPDATE on every column, a stolen worker credential could point a queued code
--    email at another address or rewrite it and have it sent under the deployment's name.
--    Column grants fix the rest; the bodies may only be replaced by the scrub text.
REVOKE UPDATE ON email_outbox FROM tollgate_worker;
GRANT UPDATE (status, attempts, next_attempt_at, lease_owner, lease_expires_at, last_error, sent_at, scrubbed, body_text, body_html)
    ON email_outbox TO tollgate_worker;
CREATE FUNCTION email_outbox_bodies_only_scrubbed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (NEW.body_text IS DISTINCT FROM OLD.body_text AND NEW.body_text <> '(removed: this email carried a one-time code)')
       OR (NEW.body_html IS DISTINCT FROM OLD.body_html AND NEW.body_html <> '(removed: this email carried a one-time code)') THEN
        RAISE EXCEPTION 'an email''s body can only be scrubbed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER email_outbox_bodies_only_scrubbed BEFORE UPDATE OF body_text, body_html ON email_outbox
    FOR EACH ROW EXECUTE FUNCTION email_outbox_bodies_only_scrubbed();
