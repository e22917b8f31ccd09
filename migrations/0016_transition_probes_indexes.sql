-- The manual transition function probes indexes whatever the statistics say, as the creation, claim and
-- completion functions do (0013, 0014). Its statements look one owner's rows up by key; as cached
-- generic plans made while the transition table is analysed and empty (a new database whose tasks have
-- not started; the transition benchmark after its VACUUM ANALYZE) the lookup of the current row and
-- the update that takes most_recent off it were sequential scans, kept while the table grew: two scans
-- of every transition row per call (p50 0.41 -> 0.85-1.07 ms, p99 0.68 -> 1.75-1.96 ms after ANALYZE).
ALTER FUNCTION tasker_core_transition(text, bigint, text, text, jsonb) SET enable_seqscan = off;
