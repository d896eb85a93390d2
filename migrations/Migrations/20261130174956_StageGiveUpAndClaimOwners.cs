using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class StageGiveUpAndClaimOwners : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "given_up_at",
                table: "work_leases",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "last_error",
                table: "work_leases",
                type: "text",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_frontier_claimed_by",
                table: "frontier",
                column: "claimed_by",
                filter: "state = 'claimed'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_frontier_claimed_by",
                table: "frontier");

            migrationBuilder.DropColumn(
                name: "given_up_at",
                table: "work_leases");

            migrationBuilder.DropColumn(
                name: "last_error",
                table: "work_leases");
        }
    }
}
