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
