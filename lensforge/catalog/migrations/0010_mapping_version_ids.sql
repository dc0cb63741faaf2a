-- A mapping version's id now hashes the dataset version with the mapping (lensforge.curate.mappings
-- .mapping_version_id): before, two datasets with equal mappings shared one id and the second dataset's mapping
-- version was recorded under the first one's name. Every recorded mapping gets a row under its new id, computed
-- from the stored JSON exactly as the code computes it; the old rows stay, so snapshots built before still resolve
-- the ids their manifests name.
INSERT INTO mapping_versions (mapping_version_id, version_id, dataset_id, created_at, mapping)
SELECT 'm' || left(sha256(version_id || chr(10) || CAST(mapping AS VARCHAR)), 15), version_id, dataset_id, created_at, mapping
FROM mapping_versions
ON CONFLICT DO NOTHING;
