using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class ClusterRatings : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "cluster_ratings",
                columns: table => new
                {
                    run_id = table.Column<long>(type: "bigint", nullable: false),
                    cluster_index = table.Column<int>(type: "integer", nullable: false),
                    rater = table.Column<string>(type: "text", nullable: false),
                    rating = table.Column<int>(type: "integer", nullable: false),
                    rated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_cluster_ratings", x => new { x.run_id, x.cluster_index, x.rater });
                    table.CheckConstraint("ck_cluster_ratings_rating", "rating BETWEEN 1 AND 5");
                    table.ForeignKey(
                        name: "fk_cluster_ratings_clustering_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "clustering_runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "cluster_ratings");
        }
    }
}
