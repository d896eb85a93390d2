using System;
using System.Collections;
using System.Collections.Generic;
using System.Text.Json;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;
using Pgvector;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterDatabase()
                .Annotation("Npgsql:PostgresExtension:vector", ",,");

            migrationBuilder.CreateTable(
                name: "embedding_models",
                columns: table => new
                {
                    id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    name = table.Column<string>(type: "text", nullable: false),
                    version = table.Column<string>(type: "text", nullable: false),
                    manifest_sha256 = table.Column<string>(type: "text", nullable: false),
                    dimension = table.Column<int>(type: "integer", nullable: false),
                    vector_type = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_embedding_models", x => x.id);
                    table.CheckConstraint("ck_embedding_models_vector_type", "vector_type IN ('vector','halfvec')");
                });

            migrationBuilder.CreateTable(
                name: "sites",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    key = table.Column<string>(type: "text", nullable: false),
                    adapter = table.Column<string>(type: "text", nullable: false),
                    base_url = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_sites", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "work_leases",
                columns: table => new
                {
                    stage = table.Column<string>(type: "text", nullable: false),
                    item_id = table.Column<long>(type: "bigint", nullable: false),
                    claimed_by = table.Column<string>(type: "text", nullable: false),
                    lease_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    attempts = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_work_leases", x => new { x.stage, x.item_id });
                });

            migrationBuilder.CreateTable(
                name: "clustering_runs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    model_id = table.Column<int>(type: "integer", nullable: false),
                    scope = table.Column<JsonDocument>(type: "jsonb", nullable: true),
                    k = table.Column<int>(type: "integer", nullable: false),
                    parameters = table.Column<JsonDocument>(type: "jsonb", nullable: true),
                    metrics = table.Column<JsonDocument>(type: "jsonb", nullable: true),
                    status = table.Column<string>(type: "text", nullable: false),
                    previous_run_id = table.Column<long>(type: "bigint", nullable: true),
                    error = table.Column<string>(type: "text", nullable: true),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_clustering_runs", x => x.id);
                    table.ForeignKey(
                        name: "fk_clustering_runs_clustering_runs_previous_run_id",
                        column: x => x.previous_run_id,
                        principalTable: "clustering_runs",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_clustering_runs_embedding_models_model_id",
                        column: x => x.model_id,
                        principalTable: "embedding_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "crawl_jobs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    site_id = table.Column<long>(type: "bigint", nullable: false),
                    name = table.Column<string>(type: "text", nullable: false),
                    queries = table.Column<List<string>>(type: "text[]", nullable: false),
                    parameters = table.Column<JsonDocument>(type: "jsonb", nullable: true),
                    profile = table.Column<string>(type: "text", nullable: false),
                    status = table.Column<string>(type: "text", nullable: false),
                    pages_visited = table.Column<int>(type: "integer", nullable: false),
                    places_found = table.Column<int>(type: "integer", nullable: false),
                    products_found = table.Column<int>(type: "integer", nullable: false),
                    photos_found = table.Column<int>(type: "integer", nullable: false),
                    photos_stored = table.Column<int>(type: "integer", nullable: false),
                    failures = table.Column<int>(type: "integer", nullable: false),
                    error = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_crawl_jobs", x => x.id);
                    table.ForeignKey(
                        name: "fk_crawl_jobs_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "places",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    site_id = table.Column<long>(type: "bigint", nullable: false),
                    external_id = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "text", nullable: false),
                    category = table.Column<string>(type: "text", nullable: true),
                    neighbourhood = table.Column<string>(type: "text", nullable: true),
                    query = table.Column<string>(type: "text", nullable: true),
                    address = table.Column<string>(type: "text", nullable: true),
                    latitude = table.Column<double>(type: "double precision", nullable: true),
                    longitude = table.Column<double>(type: "double precision", nullable: true),
                    url = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_places", x => x.id);
                    table.ForeignKey(
                        name: "fk_places_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "products",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    site_id = table.Column<long>(type: "bigint", nullable: false),
                    external_id = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "text", nullable: false),
                    category = table.Column<string>(type: "text", nullable: true),
                    rank = table.Column<int>(type: "integer", nullable: true),
                    url = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_products", x => x.id);
                    table.ForeignKey(
                        name: "fk_products_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "cluster_centroids",
                columns: table => new
                {
                    run_id = table.Column<long>(type: "bigint", nullable: false),
                    cluster_index = table.Column<int>(type: "integer", nullable: false),
                    centroid = table.Column<Vector>(type: "vector", nullable: false),
                    size = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_cluster_centroids", x => new { x.run_id, x.cluster_index });
                    table.ForeignKey(
                        name: "fk_cluster_centroids_clustering_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "clustering_runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "frontier",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    job_id = table.Column<long>(type: "bigint", nullable: false),
                    parent_id = table.Column<long>(type: "bigint", nullable: true),
                    kind = table.Column<string>(type: "text", nullable: false),
                    url = table.Column<string>(type: "text", nullable: false),
                    state = table.Column<string>(type: "text", nullable: false),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    claimed_by = table.Column<string>(type: "text", nullable: true),
                    lease_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    not_before = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    last_error = table.Column<string>(type: "text", nullable: true),
                    context = table.Column<JsonDocument>(type: "jsonb", nullable: true),
                    priority = table.Column<int>(type: "integer", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_frontier", x => x.id);
                    table.ForeignKey(
                        name: "fk_frontier_crawl_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "crawl_jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_frontier_frontier_parent_id",
                        column: x => x.parent_id,
                        principalTable: "frontier",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                });

            migrationBuilder.CreateTable(
                name: "reviews",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    site_id = table.Column<long>(type: "bigint", nullable: false),
                    place_id = table.Column<long>(type: "bigint", nullable: true),
                    product_id = table.Column<long>(type: "bigint", nullable: true),
                    external_id = table.Column<string>(type: "text", nullable: false),
                    text = table.Column<string>(type: "text", nullable: true),
                    rating = table.Column<double>(type: "double precision", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_reviews", x => x.id);
                    table.ForeignKey(
                        name: "fk_reviews_places_place_id",
                        column: x => x.place_id,
                        principalTable: "places",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_reviews_products_product_id",
                        column: x => x.product_id,
                        principalTable: "products",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_reviews_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "cluster_assignments",
                columns: table => new
                {
                    run_id = table.Column<long>(type: "bigint", nullable: false),
                    image_id = table.Column<long>(type: "bigint", nullable: false),
                    cluster_index = table.Column<int>(type: "integer", nullable: false),
                    distance = table.Column<double>(type: "double precision", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_cluster_assignments", x => new { x.run_id, x.image_id });
                    table.ForeignKey(
                        name: "fk_cluster_assignments_clustering_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "clustering_runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "duplicate_groups",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    kind = table.Column<string>(type: "text", nullable: false),
                    kept_image_id = table.Column<long>(type: "bigint", nullable: false),
                    size = table.Column<int>(type: "integer", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_duplicate_groups", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "images",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    sha256 = table.Column<string>(type: "char(64)", nullable: false),
                    byte_size = table.Column<long>(type: "bigint", nullable: false),
                    content_type = table.Column<string>(type: "text", nullable: true),
                    format = table.Column<string>(type: "text", nullable: true),
                    width = table.Column<int>(type: "integer", nullable: true),
                    height = table.Column<int>(type: "integer", nullable: true),
                    source_url = table.Column<string>(type: "text", nullable: false),
                    page_url = table.Column<string>(type: "text", nullable: true),
                    place_id = table.Column<long>(type: "bigint", nullable: true),
                    product_id = table.Column<long>(type: "bigint", nullable: true),
                    review_id = table.Column<long>(type: "bigint", nullable: true),
                    job_id = table.Column<long>(type: "bigint", nullable: true),
                    status = table.Column<string>(type: "text", nullable: false),
                    reject_reasons = table.Column<JsonDocument>(type: "jsonb", nullable: true),
                    scores = table.Column<JsonDocument>(type: "jsonb", nullable: true),
                    quality_score = table.Column<double>(type: "double precision", nullable: true),
                    pixel_hash = table.Column<byte[]>(type: "bytea", nullable: true),
                    phash = table.Column<BitArray>(type: "bit(64)", nullable: true),
                    dhash = table.Column<BitArray>(type: "bit(64)", nullable: true),
                    duplicate_of_id = table.Column<long>(type: "bigint", nullable: true),
                    duplicate_group_id = table.Column<long>(type: "bigint", nullable: true),
                    photo_type = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    curated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_images", x => x.id);
                    table.ForeignKey(
                        name: "fk_images_crawl_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "crawl_jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                    table.ForeignKey(
                        name: "fk_images_duplicate_groups_duplicate_group_id",
                        column: x => x.duplicate_group_id,
                        principalTable: "duplicate_groups",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                    table.ForeignKey(
                        name: "fk_images_images_duplicate_of_id",
                        column: x => x.duplicate_of_id,
                        principalTable: "images",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_images_places_place_id",
                        column: x => x.place_id,
                        principalTable: "places",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_images_products_product_id",
                        column: x => x.product_id,
                        principalTable: "products",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_images_reviews_review_id",
                        column: x => x.review_id,
                        principalTable: "reviews",
                        principalColumn: "id");
                });

            migrationBuilder.CreateTable(
                name: "embeddings",
                columns: table => new
                {
                    image_id = table.Column<long>(type: "bigint", nullable: false),
                    model_id = table.Column<int>(type: "integer", nullable: false),
                    embedding = table.Column<Vector>(type: "vector", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_embeddings", x => new { x.image_id, x.model_id });
                    table.ForeignKey(
                        name: "fk_embeddings_embedding_models_model_id",
                        column: x => x.model_id,
                        principalTable: "embedding_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_embeddings_images_image_id",
                        column: x => x.image_id,
                        principalTable: "images",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "image_sightings",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    image_id = table.Column<long>(type: "bigint", nullable: false),
                    job_id = table.Column<long>(type: "bigint", nullable: true),
                    site_id = table.Column<long>(type: "bigint", nullable: false),
                    place_id = table.Column<long>(type: "bigint", nullable: true),
                    product_id = table.Column<long>(type: "bigint", nullable: true),
                    review_id = table.Column<long>(type: "bigint", nullable: true),
                    source_url = table.Column<string>(type: "text", nullable: false),
                    page_url = table.Column<string>(type: "text", nullable: true),
                    query = table.Column<string>(type: "text", nullable: true),
                    photo_type = table.Column<string>(type: "text", nullable: true),
                    seen_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_image_sightings", x => x.id);
                    table.ForeignKey(
                        name: "fk_image_sightings_crawl_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "crawl_jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                    table.ForeignKey(
                        name: "fk_image_sightings_images_image_id",
                        column: x => x.image_id,
                        principalTable: "images",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_image_sightings_places_place_id",
                        column: x => x.place_id,
                        principalTable: "places",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_image_sightings_products_product_id",
                        column: x => x.product_id,
                        principalTable: "products",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_image_sightings_reviews_review_id",
                        column: x => x.review_id,
                        principalTable: "reviews",
                        principalColumn: "id");
                    table.ForeignKey(
                        name: "fk_image_sightings_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_cluster_assignments_image_id",
                table: "cluster_assignments",
                column: "image_id");

            migrationBuilder.CreateIndex(
                name: "ix_cluster_assignments_run_id_cluster_index",
                table: "cluster_assignments",
                columns: new[] { "run_id", "cluster_index" });

            migrationBuilder.CreateIndex(
                name: "ix_clustering_runs_model_id",
                table: "clustering_runs",
                column: "model_id");

            migrationBuilder.CreateIndex(
                name: "ix_clustering_runs_previous_run_id",
                table: "clustering_runs",
                column: "previous_run_id");

            migrationBuilder.CreateIndex(
                name: "ix_crawl_jobs_site_id",
                table: "crawl_jobs",
                column: "site_id");

            migrationBuilder.CreateIndex(
                name: "ix_crawl_jobs_status",
                table: "crawl_jobs",
                column: "status");

            migrationBuilder.CreateIndex(
                name: "ix_duplicate_groups_kept_image_id",
                table: "duplicate_groups",
                column: "kept_image_id");

            migrationBuilder.CreateIndex(
                name: "ix_embedding_models_name_version",
                table: "embedding_models",
                columns: new[] { "name", "version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_embeddings_model_id",
                table: "embeddings",
                column: "model_id");

            migrationBuilder.CreateIndex(
                name: "ix_frontier_job_id_kind_url",
                table: "frontier",
                columns: new[] { "job_id", "kind", "url" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_frontier_job_id_state_priority",
                table: "frontier",
                columns: new[] { "job_id", "state", "priority" });

            migrationBuilder.CreateIndex(
                name: "ix_frontier_parent_id",
                table: "frontier",
                column: "parent_id");

            migrationBuilder.CreateIndex(
                name: "ix_image_sightings_image_id_source_url_place_id_product_id",
                table: "image_sightings",
                columns: new[] { "image_id", "source_url", "place_id", "product_id" },
                unique: true)
                .Annotation("Npgsql:NullsDistinct", false);

            migrationBuilder.CreateIndex(
                name: "ix_image_sightings_job_id",
                table: "image_sightings",
                column: "job_id");

            migrationBuilder.CreateIndex(
                name: "ix_image_sightings_place_id",
                table: "image_sightings",
                column: "place_id");

            migrationBuilder.CreateIndex(
                name: "ix_image_sightings_product_id",
                table: "image_sightings",
                column: "product_id");

            migrationBuilder.CreateIndex(
                name: "ix_image_sightings_review_id",
                table: "image_sightings",
                column: "review_id");

            migrationBuilder.CreateIndex(
                name: "ix_image_sightings_site_id",
                table: "image_sightings",
                column: "site_id");

            migrationBuilder.CreateIndex(
                name: "ix_images_duplicate_group_id",
                table: "images",
                column: "duplicate_group_id");

            migrationBuilder.CreateIndex(
                name: "ix_images_duplicate_of_id",
                table: "images",
                column: "duplicate_of_id");

            migrationBuilder.CreateIndex(
                name: "ix_images_job_id",
                table: "images",
                column: "job_id");

            migrationBuilder.CreateIndex(
                name: "ix_images_phash_hnsw",
                table: "images",
                column: "phash")
                .Annotation("Npgsql:IndexMethod", "hnsw")
                .Annotation("Npgsql:IndexOperators", new[] { "bit_hamming_ops" });

            migrationBuilder.CreateIndex(
                name: "ix_images_pixel_hash",
                table: "images",
                column: "pixel_hash");

            migrationBuilder.CreateIndex(
                name: "ix_images_place_id",
                table: "images",
                column: "place_id");

            migrationBuilder.CreateIndex(
                name: "ix_images_product_id",
                table: "images",
                column: "product_id");

            migrationBuilder.CreateIndex(
                name: "ix_images_review_id",
                table: "images",
                column: "review_id");

            migrationBuilder.CreateIndex(
                name: "ix_images_sha256",
                table: "images",
                column: "sha256",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_images_status",
                table: "images",
                column: "status");

            migrationBuilder.CreateIndex(
                name: "ix_places_category",
                table: "places",
                column: "category");

            migrationBuilder.CreateIndex(
                name: "ix_places_neighbourhood",
                table: "places",
                column: "neighbourhood");

            migrationBuilder.CreateIndex(
                name: "ix_places_site_id_external_id",
                table: "places",
                columns: new[] { "site_id", "external_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_products_category",
                table: "products",
                column: "category");

            migrationBuilder.CreateIndex(
                name: "ix_products_site_id_external_id",
                table: "products",
                columns: new[] { "site_id", "external_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_reviews_place_id",
                table: "reviews",
                column: "place_id");

            migrationBuilder.CreateIndex(
                name: "ix_reviews_product_id",
                table: "reviews",
                column: "product_id");

            migrationBuilder.CreateIndex(
                name: "ix_reviews_site_id_external_id",
                table: "reviews",
                columns: new[] { "site_id", "external_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_sites_key",
                table: "sites",
                column: "key",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_work_leases_lease_until",
                table: "work_leases",
                column: "lease_until");

            migrationBuilder.AddForeignKey(
                name: "fk_cluster_assignments_images_image_id",
                table: "cluster_assignments",
                column: "image_id",
                principalTable: "images",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_duplicate_groups_images_kept_image_id",
                table: "duplicate_groups",
                column: "kept_image_id",
                principalTable: "images",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_duplicate_groups_images_kept_image_id",
                table: "duplicate_groups");

            migrationBuilder.DropTable(
                name: "cluster_assignments");

            migrationBuilder.DropTable(
                name: "cluster_centroids");

            migrationBuilder.DropTable(
                name: "embeddings");

            migrationBuilder.DropTable(
                name: "frontier");

            migrationBuilder.DropTable(
                name: "image_sightings");

            migrationBuilder.DropTable(
                name: "work_leases");

            migrationBuilder.DropTable(
                name: "clustering_runs");

            migrationBuilder.DropTable(
                name: "embedding_models");

            migrationBuilder.DropTable(
                name: "images");

            migrationBuilder.DropTable(
                name: "crawl_jobs");

            migrationBuilder.DropTable(
                name: "duplicate_groups");

            migrationBuilder.DropTable(
                name: "reviews");

            migrationBuilder.DropTable(
                name: "places");

            migrationBuilder.DropTable(
                name: "products");

            migrationBuilder.DropTable(
                name: "sites");
        }
    }
}
