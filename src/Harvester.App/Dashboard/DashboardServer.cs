using System.ComponentModel.DataAnnotations;
using Harvester.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Harvester.App.Dashboard;

/// <summary>The "Dashboard" section of appsettings.json.</summary>
public sealed class DashboardOptions
{
    public const string Section = "Dashboard";

    /// <summary>Serve the dashboard from the worker (<c>harvester dashboard</c> serves it regardless).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Where to listen; loopback by default, since the page shows everything the pipeline holds.</summary>
    [Required]
    public string Urls { get; set; } = "http://127.0.0.1:5080";

    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Refresh { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The operators' dashboard: one page with the pipeline's state (<c>/</c>), the same as JSON (<c>/api/status</c>),
/// Prometheus gauges (<c>/metrics</c>) and the output folder's galleries and reports (<c>/out/…</c>, read-only).
/// A small Kestrel app of its own, so the worker and the <c>dashboard</c> command can both run it.
/// </summary>
public sealed class DashboardServer(PipelineStatus status, IOptions<DashboardOptions> options, IOptions<StorageOptions> storage, RatingEndpoints? ratings = null) : IAsyncDisposable
{
    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };

    private WebApplication? _app;

    /// <summary>The addresses actually listened on (a port of 0 in the configuration becomes the one chosen).</summary>
    public IReadOnlyList<string> Addresses { get; private set; } = [];

    public async Task StartAsync(CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        // Kestrel's own logs stay out of the app's: a failure to listen is reported once, by the caller.
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.Value.Urls);
        var app = builder.Build();

        // Handlers take the request's CancellationToken (not HttpContext), so they bind as result-returning endpoints.
        app.MapGet("/", async (CancellationToken aborted) =>
            Results.Content(DashboardPage.Html(await status.ReadAsync(aborted), options.Value.Refresh), "text/html; charset=utf-8"));
        app.MapGet("/api/status", async (CancellationToken aborted) => Results.Json(await status.ReadAsync(aborted), JsonOptions));
        app.MapGet("/metrics", async (CancellationToken aborted) =>
            Results.Text(DashboardPage.Metrics(await status.ReadAsync(aborted)), "text/plain; version=0.0.4; charset=utf-8"));

        ratings?.Map(app);

        var output = storage.Value.ResolveOutputRoot();
        Directory.CreateDirectory(output);
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = new PhysicalFileProvider(output),
            RequestPath = "/out",
            ServeUnknownFileTypes = false,
            ContentTypeProvider = ContentTypes(),
        });

        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException e)
        {
            await app.DisposeAsync();
            throw new HarvesterException($"The dashboard cannot listen on {options.Value.Urls}: {e.Message} Set Dashboard:Urls to a free address.", e);
        }

        _app = app;
        Addresses = [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses];
    }

    private static Microsoft.AspNetCore.StaticFiles.FileExtensionContentTypeProvider ContentTypes()
    {
        var types = new Microsoft.AspNetCore.StaticFiles.FileExtensionContentTypeProvider();
        types.Mappings[".tsv"] = "text/tab-separated-values; charset=utf-8";
        types.Mappings[".csv"] = "text/csv; charset=utf-8";
        return types;
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync(ct);
            await app.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}

/// <summary>Runs the dashboard inside the worker. A dashboard that cannot listen is logged, and the worker goes on.</summary>
public sealed class DashboardService(DashboardServer server, IOptions<DashboardOptions> options, ILogger<DashboardService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        try
        {
            await server.StartAsync(cancellationToken);
            Log.DashboardListening(logger, string.Join(", ", server.Addresses));
        }
        catch (HarvesterException e)
        {
            Log.DashboardFailed(logger, e.Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => server.StopAsync(cancellationToken);
}
