using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class PHashChunks : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "phash_chunk0",
                table: "images",
                type: "integer",
                nullable: true,
                computedColumnSql: "substring(phash from 1 for 16)::int",
                stored: true);

            migrationBuilder.AddColumn<int>(
                name: "phash_chunk1",
                table: "images",
                type: "integer",
                nullable: true,
                computedColumnSql: "substring(phash from 17 for 16)::int",
                stored: true);

            migrationBuilder.AddColumn<int>(
                name: "phash_chunk2",
                table: "images",
                type: "integer",
                nullable: true,
                computedColumnSql: "substring(phash from 33 for 16)::int",
                stored: true);

            migrationBuilder.AddColumn<int>(
                name: "phash_chunk3",
                table: "images",
                type: "integer",
                nullable: true,
                computedColumnSql: "substring(phash from 49 for 16)::int",
                stored: true);

            migrationBuilder.CreateIndex(
                name: "ix_images_phash_chunk0",
                table: "images",
                column: "phash_chunk0")
                .Annotation("Npgsql:IndexInclude", new[] { "phash", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_images_phash_chunk1",
                table: "images",
                column: "phash_chunk1")
                .Annotation("Npgsql:IndexInclude", new[] { "phash", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_images_phash_chunk2",
                table: "images",
                column: "phash_chunk2")
                .Annotation("Npgsql:IndexInclude", new[] { "phash", "id" });

            migrationBuilder.CreateIndex(
                name: "ix_images_phash_chunk3",
                table: "images",
                column: "phash_chunk3")
                .Annotation("Npgsql:IndexInclude", new[] { "phash", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_images_phash_chunk0",
                table: "images");

            migrationBuilder.DropIndex(
                name: "ix_images_phash_chunk1",
                table: "images");

            migrationBuilder.DropIndex(
                name: "ix_images_phash_chunk2",
                table: "images");

            migrationBuilder.DropIndex(
                name: "ix_images_phash_chunk3",
                table: "images");

            migrationBuilder.DropColumn(
                name: "phash_chunk0",
                table: "images");

            migrationBuilder.DropColumn(
                name: "phash_chunk1",
                table: "images");

            migrationBuilder.DropColumn(
                name: "phash_chunk2",
                table: "images");

            migrationBuilder.DropColumn(
                name: "phash_chunk3",
                table: "images");
        }
    }
}
