-- challenges.code_key_index (0003) was meant to name which TOLLGATE_SECRET made a code's
-- MAC. Nothing ever wrote or read it: a code is checked against every configured secret
-- (newest first), which is what lets the secret rotate without ending live codes. Dropped
-- rather than left for a reader to trust.
ALTER TABLE challenges DROP COLUMN code_key_index;
