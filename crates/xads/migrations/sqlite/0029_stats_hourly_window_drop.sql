-- The window index (tenant, account, entity, hour) led with the hour after the entity type, so
-- the rows X sends entity by entity landed on every hour's page of it: on SQLite it cost more
-- than half of a new row's insert (issue 17, BENCHMARKS.md, 2026-12-07). Its readers (reports
-- over all of an account's entities, the daily roll-up, re-conversion) now seek the primary
-- key (tenant, account, entity, entity_id, hour, …) entity by entity, finding the entities
-- with one seek each (store::stats::stored_ids_in).
DROP INDEX stats_hourly_window;
