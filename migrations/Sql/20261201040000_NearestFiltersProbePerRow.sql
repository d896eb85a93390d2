-- The filters of the nearest-image statement become per-row probes. Without OFFSET 0, PostgreSQL may turn a
-- correlated EXISTS into a hashed subplan that first reads every image matching the filter (at a million images, every
-- sighting of one neighbourhood: 145 ms for a 10 % filter, measured by bench/Harvester.Bench.Scale) although the
-- ordered HNSW scan needs only a few hundred candidates, each checked by one index probe. OFFSET 0 keeps the subquery
-- from being flattened or hashed; the result is the same.

CREATE OR REPLACE FUNCTION harvester.nearest_sql(p_model_id int, p_dimension int, p_vector_type text DEFAULT 'vector')
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($q$
WITH nn AS MATERIALIZED (
    SELECT e.image_id, e.embedding::%1$s(%2$s) <=> $1::%1$s(%2$s) AS distance
    FROM embeddings e
    WHERE e.model_id = %3$s
      AND e.image_id IS DISTINCT FROM $3
      AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM image_sightings s JOIN sites st ON st.id = s.site_id
                                       WHERE s.image_id = e.image_id AND st.key = $4 OFFSET 0))
      AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM images i LEFT JOIN places p ON p.id = i.place_id LEFT JOIN products q ON q.id = i.product_id
                                       WHERE i.id = e.image_id AND coalesce(p.category, q.category) = $5 OFFSET 0)
                            OR EXISTS (SELECT 1 FROM image_sightings s JOIN places p ON p.id = s.place_id
                                       WHERE s.image_id = e.image_id AND p.category = $5 OFFSET 0))
      AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM image_sightings s JOIN places p ON p.id = s.place_id
                                       WHERE s.image_id = e.image_id AND p.neighbourhood = $6 OFFSET 0))
      AND ($7::bigint IS NULL OR EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = e.image_id AND s.place_id = $7 OFFSET 0))
      AND ($8::bigint IS NULL OR EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = e.image_id AND s.job_id = $8 OFFSET 0))
      AND ($9::bigint IS NULL OR EXISTS (SELECT 1 FROM cluster_assignments a
                                         WHERE a.image_id = e.image_id AND a.run_id = $9 AND ($10::int IS NULL OR a.cluster_index = $10) OFFSET 0))
      AND (NOT $11::boolean OR EXISTS (SELECT 1 FROM images i WHERE i.id = e.image_id AND i.status = 'accepted' OFFSET 0))
    ORDER BY distance
    LIMIT $2)
SELECT nn.image_id, nn.distance::double precision FROM nn ORDER BY nn.distance, nn.image_id
$q$, CASE WHEN p_vector_type = 'halfvec' THEN 'halfvec' ELSE 'vector' END, p_dimension, p_model_id)
$fn$;
