-- Finding the challenge a request names (ChallengeStore.locate) as a function, for two reasons.
--
-- An ended challenge (used or closed) never changes again, so it is read without its row lock:
-- a replayed token, or a closed one tried again and again, then waits for nobody and holds up
-- nobody. 64 replays of one token used to queue on that one row (bench/RESULTS.md, round five).
-- The locking read comes first. If the row it waited for ended meanwhile, PostgreSQL's recheck
-- drops it, and the next read, whose snapshot is taken after (a VOLATILE function takes one per
-- statement), finds it ended. The row returned is read last, with its user, so it is the row as
-- it stands once locked (or ended).
--
-- In a function the reads keep their plans for the server connection's life, as
-- rate_limit_hit's (0014): sent as statements, the lock-free read cost as much again to parse
-- and plan as the locking one (bench/statement-costs.sh), and planning the join with the
-- challenge's user (both tables under row-level security) was most of that cost. Exactly one of
-- p_token_hashes (a login challenge's token, one MAC per secret of the rotation) and p_id with
-- p_user_id (an activation) is given. It returns one row at most: the columns ChallengeRecord
-- and User read (Swift), but the clocks, which the caller reads after the call, so after any
-- wait for the lock.
CREATE FUNCTION challenge_locate(p_purpose text, p_token_hashes bytea[], p_id uuid, p_user_id uuid)
    RETURNS TABLE (
        id uuid, company_id uuid, user_id uuid, purpose text, state text, code_hash bytea,
        code_expires_at timestamptz, attempts integer, max_attempts integer, resends_used integer,
        max_resends integer, last_sent_at timestamptz, verified_at timestamptz, email_id uuid,
        user_company_id uuid, email text, user_name text, role text, dashboard_access boolean,
        locked_until timestamptz)
    LANGUAGE plpgsql ROWS 1 SET search_path = public, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    v_hash bytea;
    v_id uuid;
    v_user_id uuid;
BEGIN
    -- Lock the challenge if it may still change, else find it ended. Each read matches a
    -- unique key by plain equality (a token MAC at a time, not = ANY), so that the plan kept
    -- for every call uses that key's index whatever the table's statistics say: with an
    -- array, and before the first ANALYZE, it scanned all the company's open challenges.
    IF p_token_hashes IS NOT NULL THEN
        FOREACH v_hash IN ARRAY p_token_hashes LOOP
            SELECT ch.id, ch.user_id INTO v_id, v_user_id FROM challenges ch
                WHERE ch.token_hash = v_hash AND ch.company_id = app_company() AND ch.purpose = p_purpose
                  AND ch.state IN ('pending', 'verified')
                FOR UPDATE;
            IF NOT FOUND THEN
                SELECT ch.id, ch.user_id INTO v_id, v_user_id FROM challenges ch
                    WHERE ch.token_hash = v_hash AND ch.company_id = app_company() AND ch.purpose = p_purpose
                      AND ch.state IN ('used', 'closed');
            END IF;
            EXIT WHEN v_id IS NOT NULL;
        END LOOP;
    ELSE
        SELECT ch.id, ch.user_id INTO v_id, v_user_id FROM challenges ch
            WHERE ch.id = p_id AND ch.user_id = p_user_id AND ch.company_id = app_company() AND ch.purpose = p_purpose
              AND ch.state IN ('pending', 'verified')
            FOR UPDATE;
        IF NOT FOUND THEN
            SELECT ch.id, ch.user_id INTO v_id, v_user_id FROM challenges ch
                WHERE ch.id = p_id AND ch.user_id = p_user_id AND ch.company_id = app_company() AND ch.purpose = p_purpose
                  AND ch.state IN ('used', 'closed');
        END IF;
    END IF;
    IF v_id IS NULL THEN
        RETURN;
    END IF;
    -- Read after the lock (a new snapshot), with its user, each by its own key.
    RETURN QUERY SELECT ch.id, ch.company_id, ch.user_id, ch.purpose, ch.state, ch.code_hash,
            ch.code_expires_at, ch.attempts, ch.max_attempts, ch.resends_used, ch.max_resends,
            ch.last_sent_at, ch.verified_at, ch.email_id,
            u.company_id, u.email, u.name, u.role, u.dashboard_access, u.locked_until
        FROM challenges ch, users u
        WHERE ch.id = v_id AND ch.company_id = app_company() AND u.id = v_user_id AND u.company_id = app_company();
END
$$;
REVOKE ALL ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) TO tollgate_api;
