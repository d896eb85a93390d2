using System.CommandLine;
using Harvester.App.Dashboard;
using Harvester.App.Report;
using Harvester.Core;
using Harvester.Curate;
using Harvester.Data;
using Harvester.Export;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Harvester.App.Commands;

/// <summary><c>harvester report</c>: the curation report, one static HTML page with thumbnails, readable offline.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = "Folder for index.html and its thumbnails; default: <Storage:OutputRoot>/report (thumbnails are kept between reports)." };
        var run = new Option<long?>("--run") { Description = "Show this clustering run; default: the latest three completed k-means runs." };
        var command = new Command("report", "Write the curation report: counts, rejects with examples against their thresholds, duplicate groups, near-misses, clusters and the latest export, as one HTML page.")
        {
            output, run,
        };
        command.SetAction((pr, ct) => Cli.InHost(pr, ct, async services =>
        {
            var result = await WriteAsync(services, pr.GetValue(output), pr.GetValue(run), ct);
            Console.WriteLine($"Report: {result.Path} ({result.Images} images, {result.Thumbnails} thumbnails, {result.NewThumbnails} new, {result.Elapsed.TotalSeconds:F1} s)");
            return 0;
        }));
        return command;
    }

    public static Task<ReportResult> WriteAsync(IServiceProvider services, string? output, long? run, CancellationToken ct)
    {
        var outputRoot = services.GetRequiredService<IOptions<StorageOptions>>().Value.ResolveOutputRoot();
        var dashboard = services.GetRequiredService<IOptions<DashboardOptions>>().Value.Urls.Split(';')[0].TrimEnd('/');
        var settings = new ReportWriter.Settings(
            output is null ? Path.Combine(outputRoot, "report") : Path.GetFullPath(output),
            outputRoot,
            services.GetRequiredService<IOptions<CurationOptions>>().Value.HammingRadius,
            services.GetRequiredService<IOptions<ExportOptions>>().Value.NearDuplicateCosine,
            run,
            dashboard);
        return new ReportWriter(services.GetRequiredService<HarvesterDatabase>(), services.GetRequiredService<IBlobStore>()).WriteAsync(settings, ct);
    }
}
