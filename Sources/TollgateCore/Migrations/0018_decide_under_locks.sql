-- Decide under locks, not predictions (issue 23). A request on a challenge reads, in its first
-- round trip, everything its decision needs under the locks that keep it true until COMMIT:
-- the challenge and its user's row, with the user's counters. The decision is then made in
-- Swift and its writes go with the COMMIT, expecting nothing: nobody else can change what was
-- read. expect_outcome (0013) and its second run are gone.
--
-- Lock order everywhere is the user's row, then the user's challenges: a login (users FOR NO
-- KEY UPDATE, then replacing the open challenge), an operator's change of the user (UPDATE
-- users, then closing challenges) and this function all take them in that order, so they
-- queue and never deadlock.
DROP FUNCTION expect_outcome(boolean, text);

-- Until when a verified activation may enable 2FA (its use window, SPEC §3.1), decided by the
-- Challenge state machine at verification and stored with it; NULL for anything else.
ALTER TABLE challenges ADD COLUMN usable_until timestamptz;

-- challenge_locate (0015) returns also the challenge's end of life and use window (0016, and
-- above), whether its user is still active (verify, resend and the poll refuse for a
-- deactivated user), and the user's counters: the run of wrong codes, the account's lock, and
-- the hourly wrong-code counter (rate_limits, keyed as Swift prints the user's id). An ended
-- challenge is still read without any lock (replays wait for nobody).
DROP FUNCTION challenge_locate(text, bytea[], uuid, uuid);
CREATE FUNCTION challenge_locate(p_purpose text, p_token_hashes bytea[], p_id uuid, p_user_id uuid)
    RETURNS TABLE (
        id uuid, company_id uuid, user_id uuid, purpose text, state text, code_hash bytea,
        code_expires_at timestamptz, attempts integer, max_attempts integer, resends_used integer,
        max_resends integer, last_sent_at timestamptz, verified_at timestamptz, email_id uuid,
        lifetime_ends_at timestamptz, usable_until timestamptz,
        user_company_id uuid, email text, user_name text, role text, dashboard_access boolean,
        locked_until timestamptz, active boolean, consecutive_wrong_codes integer,
        wrong_codes integer, wrong_codes_refused integer, wrong_codes_window_started_at timestamptz)
    LANGUAGE plpgsql ROWS 1 SET search_path = public, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    v_hash bytea;
    v_id uuid;
    v_user_id uuid;
    v_state text;
BEGIN
    -- Find it without a lock, each read matching a unique key by plain equality (0015 says why).
    IF p_token_hashes IS NOT NULL THEN
        FOREACH v_hash IN ARRAY p_token_hashes LOOP
            SELECT ch.id, ch.user_id, ch.state INTO v_id, v_user_id, v_state FROM challenges ch
                WHERE ch.token_hash = v_hash AND ch.company_id = app_company() AND ch.purpose = p_purpose;
            EXIT WHEN v_id IS NOT NULL;
        END LOOP;
    ELSE
        SELECT ch.id, ch.user_id, ch.state INTO v_id, v_user_id, v_state FROM challenges ch
            WHERE ch.id = p_id AND ch.user_id = p_user_id AND ch.company_id = app_company() AND ch.purpose = p_purpose;
    END IF;
    IF v_id IS NULL THEN
        RETURN;
    END IF;
    -- One that may still change: lock its user, then it. If it ended while this waited, the
    -- read below (a new snapshot: a VOLATILE function takes one per statement) finds it ended.
    IF v_state IN ('pending', 'verified') THEN
        PERFORM 1 FROM users u WHERE u.id = v_user_id AND u.company_id = app_company() FOR NO KEY UPDATE;
        PERFORM 1 FROM challenges ch WHERE ch.id = v_id AND ch.company_id = app_company()
            AND ch.state IN ('pending', 'verified') FOR UPDATE;
    END IF;
    -- An ended one needs none of the user's counters (a replay is refused before any limit):
    -- the counter's row is not even looked up then (a one-time filter of the join).
    RETURN QUERY SELECT ch.id, ch.company_id, ch.user_id, ch.purpose, ch.state, ch.code_hash,
            ch.code_expires_at, ch.attempts, ch.max_attempts, ch.resends_used, ch.max_resends,
            ch.last_sent_at, ch.verified_at, ch.email_id, ch.lifetime_ends_at, ch.usable_until,
            u.company_id, u.email, u.name, u.role, u.dashboard_access, u.locked_until, u.active,
            u.consecutive_wrong_codes, coalesce(r.count, 0), coalesce(r.refused, 0), r.window_started_at
        FROM challenges ch
        JOIN users u ON u.id = v_user_id AND u.company_id = app_company()
        LEFT JOIN rate_limits r ON v_state IN ('pending', 'verified') AND r.key = 'wrong_codes:' || upper(v_user_id::text)
        WHERE ch.id = v_id AND ch.company_id = app_company();
END
$$;
REVOKE ALL ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) TO tollgate_api;
