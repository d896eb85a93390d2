using System.CommandLine;
using Harvester.Data;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Harvester.App.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var demo = new Command("demo", "Run the main job end to end on embedded defaults and show what each stage did.");
        demo.SetAction((pr, ct) => Cli.Guard(async () =>
        {
            using var host = HarvesterHost.CreateBuilder(pr.GetValue(Cli.ConfigOption)).Build();
            var database = host.Services.GetRequiredService<HarvesterDatabase>();
            Console.WriteLine("== Harvester demo ==");
            await host.StartAsync(ct);
            Console.WriteLine(database.AppliedMigrations.Count == 0
                ? "[database] schema up to date"
                : "[database] applied migrations: " + string.Join(", ", database.AppliedMigrations));
            await DbCommands.PrintStatusAsync(database, ct);
            await host.StopAsync(ct);
            return 0;
        }));
        return demo;
    }
}
