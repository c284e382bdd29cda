-- Findings of the outside security review (issue 22).

-- 1. Idempotency-Key claims have a lease. A process that dies after claiming a key left
--    `status` NULL and every retry was refused for 24 hours; now a retry of the same request
--    takes over a claim whose lease is over (AdminIdempotency.swift, 60 seconds). `claim`
--    names the request holding the key: the answer is written, in the work's own
--    transaction, only while that request still holds it. Rows of an older build get a
--    lease from now (the default is evaluated once for them) and no claim.
ALTER TABLE idempotency_keys
    ADD COLUMN claimed_until timestamptz NOT NULL DEFAULT now() + interval '60 seconds',
    ADD COLUMN claim uuid;
