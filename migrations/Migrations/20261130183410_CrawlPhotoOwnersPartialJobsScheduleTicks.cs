using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class CrawlPhotoOwnersPartialJobsScheduleTicks : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_frontier_job_id_kind_url",
                table: "frontier");

            migrationBuilder.AlterDatabase()
                .Annotation("Npgsql:Enum:duplicate_kind", "embedding,exact_bytes,exact_pixels,perceptual_hash")
                .Annotation("Npgsql:Enum:frontier_kind", "category,photo,place,product,search")
                .Annotation("Npgsql:Enum:frontier_state", "claimed,done,failed,pending")
                .Annotation("Npgsql:Enum:image_status", "accepted,duplicate,fetched,rejected")
                .Annotation("Npgsql:Enum:job_status", "cancelled,completed,completed_with_failures,failed,pending,running")
                .Annotation("Npgsql:Enum:run_status", "completed,failed,running")
                .Annotation("Npgsql:PostgresExtension:vector", ",,")
                .OldAnnotation("Npgsql:Enum:duplicate_kind", "embedding,exact_bytes,exact_pixels,perceptual_hash")
                .OldAnnotation("Npgsql:Enum:frontier_kind", "category,photo,place,product,search")
                .OldAnnotation("Npgsql:Enum:frontier_state", "claimed,done,failed,pending")
                .OldAnnotation("Npgsql:Enum:image_status", "accepted,duplicate,fetched,rejected")
                .OldAnnotation("Npgsql:Enum:job_status", "cancelled,completed,failed,pending,running")
                .OldAnnotation("Npgsql:Enum:run_status", "completed,failed,running")
                .OldAnnotation("Npgsql:PostgresExtension:vector", ",,");

            migrationBuilder.AddColumn<string>(
                name: "owner",
                table: "frontier",
                type: "text",
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "crawl_schedule_ticks",
                columns: table => new
                {
                    schedule = table.Column<string>(type: "text", nullable: false),
                    due_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    job_id = table.Column<long>(type: "bigint", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_crawl_schedule_ticks", x => new { x.schedule, x.due_at });
                    table.ForeignKey(
                        name: "fk_crawl_schedule_ticks_crawl_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "crawl_jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                });

            migrationBuilder.CreateIndex(
                name: "ix_frontier_job_id_kind_url_owner",
                table: "frontier",
                columns: new[] { "job_id", "kind", "url", "owner" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_crawl_schedule_ticks_job_id",
                table: "crawl_schedule_ticks",
                column: "job_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "crawl_schedule_ticks");

            migrationBuilder.DropIndex(
                name: "ix_frontier_job_id_kind_url_owner",
                table: "frontier");

            migrationBuilder.DropColumn(
                name: "owner",
                table: "frontier");

            migrationBuilder.AlterDatabase()
                .Annotation("Npgsql:Enum:duplicate_kind", "embedding,exact_bytes,exact_pixels,perceptual_hash")
                .Annotation("Npgsql:Enum:frontier_kind", "category,photo,place,product,search")
                .Annotation("Npgsql:Enum:frontier_state", "claimed,done,failed,pending")
                .Annotation("Npgsql:Enum:image_status", "accepted,duplicate,fetched,rejected")
                .Annotation("Npgsql:Enum:job_status", "cancelled,completed,failed,pending,running")
                .Annotation("Npgsql:Enum:run_status", "completed,failed,running")
                .Annotation("Npgsql:PostgresExtension:vector", ",,")
                .OldAnnotation("Npgsql:Enum:duplicate_kind", "embedding,exact_bytes,exact_pixels,perceptual_hash")
                .OldAnnotation("Npgsql:Enum:frontier_kind", "category,photo,place,product,search")
                .OldAnnotation("Npgsql:Enum:frontier_state", "claimed,done,failed,pending")
                .OldAnnotation("Npgsql:Enum:image_status", "accepted,duplicate,fetched,rejected")
                .OldAnnotation("Npgsql:Enum:job_status", "cancelled,completed,completed_with_failures,failed,pending,running")
                .OldAnnotation("Npgsql:Enum:run_status", "completed,failed,running")
                .OldAnnotation("Npgsql:PostgresExtension:vector", ",,");

            migrationBuilder.CreateIndex(
                name: "ix_frontier_job_id_kind_url",
                table: "frontier",
                columns: new[] { "job_id", "kind", "url" },
                unique: true);
        }
    }
}
