-- Release stage: an instruction pins the label space it was written for, and an edit makes a new instruction.
-- label_space: JSON list of the canonical labels the instruction was written for (NULL: written before this
-- migration, not recorded); a snapshot build refuses active instructions whose label space no longer matches
-- the approved mapping. replaces: the instruction an edit replaced (that one is disabled).
ALTER TABLE instructions ADD COLUMN label_space JSON;
ALTER TABLE instructions ADD COLUMN replaces VARCHAR;
