using System.CommandLine;
using Microsoft.Extensions.Hosting;

namespace Harvester.App.Commands;

internal static class WorkerCommand
{
    public static Command Create()
    {
        var worker = new Command("worker", "Run the long-running worker: every stage claims its work from PostgreSQL in batches until stopped (Ctrl+C).");
        worker.SetAction((pr, ct) => Cli.Guard(async () =>
        {
            var builder = HarvesterHost.CreateBuilder(pr.GetValue(Cli.ConfigOption), worker: true);
            using var host = builder.Build();
            await host.RunAsync(ct);
            return 0;
        }));
        return worker;
    }
}
