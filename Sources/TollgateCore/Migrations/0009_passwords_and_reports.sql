-- Passwords people can run (SPEC §10): reset tokens, "this wasn't me" reports, the emails
-- they send, and deactivated accounts (SPEC §11).

-- A deactivated user cannot log in (answered like an unknown address) and keeps its rows.
ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true,
    ADD COLUMN deactivated_at timestamptz;

-- A company may send its users to its own dashboard for reset links (SPEC §10, §11).
ALTER TABLE companies ADD COLUMN dashboard_url text
    CHECK (dashboard_url IS NULL OR (dashboard_url ~ '^https?://[^\s"''<>]+$' AND length(dashboard_url) <= 300));

-- Single-use password reset (and invitation) tokens: only an HMAC of the token is kept.
CREATE TABLE password_resets (
    company_id  uuid NOT NULL REFERENCES companies (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    purpose     text NOT NULL CHECK (purpose IN ('reset', 'invitation')),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id),
    FOREIGN KEY (company_id, user_id) REFERENCES users (company_id, id) ON DELETE CASCADE
);
CREATE INDEX password_resets_user ON password_resets (company_id, user_id, created_at);
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON password_resets USING (company_id = app_company()) WITH CHECK (company_id = app_company());
GRANT SELECT, INSERT, UPDATE ON password_resets TO tollgate_api;

-- "This wasn't me": every login challenge carries a second, single-use token for the link in
-- its email (valid 24 hours), kept as an HMAC like the challenge token.
ALTER TABLE challenges ADD COLUMN report_token_hash bytea UNIQUE CHECK (report_token_hash IS NULL OR length(report_token_hash) = 32),
    ADD COLUMN report_expires_at timestamptz,
    ADD COLUMN reported_at timestamptz;
ALTER TABLE challenges DROP CONSTRAINT challenges_close_reason_check;
ALTER TABLE challenges ADD CONSTRAINT challenges_close_reason_check
    CHECK (close_reason IN ('expired', 'burned', 'resends_used_up', 'replaced', 'cancelled', 'account_limit', 'reported'));

ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_template_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_template_check
    CHECK (template IN ('login_code', 'activation_code', 'two_factor_enabled', 'two_factor_disabled',
                        'password_changed', 'password_reset', 'invitation', 'login_reported'));
