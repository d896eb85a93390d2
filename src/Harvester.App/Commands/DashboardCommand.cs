using System.CommandLine;
using Harvester.App.Dashboard;
using Microsoft.Extensions.DependencyInjection;

namespace Harvester.App.Commands;

internal static class DashboardCommand
{
    private static readonly Option<string?> Urls = new("--urls") { Description = "Where to listen (default Dashboard:Urls, http://127.0.0.1:5080)." };

    public static Command Create()
    {
        var command = new Command("dashboard", "Serve the operators' dashboard (pipeline counts, crawl jobs, stage leases, clustering runs, exports; /api/status, /metrics) until Ctrl+C. The worker serves it too.");
        command.Options.Add(Urls);
        command.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var server = services.GetRequiredService<DashboardServer>();
            await server.StartAsync(ct);
            Console.WriteLine($"Dashboard: {string.Join(", ", server.Addresses)} (Ctrl+C stops it)");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }

            await server.StopAsync(CancellationToken.None);
            return 0;
        }, builder =>
        {
            if (pr.GetValue(Urls) is { } urls)
            {
                builder.Configuration["Dashboard:Urls"] = urls;
            }
        }));
        return command;
    }
}
