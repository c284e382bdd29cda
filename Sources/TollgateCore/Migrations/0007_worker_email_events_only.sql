-- The worker appends the events of email delivery to every company's log (0003), and only
-- those: it must not be able to write a login or a 2FA change into an audit log.
DROP POLICY worker ON events;
CREATE POLICY worker ON events FOR INSERT TO tollgate_worker
    WITH CHECK (type IN ('email.sent', 'email.failed', 'email.expired'));

-- Nobody reads email_attempts through the API or the worker: the worker appends, operators
-- read it as the owner. Take back the reads 0005 granted.
REVOKE SELECT ON email_attempts FROM tollgate_api, tollgate_worker;
