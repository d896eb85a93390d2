using System.CommandLine;
using Harvester.App.Commands;
using Harvester.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Harvester.App;

internal static class Cli
{
    public static readonly Option<string?> ConfigOption = new("--config")
    {
        Description = "An appsettings.json to use on top of the one beside the executable.",
        Recursive = true,
    };

    public static readonly Option<bool> VerboseOption = new("--verbose")
    {
        Description = "On failure, print the full exception with its stack trace after the one-line error.",
        Recursive = true,
    };

    /// <summary>Set from --verbose before any command runs.</summary>
    public static bool Verbose { get; private set; }

    public static async Task<int> RunAsync(string[] args)
    {
        // Before any host exists, so that log lines can be routed above a progress bar while one is on.
        Progress.ConsoleSwitch.Install();
        var root = new RootCommand("Harvester: builds image datasets from the web (crawl → curate → embed → cluster → export).");
        root.Options.Add(ConfigOption);
        root.Options.Add(VerboseOption);
        root.Subcommands.Add(DbCommands.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(WorkerCommand.Create());
        root.Subcommands.Add(CurateCommand.Create());
        root.Subcommands.Add(CrawlCommands.Create());
        root.Subcommands.Add(DemoSiteCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(DashboardCommand.Create());
        root.Subcommands.Add(CorpusCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        foreach (var c in ClusterCommands.Create()) { root.Subcommands.Add(c); }
        foreach (var c in EmbedCommands.Create()) { root.Subcommands.Add(c); }
        var parse = root.Parse(args);
        Verbose = parse.GetValue(VerboseOption);
        // On Ctrl+C or SIGTERM a command is cancelled and given time to stop cleanly (a worker finishes its passes' writes,
        // gives back its claims and stops the embedded cluster it started; the host's own shutdown limit is 30 s) before
        // the process is ended with 130. System.CommandLine's 2 s default cut off workers mid-stop.
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = GracefulStop });
    }

    /// <summary>How long a cancelled command may take to stop before the process is ended (exit code 130).</summary>
    public static TimeSpan GracefulStop { get; } = TimeSpan.FromSeconds(35);

    /// <summary>
    /// The one way a command runs: its body gets the app's services, with the host (the database first) started before
    /// and stopped after, under <see cref="Guard"/>. <paramref name="configure"/> adjusts the builder (extra settings or
    /// services); <paramref name="start"/> false leaves starting to the body (db start/stop, demo-site).
    /// </summary>
    public static Task<int> InHost(
        ParseResult parse, CancellationToken ct, Func<IServiceProvider, Task<int>> body,
        Action<HostApplicationBuilder>? configure = null, bool start = true) => Guard(async () =>
    {
        var builder = HarvesterHost.CreateBuilder(parse.GetValue(ConfigOption), command: parse.CommandResult.Command.Name);
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

    /// <summary>Starts rendering a command's progress as the Progress section says (dispose it before printing results).</summary>
    public static Progress.ConsoleProgress StartProgress(IServiceProvider services) =>
        Progress.ConsoleProgress.Start(services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Progress.ProgressOptions>>().Value);

    /// <summary>The option's value, or <paramref name="fallback"/>; a value below <paramref name="min"/> is a user error naming the option.</summary>
    public static int AtLeast(ParseResult parse, Option<int?> option, int fallback, int min = 1) => Check(option.Name, parse.GetValue(option) ?? fallback, min);

    /// <inheritdoc cref="AtLeast(ParseResult, Option{int?}, int, int)"/>
    public static int AtLeast(ParseResult parse, Option<int> option, int min = 1) => Check(option.Name, parse.GetValue(option), min);

    private static int Check(string name, int value, int min) =>
        value >= min ? value : throw new HarvesterException($"{name} must be at least {min} (got {value}).");

    /// <summary>
    /// The top-level error boundary of every command: a failure becomes one line on stderr naming what is wrong, with a
    /// non-zero exit code (2 for what the user can fix, 3 when the database is unavailable, 1 for anything unexpected);
    /// the stack trace only with --verbose.
    /// </summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e)
        {
            var (message, code) = CliErrors.Describe(e);
            await Console.Error.WriteLineAsync(code == 130 ? message : "error: " + message);
            if (Verbose && code != 130)
            {
                await Console.Error.WriteLineAsync(e.ToString());
            }

            return code;
        }
    }
}
