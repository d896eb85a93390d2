using System.CommandLine;
using Harvester.Data.Stages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Harvester.App.Commands;

internal static class WorkerCommand
{
    public static Command Create()
    {
        var worker = new Command("worker", "Run the long-running worker: the stages Worker:Stages selects (all by default) claim their work from PostgreSQL in batches until stopped (Ctrl+C).");
        worker.SetAction((pr, ct) => Cli.Guard(async () =>
        {
            var builder = HarvesterHost.CreateBuilder(pr.GetValue(Cli.ConfigOption), worker: true, command: "worker");
            using var host = builder.Build();
            var health = host.Services.GetRequiredService<WorkerHealth>();
            try
            {
                await host.RunAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Stopped (Ctrl+C, SIGTERM) while still starting, e.g. waiting for its database: as asked, so not a failure.
            }
            if (health.Failure is { } failure)
            {
                // A service manager restarts (or reports) a worker that stopped for a reason; exit 0 would read as done.
                await Console.Error.WriteLineAsync("error: the worker stopped: " + failure);
                return 1;
            }

            return 0;
        }));
        return worker;
    }
}
