-- Code challenges (login and activation) and the outbound email queue.

CREATE TABLE challenges (
    company_id        uuid NOT NULL REFERENCES companies (id),
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL,
    purpose           text NOT NULL CHECK (purpose IN ('login', 'activation')),
    -- HMAC-SHA-256 of the challenge token (login challenges only); never the token.
    token_hash        bytea UNIQUE CHECK (token_hash IS NULL OR length(token_hash) = 32),
    state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'verified', 'used', 'closed')),
    close_reason      text CHECK (close_reason IN ('expired', 'burned', 'resends_used_up', 'replaced', 'cancelled', 'account_limit')),
    -- HMAC-SHA-256 of the current code; a new code replaces it, invalidating the old one.
    code_hash         bytea NOT NULL CHECK (length(code_hash) = 32),
    -- Which secret of the rotation list signed the current code (0 = the first).
    code_key_index    integer NOT NULL DEFAULT 0,
    code_issued_at    timestamptz NOT NULL DEFAULT now(),
    code_expires_at   timestamptz NOT NULL,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      integer NOT NULL CHECK (max_attempts > 0),
    resends_used      integer NOT NULL DEFAULT 0 CHECK (resends_used >= 0),
    max_resends       integer NOT NULL CHECK (max_resends >= 0),
    wrong_total       integer NOT NULL DEFAULT 0,
    last_sent_at      timestamptz NOT NULL DEFAULT now(),
    email_id          uuid,
    ip                text,
    user_agent        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    verified_at       timestamptz,
    used_at           timestamptz,
    closed_at         timestamptz,
    PRIMARY KEY (company_id, id),
    UNIQUE (id),
    FOREIGN KEY (company_id, user_id) REFERENCES users (company_id, id) ON DELETE CASCADE,
    CHECK ((state = 'closed') = (close_reason IS NOT NULL))
);
CREATE INDEX challenges_user_open ON challenges (company_id, user_id) WHERE state IN ('pending', 'verified');
ALTER TABLE challenges ENABLE ROW LEVEL SECURITY;
ALTER TABLE challenges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON challenges USING (company_id = app_company()) WITH CHECK (company_id = app_company());
GRANT SELECT, INSERT, UPDATE ON challenges TO tollgate_api;

CREATE TABLE email_outbox (
    company_id        uuid NOT NULL REFERENCES companies (id),
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    challenge_id      uuid,
    recipient         text NOT NULL,
    template          text NOT NULL CHECK (template IN ('login_code', 'activation_code', 'two_factor_enabled', 'two_factor_disabled')),
    subject           text NOT NULL,
    body_text         text NOT NULL,
    body_html         text NOT NULL,
    -- For code emails: when the code stops working; the worker never sends after that.
    code_expires_at   timestamptz,
    status            text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'expired')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_error        text,
    message_id        text NOT NULL,
    scrubbed          boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    PRIMARY KEY (company_id, id),
    UNIQUE (id)
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE status IN ('queued', 'sending');
ALTER TABLE email_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON email_outbox USING (company_id = app_company()) WITH CHECK (company_id = app_company());
-- The worker drains every company's queue, and reaches nothing else of the accounts.
CREATE POLICY worker ON email_outbox TO tollgate_worker USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON email_outbox TO tollgate_api;
GRANT SELECT, UPDATE ON email_outbox TO tollgate_worker;
-- The worker records email.sent / email.failed in the event log of the email's company.
CREATE POLICY worker ON events FOR INSERT TO tollgate_worker WITH CHECK (true);
GRANT INSERT ON events TO tollgate_worker;

-- Every queued email wakes the workers when (and only if) its transaction commits.
CREATE FUNCTION email_outbox_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('tollgate_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER email_outbox_notify AFTER INSERT ON email_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION email_outbox_notify();
