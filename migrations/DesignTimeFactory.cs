using Harvester.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Harvester.Migrations;

/// <summary>
/// Lets 'dotnet ef migrations add' build the model without starting the app. Generating a migration needs no server;
/// HARVESTER_DESIGN_CONNECTION is used only for 'dotnet ef database update'.
/// </summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<HarvesterDbContext>
{
    public HarvesterDbContext CreateDbContext(string[] args)
    {
        var cs = Environment.GetEnvironmentVariable("HARVESTER_DESIGN_CONNECTION") ?? "Host=localhost;Database=harvester";
        var builder = new DbContextOptionsBuilder<HarvesterDbContext>();
        HarvesterDatabase.Configure(builder, HarvesterDatabase.BuildDataSource(cs));
        return new HarvesterDbContext(builder.Options);
    }
}
