using System.CommandLine;
using Harvester.App.Commands;
using Harvester.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.App;

internal static class Cli
{
    public static readonly Option<string?> ConfigOption = new("--config")
    {
        Description = "An appsettings.json to use on top of the one beside the executable.",
        Recursive = true,
    };

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Harvester: builds image datasets from the web (crawl → curate → embed → cluster → export).");
        root.Options.Add(ConfigOption);
        root.Subcommands.Add(DbCommands.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(WorkerCommand.Create());
        root.Subcommands.Add(CurateCommand.Create());
        root.Subcommands.Add(CrawlCommands.Create());
        root.Subcommands.Add(DemoSiteCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(DashboardCommand.Create());
        root.Subcommands.Add(CorpusCommand.Create());
        foreach (var c in ClusterCommands.Create()) { root.Subcommands.Add(c); }
        foreach (var c in EmbedCommands.Create()) { root.Subcommands.Add(c); }
        return await root.Parse(args).InvokeAsync();
    }

    /// <summary>
    /// The one way a command runs: its body gets the app's services, with the host (the database first) started before
    /// and stopped after, under <see cref="Guard"/>. <paramref name="configure"/> adjusts the builder (extra settings or
    /// services); <paramref name="start"/> false leaves starting to the body (db start/stop, demo-site).
    /// </summary>
    public static Task<int> InHost(
        ParseResult parse, CancellationToken ct, Func<IServiceProvider, Task<int>> body,
        Action<HostApplicationBuilder>? configure = null, bool start = true) => Guard(async () =>
    {
        var builder = HarvesterHost.CreateBuilder(parse.GetValue(ConfigOption));
        configure?.Invoke(builder);
        using var host = builder.Build();
        if (start)
        {
            await host.StartAsync(ct);
        }

        var code = await body(host.Services);
        if (start)
        {
            await host.StopAsync(CancellationToken.None);
        }

        return code;
    });

    /// <summary>Runs a command body, turning failures the user can act on into one clear line instead of a stack trace.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (HarvesterException e)
        {
            await Console.Error.WriteLineAsync("error: " + e.Message);
            return 2;
        }
        catch (OptionsValidationException e)
        {
            await Console.Error.WriteLineAsync("error: invalid configuration: " + string.Join("; ", e.Failures));
            return 2;
        }
        catch (PostgresException e)
        {
            await Console.Error.WriteLineAsync($"error: PostgreSQL {e.SqlState}: {e.MessageText}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("cancelled");
            return 130;
        }
    }
}
