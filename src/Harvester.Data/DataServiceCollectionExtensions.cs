using Harvester.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Harvester.Data;

public static class DataServiceCollectionExtensions
{
    /// <summary>Database (embedded or configured), blob store and the EF context factory.</summary>
    public static IServiceCollection AddHarvesterData(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>().BindSection(StorageOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<PostgreSqlOptions>().BindSection(PostgreSqlOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<HarvesterDatabase>();
        services.AddSingleton<BlobStore>();
        services.AddSingleton<DuplicateGroups>();
        services.TryAddSingleton<ModelStore>();
        services.AddSingleton<Microsoft.EntityFrameworkCore.IDbContextFactory<HarvesterDbContext>, DbContextFactory>();
        services.AddHostedService<DatabaseHostedService>();
        return services;
    }

    private sealed class DbContextFactory(HarvesterDatabase database) : Microsoft.EntityFrameworkCore.IDbContextFactory<HarvesterDbContext>
    {
        public HarvesterDbContext CreateDbContext() => database.CreateDbContext();
    }

    /// <summary>Starts the database (and migrates it) before any other hosted service, stops it last.</summary>
    private sealed class DatabaseHostedService(HarvesterDatabase database) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => database.StartAsync(migrate: true, cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => database.StopAsync(cancellationToken);
    }
}
