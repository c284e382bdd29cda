-- Sign-in methods beyond email (SPEC §13, issue 25): authenticator apps now, passkeys next;
-- the company's policy on which methods count and how often to ask; remembered browsers and
-- when a session was last used (SPEC §14).

-- The company's policy (owner only). `methods`: which second factors count at login;
-- `ask`: at every login, or once per browser for `remember_days` days.
ALTER TABLE companies
    ADD COLUMN methods_policy text NOT NULL DEFAULT 'email' CHECK (methods_policy IN ('email', 'any', 'phishing_resistant')),
    ADD COLUMN ask_policy text NOT NULL DEFAULT 'every_login' CHECK (ask_policy IN ('every_login', 'per_browser')),
    ADD COLUMN remember_days integer NOT NULL DEFAULT 30 CHECK (remember_days BETWEEN 1 AND 30),
    ADD COLUMN policy_changed_at timestamptz,
    ADD COLUMN policy_changed_by uuid;

-- A user's methods besides email (which every user has). An authenticator app counts once
-- confirmed with a current code; until then it is an enrollment nobody can log in with.
CREATE TABLE user_methods (
    company_id     uuid NOT NULL REFERENCES companies (id),
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    -- TOTP: the 20-byte secret sealed with libsodium's secretbox (nonce ‖ box) under a key
    -- derived from TOLLGATE_SECRET; never stored or logged in the clear.
    totp_sealed    bytea CHECK (totp_sealed IS NULL OR length(totp_sealed) BETWEEN 40 AND 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    confirmed_at   timestamptz,
    last_used_at   timestamptz,
    PRIMARY KEY (company_id, id),
    UNIQUE (id),
    FOREIGN KEY (company_id, user_id) REFERENCES users (company_id, id) ON DELETE CASCADE,
    CHECK (kind <> 'totp' OR totp_sealed IS NOT NULL)
);
CREATE INDEX user_methods_user ON user_methods (company_id, user_id);
ALTER TABLE user_methods ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_methods FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON user_methods USING (company_id = app_company()) WITH CHECK (company_id = app_company());
GRANT SELECT, INSERT, UPDATE, DELETE ON user_methods TO tollgate_api;

-- The last 30-second step an authenticator-app code was accepted for: each step counts once
-- per user (SPEC §13), written in the transaction that accepts it, under the user's row lock.
ALTER TABLE users ADD COLUMN totp_last_step bigint;

-- A login challenge lists the methods its user may use (strongest first; the first is the one
-- the screen opens with). With more than email, no code is mailed until the user picks email:
-- until then `email_id` is NULL and the challenge's code is one nobody was sent.
ALTER TABLE challenges ADD COLUMN methods text[] NOT NULL DEFAULT '{email}'
    CHECK (methods <@ ARRAY['passkey', 'totp', 'email']::text[] AND cardinality(methods) >= 1);
-- For how many days the code screen may offer to remember the browser: the company's
-- policy when the login began (NULL: it asks at every login). Shown only; the verify that
-- remembers reads the policy as it is then.
ALTER TABLE challenges ADD COLUMN remember_days integer CHECK (remember_days BETWEEN 1 AND 30);

-- Browsers a user chose to be remembered on (SPEC §14): the token only as a keyed hash (the
-- same MAC as challenge tokens, so a rotation of TOLLGATE_SECRET keeps them valid), bound to
-- the user, ending at `expires_at` or when revoked.
CREATE TABLE remembered_browsers (
    company_id      uuid NOT NULL REFERENCES companies (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL,
    token_hash      bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    ip              text,
    user_agent      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    PRIMARY KEY (company_id, id),
    UNIQUE (id),
    FOREIGN KEY (company_id, user_id) REFERENCES users (company_id, id) ON DELETE CASCADE
);
CREATE INDEX remembered_browsers_user ON remembered_browsers (company_id, user_id) WHERE revoked_at IS NULL;
CREATE INDEX remembered_browsers_ended ON remembered_browsers (expires_at);
ALTER TABLE remembered_browsers ENABLE ROW LEVEL SECURITY;
ALTER TABLE remembered_browsers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON remembered_browsers USING (company_id = app_company()) WITH CHECK (company_id = app_company());
GRANT SELECT, INSERT, UPDATE ON remembered_browsers TO tollgate_api;

-- When a session was last used, updated at most once a minute (SPEC §14).
ALTER TABLE sessions ADD COLUMN last_used_at timestamptz;

-- The notices the new flows mail.
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_template_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_template_check
    CHECK (template IN ('login_code', 'activation_code', 'two_factor_enabled', 'two_factor_disabled',
                        'password_changed', 'password_reset', 'invitation', 'login_reported',
                        'method_added', 'method_removed', 'methods_reset', 'policy_changed', 'sessions_ended'));

-- challenge_locate (0018) answers also what a code from an authenticator app is checked
-- against: the challenge's methods, the user's last accepted step and, for an open challenge
-- that offers the app, the user's confirmed sealed secrets. They are read after the user's row
-- lock was granted (the function's own snapshot), so two logins racing with one app code take
-- turns and the second sees the step the first accepted.
DROP FUNCTION challenge_locate(text, bytea[], uuid, uuid);
CREATE FUNCTION challenge_locate(p_purpose text, p_token_hashes bytea[], p_id uuid, p_user_id uuid)
    RETURNS TABLE (
        id uuid, company_id uuid, user_id uuid, purpose text, state text, code_hash bytea,
        code_expires_at timestamptz, attempts integer, max_attempts integer, resends_used integer,
        max_resends integer, last_sent_at timestamptz, verified_at timestamptz, email_id uuid,
        lifetime_ends_at timestamptz, usable_until timestamptz,
        user_company_id uuid, email text, user_name text, role text, dashboard_access boolean,
        locked_until timestamptz, active boolean, consecutive_wrong_codes integer,
        wrong_codes integer, wrong_codes_refused integer, wrong_codes_window_started_at timestamptz,
        methods text[], remember_days integer, totp_last_step bigint, totp_secrets bytea[])
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
            u.consecutive_wrong_codes, coalesce(r.count, 0), coalesce(r.refused, 0), r.window_started_at,
            ch.methods, ch.remember_days, u.totp_last_step,
            CASE WHEN v_state = 'pending' AND 'totp' = ANY(ch.methods) THEN ARRAY(
                SELECT m.totp_sealed FROM user_methods m
                WHERE m.company_id = app_company() AND m.user_id = v_user_id AND m.kind = 'totp' AND m.confirmed_at IS NOT NULL
                ORDER BY m.created_at) END
        FROM challenges ch
        JOIN users u ON u.id = v_user_id AND u.company_id = app_company()
        LEFT JOIN rate_limits r ON v_state IN ('pending', 'verified') AND r.key = 'wrong_codes:' || upper(v_user_id::text)
        WHERE ch.id = v_id AND ch.company_id = app_company();
END
$$;
REVOKE ALL ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION challenge_locate(text, bytea[], uuid, uuid) TO tollgate_api;
