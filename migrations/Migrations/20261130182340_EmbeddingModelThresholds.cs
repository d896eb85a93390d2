using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class EmbeddingModelThresholds : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<double>(
                name: "near_copy_cosine",
                table: "embedding_models",
                type: "double precision",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "near_duplicate_cosine",
                table: "embedding_models",
                type: "double precision",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "similarity_group_cosine",
                table: "embedding_models",
                type: "double precision",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "near_copy_cosine",
                table: "embedding_models");

            migrationBuilder.DropColumn(
                name: "near_duplicate_cosine",
                table: "embedding_models");

            migrationBuilder.DropColumn(
                name: "similarity_group_cosine",
                table: "embedding_models");
        }
    }
}
