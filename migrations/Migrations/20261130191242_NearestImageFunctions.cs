using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class NearestImageFunctions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // The statements live in Sql/<this migration's id>.sql (an embedded resource) so they read as SQL; like any
            // applied migration, that file never changes: a later change is a new file and a new migration.
            migrationBuilder.Sql(SqlResource.Read("20261130191242_NearestImageFunctions"));
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP SCHEMA IF EXISTS harvester CASCADE;");
        }
    }
}
