using Harvester.Core;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class StatusEnumsAndTextHashes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterDatabase()
                .Annotation("Npgsql:Enum:duplicate_kind", "embedding,exact_bytes,exact_pixels,perceptual_hash")
                .Annotation("Npgsql:Enum:frontier_kind", "category,photo,place,product,search")
                .Annotation("Npgsql:Enum:frontier_state", "claimed,done,failed,pending")
                .Annotation("Npgsql:Enum:image_status", "accepted,duplicate,fetched,rejected")
                .Annotation("Npgsql:Enum:job_status", "cancelled,completed,failed,pending,running")
                .Annotation("Npgsql:Enum:run_status", "completed,failed,running")
                .Annotation("Npgsql:PostgresExtension:vector", ",,")
                .OldAnnotation("Npgsql:PostgresExtension:vector", ",,");

            // Text to enum needs USING; duplicate kinds were written lower-case without underscores before.
            migrationBuilder.Sql("""
                ALTER TABLE images ALTER COLUMN status TYPE image_status USING status::image_status;
                ALTER TABLE images ALTER COLUMN sha256 TYPE text USING rtrim(sha256);
                ALTER TABLE frontier ALTER COLUMN state TYPE frontier_state USING state::frontier_state;
                ALTER TABLE frontier ALTER COLUMN kind TYPE frontier_kind USING kind::frontier_kind;
                ALTER TABLE duplicate_groups ALTER COLUMN kind TYPE duplicate_kind USING (CASE kind
                    WHEN 'exactbytes' THEN 'exact_bytes' WHEN 'exactpixels' THEN 'exact_pixels'
                    WHEN 'perceptualhash' THEN 'perceptual_hash' ELSE kind END)::duplicate_kind;
                ALTER TABLE crawl_jobs ALTER COLUMN status TYPE job_status USING status::job_status;
                ALTER TABLE clustering_runs ALTER COLUMN status TYPE run_status USING status::run_status;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE images ALTER COLUMN status TYPE text USING status::text;
                ALTER TABLE images ALTER COLUMN sha256 TYPE char(64);
                ALTER TABLE frontier ALTER COLUMN state TYPE text USING state::text;
                ALTER TABLE frontier ALTER COLUMN kind TYPE text USING kind::text;
                ALTER TABLE duplicate_groups ALTER COLUMN kind TYPE text USING replace(kind::text, '_', '');
                ALTER TABLE crawl_jobs ALTER COLUMN status TYPE text USING status::text;
                ALTER TABLE clustering_runs ALTER COLUMN status TYPE text USING status::text;
                """);

            migrationBuilder.AlterDatabase()
                .Annotation("Npgsql:PostgresExtension:vector", ",,")
                .OldAnnotation("Npgsql:Enum:duplicate_kind", "embedding,exact_bytes,exact_pixels,perceptual_hash")
                .OldAnnotation("Npgsql:Enum:frontier_kind", "category,photo,place,product,search")
                .OldAnnotation("Npgsql:Enum:frontier_state", "claimed,done,failed,pending")
                .OldAnnotation("Npgsql:Enum:image_status", "accepted,duplicate,fetched,rejected")
                .OldAnnotation("Npgsql:Enum:job_status", "cancelled,completed,failed,pending,running")
                .OldAnnotation("Npgsql:Enum:run_status", "completed,failed,running")
                .OldAnnotation("Npgsql:PostgresExtension:vector", ",,");
        }
    }
}
