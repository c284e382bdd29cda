-- Support sees users' sign-in methods (SPEC §9, §13): which apps a user added, when each was
-- confirmed and last used, and the enrollments never confirmed, without the sealed secrets.
-- The same pattern as 0004 and 0010: the NOLOGIN reader owns the view and may read exactly the
-- columns it names.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'tollgate_support_reader', 'MEMBER') THEN
        EXECUTE format('GRANT tollgate_support_reader TO %I', current_user);
        PERFORM set_config('tollgate.support_reader_granted', 'yes', true);
    END IF;
END
$$;

-- Never totp_sealed.
GRANT SELECT (company_id, id, user_id, kind, name, created_at, confirmed_at, last_used_at)
    ON user_methods TO tollgate_support_reader;
GRANT SELECT (totp_last_step) ON users TO tollgate_support_reader;
CREATE POLICY support_reader ON user_methods FOR SELECT TO tollgate_support_reader USING (true);

GRANT CREATE ON SCHEMA support TO tollgate_support_reader;
CREATE VIEW support.methods AS
SELECT m.company_id,
       m.id,
       m.user_id,
       u.email AS user_email,
       m.kind,
       m.name,
       m.created_at,
       m.confirmed_at,
       -- Started and never confirmed: shown to nobody at login, replaced by the next one.
       (m.confirmed_at IS NULL) AS pending,
       m.last_used_at,
       -- The last 30-second step an app code of the user counted for, as a time.
       to_timestamp(u.totp_last_step * 30) AS last_code_step_at
FROM public.user_methods m
JOIN public.users u ON u.company_id = m.company_id AND u.id = m.user_id;
COMMENT ON VIEW support.methods IS 'Sign-in methods besides email (authenticator apps), without their secrets; pending: started, never confirmed.';
ALTER VIEW support.methods OWNER TO tollgate_support_reader;
REVOKE CREATE ON SCHEMA support FROM tollgate_support_reader;
GRANT SELECT ON support.methods TO tollgate_support;

DO $$
BEGIN
    IF current_setting('tollgate.support_reader_granted', true) = 'yes' THEN
        EXECUTE format('REVOKE tollgate_support_reader FROM %I', current_user);
    END IF;
END
$$;
