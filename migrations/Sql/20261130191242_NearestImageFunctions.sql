-- Index-safe nearest-image SQL for users: functions and views in the harvester schema.
-- Each model's HNSW index is a partial expression index, ON embeddings ((embedding::vector(d))) WHERE model_id = m,
-- so a query reaches it only when the cast, the dimension and the model id are literals of its text. The functions
-- therefore build that text for the model at hand (harvester.nearest_sql) and run it with EXECUTE; its plan is an
-- index scan, and the tests check exactly that text with EXPLAIN.

CREATE SCHEMA IF NOT EXISTS harvester;

-- A registered model by name or name:version; with no name, the newest model with a vector for p_image_id, else the
-- newest model of p_dimension, else the newest model. Raises a clear error when there is none.
CREATE OR REPLACE FUNCTION harvester.model(p_model text DEFAULT NULL, p_image_id bigint DEFAULT NULL, p_dimension int DEFAULT NULL)
RETURNS embedding_models LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    m embedding_models;
BEGIN
    IF p_model IS NOT NULL THEN
        SELECT em.* INTO m FROM embedding_models em
        WHERE em.name || ':' || em.version = p_model OR em.name = p_model
        ORDER BY (em.name || ':' || em.version = p_model) DESC, em.id DESC LIMIT 1;
    ELSE
        IF p_image_id IS NOT NULL THEN
            SELECT em.* INTO m FROM embedding_models em
            WHERE EXISTS (SELECT 1 FROM embeddings e WHERE e.model_id = em.id AND e.image_id = p_image_id)
            ORDER BY em.id DESC LIMIT 1;
        END IF;
        IF m.id IS NULL AND p_dimension IS NOT NULL THEN
            SELECT em.* INTO m FROM embedding_models em WHERE em.dimension = p_dimension ORDER BY em.id DESC LIMIT 1;
        END IF;
        IF m.id IS NULL THEN
            SELECT em.* INTO m FROM embedding_models em ORDER BY em.id DESC LIMIT 1;
        END IF;
    END IF;
    IF m.id IS NULL THEN
        RAISE EXCEPTION 'no embedding model %', coalesce('named ' || quote_literal(p_model), 'is registered')
            USING HINT = 'SELECT name, version, dimension FROM embedding_models lists the registered models';
    END IF;
    RETURN m;
END
$fn$;

-- The statement the nearest-image functions run for one model: parameters $1 query vector, $2 k, $3 an image to
-- leave out, then the filters $4 site key, $5 category, $6 neighbourhood, $7 place id, $8 crawl job id,
-- $9 clustering run and $10 cluster index, $11 accepted images only. Filters that are NULL drop out when the plan is
-- made (EXECUTE plans with the values), and iterative index scans (pgvector 0.8) keep filtered queries on the index.
CREATE OR REPLACE FUNCTION harvester.nearest_sql(p_model_id int, p_dimension int, p_vector_type text DEFAULT 'vector')
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($q$
WITH nn AS MATERIALIZED (
    SELECT e.image_id, e.embedding::%1$s(%2$s) <=> $1::%1$s(%2$s) AS distance
    FROM embeddings e
    WHERE e.model_id = %3$s
      AND e.image_id IS DISTINCT FROM $3
      AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM image_sightings s JOIN sites st ON st.id = s.site_id
                                       WHERE s.image_id = e.image_id AND st.key = $4))
      AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM images i LEFT JOIN places p ON p.id = i.place_id LEFT JOIN products q ON q.id = i.product_id
                                       WHERE i.id = e.image_id AND coalesce(p.category, q.category) = $5)
                            OR EXISTS (SELECT 1 FROM image_sightings s JOIN places p ON p.id = s.place_id
                                       WHERE s.image_id = e.image_id AND p.category = $5))
      AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM image_sightings s JOIN places p ON p.id = s.place_id
                                       WHERE s.image_id = e.image_id AND p.neighbourhood = $6))
      AND ($7::bigint IS NULL OR EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = e.image_id AND s.place_id = $7))
      AND ($8::bigint IS NULL OR EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = e.image_id AND s.job_id = $8))
      AND ($9::bigint IS NULL OR EXISTS (SELECT 1 FROM cluster_assignments a
                                         WHERE a.image_id = e.image_id AND a.run_id = $9 AND ($10::int IS NULL OR a.cluster_index = $10)))
      AND (NOT $11::boolean OR EXISTS (SELECT 1 FROM images i WHERE i.id = e.image_id AND i.status = 'accepted'))
    ORDER BY distance
    LIMIT $2)
SELECT nn.image_id, nn.distance::double precision FROM nn ORDER BY nn.distance, nn.image_id
$q$, CASE WHEN p_vector_type = 'halfvec' THEN 'halfvec' ELSE 'vector' END, p_dimension, p_model_id)
$fn$;

-- The k images nearest to a vector (cosine distance), nearest first, optionally filtered. Uses the model's HNSW
-- index; p_ef_search widens the candidate list (recall) and p_max_scan_tuples bounds how far a filtered scan goes.
CREATE OR REPLACE FUNCTION harvester.nearest_to_vector(
    p_vector vector,
    p_k int DEFAULT 10,
    p_model text DEFAULT NULL,
    p_ef_search int DEFAULT 100,
    p_site text DEFAULT NULL,
    p_category text DEFAULT NULL,
    p_neighbourhood text DEFAULT NULL,
    p_place_id bigint DEFAULT NULL,
    p_job_id bigint DEFAULT NULL,
    p_cluster_run bigint DEFAULT NULL,
    p_cluster int DEFAULT NULL,
    p_accepted_only boolean DEFAULT false,
    p_exclude_image bigint DEFAULT NULL,
    p_max_scan_tuples int DEFAULT 20000)
RETURNS TABLE (image_id bigint, distance double precision)
LANGUAGE plpgsql VOLATILE
SET hnsw.iterative_scan = 'relaxed_order'
SET hnsw.ef_search = 40
SET hnsw.max_scan_tuples = 20000
AS $fn$
DECLARE
    m embedding_models;
    found_rows int;
BEGIN
    IF p_vector IS NULL THEN
        RAISE EXCEPTION 'p_vector is null';
    END IF;
    IF p_k IS NULL OR p_k < 1 OR p_k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000 (got %)', p_k;
    END IF;
    IF p_ef_search IS NULL OR p_ef_search < 1 OR p_ef_search > 1000 THEN
        RAISE EXCEPTION 'ef_search must be between 1 and 1000 (got %)', p_ef_search;
    END IF;
    m := harvester.model(p_model, NULL, vector_dims(p_vector));
    IF vector_dims(p_vector) <> m.dimension THEN
        RAISE EXCEPTION 'the query vector has % dimensions but model %:% has %', vector_dims(p_vector), m.name, m.version, m.dimension;
    END IF;
    -- Local to this call: the SET clauses above restore the settings when the function returns.
    PERFORM set_config('hnsw.ef_search', greatest(p_ef_search, p_k)::text, true);
    PERFORM set_config('hnsw.max_scan_tuples', p_max_scan_tuples::text, true);
    RETURN QUERY EXECUTE harvester.nearest_sql(m.id, m.dimension, m.vector_type)
        USING p_vector, p_k, p_exclude_image, p_site, p_category, p_neighbourhood, p_place_id, p_job_id,
              p_cluster_run, p_cluster, coalesce(p_accepted_only, false);
    GET DIAGNOSTICS found_rows = ROW_COUNT;
    IF found_rows < p_k THEN
        RAISE NOTICE 'found % of % neighbours: the filters match fewer images, or the scan stopped at p_max_scan_tuples = %',
            found_rows, p_k, p_max_scan_tuples;
    END IF;
END
$fn$;

-- The k images nearest to image p_image_id (itself left out), with the same filters. An image that does not exist or
-- has no vector of the model gives no rows and a notice saying which.
CREATE OR REPLACE FUNCTION harvester.nearest_images(
    p_image_id bigint,
    p_k int DEFAULT 10,
    p_model text DEFAULT NULL,
    p_ef_search int DEFAULT 100,
    p_site text DEFAULT NULL,
    p_category text DEFAULT NULL,
    p_neighbourhood text DEFAULT NULL,
    p_place_id bigint DEFAULT NULL,
    p_job_id bigint DEFAULT NULL,
    p_cluster_run bigint DEFAULT NULL,
    p_cluster int DEFAULT NULL,
    p_accepted_only boolean DEFAULT false,
    p_max_scan_tuples int DEFAULT 20000)
RETURNS TABLE (image_id bigint, distance double precision)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    m embedding_models;
    v vector;
BEGIN
    IF p_k IS NULL OR p_k < 1 OR p_k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000 (got %)', p_k;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM images i WHERE i.id = p_image_id) THEN
        RAISE NOTICE 'there is no image %', p_image_id;
        RETURN;
    END IF;
    m := harvester.model(p_model, p_image_id);
    SELECT e.embedding INTO v FROM embeddings e WHERE e.image_id = p_image_id AND e.model_id = m.id;
    IF v IS NULL THEN
        RAISE NOTICE 'image % has no %:% vector yet (harvester embed computes it)', p_image_id, m.name, m.version;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM harvester.nearest_to_vector(v, p_k, m.name || ':' || m.version, p_ef_search, p_site, p_category,
        p_neighbourhood, p_place_id, p_job_id, p_cluster_run, p_cluster, p_accepted_only, p_image_id, p_max_scan_tuples);
END
$fn$;

-- The cluster of image p_image_id in clustering run p_run_id (default: the latest completed k-means run of the
-- model of its newest vector): its assignment when it was clustered, else the nearest centroid (assigned = false).
CREATE OR REPLACE FUNCTION harvester.cluster_of(p_image_id bigint, p_run_id bigint DEFAULT NULL)
RETURNS TABLE (run_id bigint, cluster_index int, distance double precision, assigned boolean)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    r clustering_runs;
    v vector;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM images i WHERE i.id = p_image_id) THEN
        RAISE NOTICE 'there is no image %', p_image_id;
        RETURN;
    END IF;
    IF p_run_id IS NULL THEN
        SELECT c.* INTO r FROM clustering_runs c
        WHERE c.status = 'completed' AND c.parameters->>'method' = 'kmeans'
          AND EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = p_image_id AND e.model_id = c.model_id)
        ORDER BY c.id DESC LIMIT 1;
        IF r.id IS NULL THEN
            RAISE NOTICE 'no completed k-means run covers the model of image % (harvester cluster makes one)', p_image_id;
            RETURN;
        END IF;
    ELSE
        SELECT c.* INTO r FROM clustering_runs c WHERE c.id = p_run_id;
        IF r.id IS NULL THEN
            RAISE NOTICE 'there is no clustering run %', p_run_id;
            RETURN;
        END IF;
        IF r.status <> 'completed' THEN
            RAISE NOTICE 'clustering run % is %, not completed', p_run_id, r.status;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT a.run_id, a.cluster_index, a.distance, true FROM cluster_assignments a WHERE a.run_id = r.id AND a.image_id = p_image_id;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT e.embedding INTO v FROM embeddings e WHERE e.image_id = p_image_id AND e.model_id = r.model_id;
    IF v IS NULL THEN
        RAISE NOTICE 'image % has no vector of the model of run %', p_image_id, r.id;
        RETURN;
    END IF;
    RETURN QUERY SELECT c.run_id, c.cluster_index, (c.centroid <=> v)::double precision, false
        FROM cluster_centroids c WHERE c.run_id = r.id ORDER BY c.centroid <=> v LIMIT 1;
END
$fn$;

-- An image with where it comes from: its first place or product, their category and neighbourhood, the site.
CREATE OR REPLACE VIEW harvester.image_details AS
SELECT i.id AS image_id, i.status, i.sha256, i.source_url, i.width, i.height, i.format, i.quality_score,
       i.place_id, p.name AS place, p.neighbourhood, i.product_id, q.name AS product,
       coalesce(p.category, q.category) AS category,
       (SELECT st.key FROM image_sightings s JOIN sites st ON st.id = s.site_id WHERE s.image_id = i.id ORDER BY s.id LIMIT 1) AS site,
       i.job_id, i.duplicate_group_id, i.duplicate_of_id, i.created_at, i.curated_at
FROM images i
LEFT JOIN places p ON p.id = i.place_id
LEFT JOIN products q ON q.id = i.product_id;

-- Every clustering assignment with its run's model and status.
CREATE OR REPLACE VIEW harvester.image_clusters AS
SELECT a.run_id, a.image_id, a.cluster_index, a.distance, m.name || ':' || m.version AS model, r.status AS run_status,
       r.parameters->>'method' AS method
FROM cluster_assignments a
JOIN clustering_runs r ON r.id = a.run_id
JOIN embedding_models m ON m.id = r.model_id;
