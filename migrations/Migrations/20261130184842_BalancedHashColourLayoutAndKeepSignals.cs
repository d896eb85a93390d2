using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class BalancedHashColourLayoutAndKeepSignals : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<byte[]>(
                name: "colour_layout",
                table: "images",
                type: "bytea",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "encode_exact",
                table: "images",
                type: "boolean",
                nullable: true);

            migrationBuilder.AddColumn<float>(
                name: "encode_quality",
                table: "images",
                type: "real",
                nullable: true);

            migrationBuilder.AddColumn<short>(
                name: "hash_version",
                table: "images",
                type: "smallint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "keep_reason",
                table: "duplicate_groups",
                type: "text",
                nullable: true);

            // Hashes stored so far are OpenCV img_hash pHashes (recipe 1): never compared with balanced ones, and
            // recomputed from their blobs by 'harvester curate --rehash'.
            migrationBuilder.Sql("UPDATE images SET hash_version = 1 WHERE phash IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "colour_layout",
                table: "images");

            migrationBuilder.DropColumn(
                name: "encode_exact",
                table: "images");

            migrationBuilder.DropColumn(
                name: "encode_quality",
                table: "images");

            migrationBuilder.DropColumn(
                name: "hash_version",
                table: "images");

            migrationBuilder.DropColumn(
                name: "keep_reason",
                table: "duplicate_groups");
        }
    }
}
