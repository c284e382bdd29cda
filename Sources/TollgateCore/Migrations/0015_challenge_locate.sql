-- Finding the challenge a request names (ChallengeStore.locate) as a function, for two reasons.
--
-- An ended challenge (used or closed) never changes again, so it is read without its row lock:
-- a replayed token, or a closed one tried again and again, then waits for nobody and holds up
-- nobody. 64 replays of one token used to queue on that one row (bench/RESULTS.md, round five).
-- The locking read comes first. If the row it waited for ended meanwhile, PostgreSQL's recheck
-- drops it, and the second read, whose snapshot is taken after (a VOLATILE function takes one
-- per statement), finds it ended.
--
-- In a function both reads keep their plans for the server connection's life, as
-- rate_limit_hit's (0014): sent as statements, the second read cost as much again to plan as
-- the first (bench/statement-costs.sh). Exactly one of p_token_hashes (a login challenge's
-- token, one MAC per secret of the rotation) and p_id with p_user_id (an activation) is given.
-- It returns the challenge's row at most, read under the caller's row-level security.
CREATE FUNCTION challenge_locate(p_purpose text, p_token_hashes bytea[], p_id uuid, p_user_id uuid)
    RETURNS SETOF challenges
    LANGUAGE plpgsql ROWS 1 SET search_path = public, pg_temp
    AS $$
BEGIN
    IF p_token_hashes IS NOT NULL THEN
        RETURN QUERY SELECT * FROM challenges
            WHERE company_id = app_company() AND purpose = p_purpose AND token_hash = ANY(p_token_hashes)
              AND state IN ('pending', 'verified')
            FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT * FROM challenges
                WHERE company_id = app_company() AND purpose = p_purpose AND token_hash = ANY(p_token_hashes)
                  AND state IN ('used', 'closed');
        END IF;
    ELSE
        RETURN QUERY SELECT * FROM challenges
            WHERE company_id = app_company() AND purpose = p_purpose AND id = p_id AND user_id = p_user_id
              AND state IN ('pending', 'verified')
            FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT * FROM challenges
                WHERE company_id = app_company() AND purpose = p_purpose AND id = p_id AND user_id = p_user_id
                  AND state IN ('used', 'closed');
        END IF;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) TO tollgate_api;
