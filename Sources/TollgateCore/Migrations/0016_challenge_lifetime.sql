-- A challenge ends with the account events that should end it, and lives at most a fixed time
-- (SPEC §2, issue 22): the second outside review found a pending challenge that outlived a
-- password reset, a deactivation and a loss of dashboard access, and one that could be given a
-- fresh code months after it began.

-- The absolute end of a challenge's life (CHALLENGE_LIFETIME after its start): after it no code
-- is issued or accepted. Open challenges of before this migration get an hour from it (a default
-- is DDL, which row-level security does not filter); every insert states its own.
ALTER TABLE challenges ADD COLUMN lifetime_ends_at timestamptz NOT NULL DEFAULT now() + interval '1 hour';
ALTER TABLE challenges ALTER COLUMN lifetime_ends_at DROP DEFAULT;

-- Why a challenge closed, with the account events that now close one. 'cancelled' and
-- 'resends_used_up' were never written by any version (an exhausted challenge closes as
-- 'expired' or 'burned'), so they leave the vocabulary.
ALTER TABLE challenges DROP CONSTRAINT challenges_close_reason_check;
ALTER TABLE challenges ADD CONSTRAINT challenges_close_reason_check
    CHECK (close_reason IN ('expired', 'burned', 'replaced', 'account_limit', 'reported',
                            'lifetime_over', 'password_changed', 'password_reset', 'deactivated', 'access_changed'));

-- The login challenge a dashboard session came from, so that "this wasn't me" on a challenge
-- that was already used ends the session it produced.
ALTER TABLE sessions ADD COLUMN challenge_id uuid;
CREATE INDEX sessions_challenge ON sessions (company_id, challenge_id) WHERE challenge_id IS NOT NULL;

-- challenge_locate (0015) as before, returning also the challenge's end of life and whether its
-- user is still active: verify, resend and the poll refuse for a deactivated user.
DROP FUNCTION challenge_locate(text, bytea[], uuid, uuid);
CREATE FUNCTION challenge_locate(p_purpose text, p_token_hashes bytea[], p_id uuid, p_user_id uuid)
    RETURNS TABLE (
        id uuid, company_id uuid, user_id uuid, purpose text, state text, code_hash bytea,
        code_expires_at timestamptz, attempts integer, max_attempts integer, resends_used integer,
        max_resends integer, last_sent_at timestamptz, verified_at timestamptz, email_id uuid,
        lifetime_ends_at timestamptz,
        user_company_id uuid, email text, user_name text, role text, dashboard_access boolean,
        locked_until timestamptz, active boolean)
    LANGUAGE plpgsql ROWS 1 SET search_path = public, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    v_hash bytea;
    v_id uuid;
    v_user_id uuid;
BEGIN
    -- Lock the challenge if it may still change, else find it ended; each read matches a unique
    -- key by plain equality (0015 says why).
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
    RETURN QUERY SELECT ch.id, ch.company_id, ch.user_id, ch.purpose, ch.state, ch.code_hash,
            ch.code_expires_at, ch.attempts, ch.max_attempts, ch.resends_used, ch.max_resends,
            ch.last_sent_at, ch.verified_at, ch.email_id, ch.lifetime_ends_at,
            u.company_id, u.email, u.name, u.role, u.dashboard_access, u.locked_until, u.active
        FROM challenges ch, users u
        WHERE ch.id = v_id AND ch.company_id = app_company() AND u.id = v_user_id AND u.company_id = app_company();
END
$$;
REVOKE ALL ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) TO tollgate_api;
