-- The rate-limit hit (RateLimiter.hitQuery) as a function. The server sends every statement
-- unnamed (pgbouncer's transaction mode allows no prepared statements), so PostgreSQL parses
-- and plans each one at each call; PL/pgSQL keeps the plan of a statement inside a function for
-- the server connection's life, which works through pgbouncer too. The upsert is the most
-- costly statement to plan that logins and wrong codes send (bench/statement-costs.sh); as a
-- function it runs 1.6 times as fast (bench/RESULTS.md, round four).
--
-- One upsert that always writes the key's row: under the limit it counts, at the limit it
-- counts the refusal instead. The SET reads the latest committed row under its lock, so
-- concurrent calls take turns and none can count past the limit; `last_refused` says which of
-- the two this call did. With p_counts false it does nothing and returns no row. It must stay
-- VOLATILE (the default): a CTE that calls it then runs once, when first read, and is kept.
CREATE FUNCTION rate_limit_hit(p_key text, p_limit bigint, p_window bigint, p_counts boolean)
    RETURNS TABLE (last_refused boolean, refused integer, seconds bigint)
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
#variable_conflict use_column
BEGIN
    IF p_counts IS NOT TRUE THEN
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO rate_limits AS r (key, window_started_at, count) VALUES (p_key, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN r.window_started_at + make_interval(secs => p_window) <= now() THEN 1
                     WHEN r.count < p_limit THEN r.count + 1 ELSE r.count END,
        refused = CASE WHEN r.window_started_at + make_interval(secs => p_window) <= now() THEN 0
                       WHEN r.count < p_limit THEN r.refused ELSE r.refused + 1 END,
        window_started_at = CASE WHEN r.window_started_at + make_interval(secs => p_window) <= now()
            THEN now() ELSE r.window_started_at END,
        last_refused = r.window_started_at + make_interval(secs => p_window) > now() AND r.count >= p_limit
    RETURNING r.last_refused, r.refused,
        ceil(extract(epoch FROM r.window_started_at + make_interval(secs => p_window) - now()))::bigint;
END
$$;
REVOKE ALL ON FUNCTION rate_limit_hit(text, bigint, bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rate_limit_hit(text, bigint, bigint, boolean) TO tollgate_api;
