using Harvester.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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
        services.TryAddSingleton<IBlobStore>(sp => sp.GetRequiredService<BlobStore>());
        services.AddSingleton<DuplicateGroups>();
        services.TryAddSingleton<ModelStore>();
        services.AddSingleton<Microsoft.EntityFrameworkCore.IDbContextFactory<HarvesterDbContext>, DbContextFactory>();
        services.TryAddSingleton(DatabaseStartPolicy.FailFast);
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService<DatabaseHostedService>();
        return services;
    }

    private sealed class DbContextFactory(HarvesterDatabase database) : Microsoft.EntityFrameworkCore.IDbContextFactory<HarvesterDbContext>
    {
        public HarvesterDbContext CreateDbContext() => database.CreateDbContext();
    }

    /// <summary>
    /// Starts the database (and migrates it) before any other hosted service, stops it last. Under
    /// <see cref="DatabaseStartPolicy.WaitWhileUnavailable"/> (the worker) a configured server that cannot be reached
    /// yet is waited for, with a warning per attempt, as a service manager expects of a long-running process; commands
    /// fail at once with one line instead.
    /// </summary>
    private sealed class DatabaseHostedService(HarvesterDatabase database, DatabaseStartPolicy policy, TimeProvider time, ILogger<HarvesterDatabase> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            var failures = 0;
            while (true)
            {
                try
                {
                    await database.StartAsync(migrate: true, cancellationToken);
                    if (failures > 0)
                    {
                        Log.DatabaseReachable(logger, failures);
                    }

                    return;
                }
                catch (Exception e) when (policy.WaitWhileUnavailable && !database.IsEmbedded && Stages.TransientDatabaseErrors.Is(e) && !cancellationToken.IsCancellationRequested)
                {
                    failures++;
                    var delay = policy.Delay(failures);
                    Log.DatabaseUnavailableAtStart(logger, Stages.TransientDatabaseErrors.Describe(e), delay);
                    await Task.Delay(delay, time, cancellationToken);
                }
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => database.StopAsync(cancellationToken);
    }
}

/// <summary>What a process does when the database cannot be reached at start: commands fail at once, the worker waits.</summary>
public sealed record DatabaseStartPolicy(bool WaitWhileUnavailable)
{
    public static DatabaseStartPolicy FailFast { get; } = new(false);

    public static DatabaseStartPolicy Wait { get; } = new(true);

    /// <summary>1 s, doubling, at most 30 s between attempts.</summary>
    public TimeSpan Delay(int failures) => TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Min(failures - 1, 5))));
}
