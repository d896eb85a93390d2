using System.CommandLine;
using Harvester.DemoSite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.App.Commands;

/// <summary><c>harvester demo-site</c>: serves the local demo site standalone until Ctrl+C.</summary>
internal static class DemoSiteCommand
{
    public static Command Create()
    {
        var port = new Option<int?>("--port") { Description = "Port on 127.0.0.1 (default: DemoSite:Port, 0 = a free port)." };
        var seed = new Option<int?>("--seed") { Description = "Content seed (default: DemoSite:Seed)." };
        var noFaults = new Option<bool>("--no-faults") { Description = "Serve without injected faults (slow/429/500/broken images, hanging grid, private links)." };
        var command = new Command("demo-site", "Serve the local demo site (map app + shop with real photos and injected faults) until Ctrl+C.")
        {
            port, seed, noFaults,
        };
        command.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var options = services.GetRequiredService<IOptions<DemoSiteOptions>>().Value;
            options.Port = pr.GetValue(port) ?? options.Port;
            options.Seed = pr.GetValue(seed) ?? options.Seed;
            options.Faults = options.Faults && !pr.GetValue(noFaults);

            await using var site = await DemoSiteServer.StartAsync(options, services.GetRequiredService<ILoggerFactory>(), ct);
            var truth = site.Truth;
            var photos = truth.Places.Sum(p => p.Photos.Count) + truth.ShopCategories.Sum(c => c.Products.Sum(p => p.Reviews.Sum(r => r.Photos.Count)));
            Console.WriteLine($"Demo site on {site.BaseUrl} (seed {options.Seed}, faults {(options.Faults ? "on" : "off")})");
            Console.WriteLine($"  {truth.Queries.Count} queries, {truth.Places.Count} places, {truth.ShopCategories.Sum(c => c.Products.Count)} products, {photos} photos");
            Console.WriteLine($"  map:   {site.Url("/map/search/" + Uri.EscapeDataString(truth.Queries[0].Query)).AbsoluteUri}");
            Console.WriteLine($"  shop:  {site.Url("/store")}");
            Console.WriteLine($"  truth: {site.Url("/__truth?query=" + Uri.EscapeDataString(truth.Queries[0].Query)).AbsoluteUri}");
            Console.WriteLine("Press Ctrl+C to stop.");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.WriteLine("Stopping the demo site.");
            }

            return 0;
        }, builder => builder.Services.AddHarvesterDemoSiteOptions(), start: false));
        return command;
    }
}
