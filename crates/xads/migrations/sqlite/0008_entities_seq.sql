-- The mirror numbers rows with MAX(seq) + 1 on every upsert; without an index on seq that is a
-- scan of the whole table per row, so a refresh of n entities cost O(n^2).
CREATE INDEX entities_seq ON entities (seq);
