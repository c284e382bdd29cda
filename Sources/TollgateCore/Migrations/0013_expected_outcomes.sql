-- A transaction may send its writes together with its COMMIT, before it has read their
-- answers (one round trip instead of one per statement), when the rows it locked already
-- tell what those writes will do. Each such write then states what it must find, through
-- expect_outcome(); if one finds otherwise, this raises TG001, the transaction is rolled back
-- whole, and the service runs it again reading each answer before going on. So a prediction
-- can cost time when it is wrong, never a wrong result.
CREATE FUNCTION expect_outcome(p_holds boolean, p_statement text) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_holds IS NOT TRUE THEN
        RAISE EXCEPTION 'the outcome of % was not the one predicted; the transaction is run again', p_statement
            USING ERRCODE = 'TG001';
    END IF;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION expect_outcome(boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION expect_outcome(boolean, text) TO tollgate_api;
