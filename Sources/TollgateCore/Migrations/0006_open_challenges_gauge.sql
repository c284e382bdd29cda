-- The "challenges open" gauge of /metrics: how many challenges of every company wait for a
-- code right now (pending, with a code that has not expired), by purpose.
--
-- The API role cannot count across companies: forced row-level security shows it one
-- company per transaction. `open_challenges()` runs with the rights of
-- tollgate_support_reader (0004), which may read the purpose, state and expiry of every
-- company's challenges, and returns counts only. Only the API role may call it.
--
-- Like 0004, a non-superuser migrating role takes membership in the reader for the ownership
-- change and gives it back at the end; the reader may create in `public` only meanwhile.

-- Counting stays cheap however many challenges ended or were abandoned.
CREATE INDEX challenges_awaiting_code ON challenges (code_expires_at) WHERE state = 'pending';

CREATE FUNCTION open_challenges() RETURNS TABLE (purpose text, challenges bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT c.purpose, count(*)
        FROM public.challenges c
        WHERE c.state = 'pending' AND c.code_expires_at > now()
        GROUP BY c.purpose
    $$;
REVOKE ALL ON FUNCTION open_challenges() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION open_challenges() TO tollgate_api;

DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'tollgate_support_reader', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT tollgate_support_reader TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'role % cannot take membership in tollgate_support_reader', current_user
                USING HINT = 'Migrate as a superuser or a role with CREATEROLE, or GRANT tollgate_support_reader to the migrating role.';
        END;
        PERFORM set_config('tollgate.support_reader_granted', 'yes', true);
    END IF;
END
$$;

GRANT CREATE ON SCHEMA public TO tollgate_support_reader;
ALTER FUNCTION open_challenges() OWNER TO tollgate_support_reader;
REVOKE CREATE ON SCHEMA public FROM tollgate_support_reader;

DO $$
BEGIN
    IF current_setting('tollgate.support_reader_granted', true) = 'yes' THEN
        EXECUTE format('REVOKE tollgate_support_reader FROM %I', current_user);
    END IF;
END
$$;
