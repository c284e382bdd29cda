-- Email delivery: one row per delivery attempt, so support can see what happened to an email.

CREATE TABLE email_attempts (
    company_id    uuid NOT NULL REFERENCES companies (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    email_id      uuid NOT NULL REFERENCES email_outbox (id) ON DELETE CASCADE,
    -- 1 for the first attempt of the email, and so on.
    attempt       integer NOT NULL CHECK (attempt > 0),
    -- Which worker made the attempt (host:pid:random).
    worker        text NOT NULL,
    -- sent: accepted by the SMTP server; retry: transient failure, tried again later;
    -- failed: permanent failure or gave up; expired: the code expired before delivery;
    -- abandoned: the worker holding the lease stopped before recording a result (the
    -- message may or may not have been accepted).
    outcome       text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed', 'expired', 'abandoned')),
    -- The SMTP reply code when the server gave one.
    smtp_status   integer,
    -- The reason, as the SMTP server or the transport stated it (never a credential).
    error         text,
    started_at    timestamptz,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, id)
);
CREATE INDEX email_attempts_email ON email_attempts (email_id);
ALTER TABLE email_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON email_attempts USING (company_id = app_company()) WITH CHECK (company_id = app_company());
-- The worker records attempts for every company; the API may read its own company's.
CREATE POLICY worker ON email_attempts TO tollgate_worker USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON email_attempts TO tollgate_worker;
GRANT SELECT ON email_attempts TO tollgate_api;

-- What the claim query scans: due emails and sending ones whose lease may have run out.
CREATE INDEX email_outbox_leases ON email_outbox (lease_expires_at) WHERE status = 'sending';
