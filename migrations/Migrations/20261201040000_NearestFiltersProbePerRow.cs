using Harvester.Data;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Harvester.Migrations.Migrations
{
    /// <summary>harvester.nearest_sql with its filters as per-row probes (see the SQL file); no schema change.</summary>
    [DbContext(typeof(HarvesterDbContext))]
    [Migration("20261201040000_NearestFiltersProbePerRow")]
    public partial class NearestFiltersProbePerRow : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(SqlResource.Read("20261201040000_NearestFiltersProbePerRow"));
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(SqlResource.Read("20261130191242_NearestImageFunctions"));
        }
    }
}
