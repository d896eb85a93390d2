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

    /// <summary>
    /// When set, every page and API call needs it: <c>Authorization: Bearer &lt;token&gt;</c>, or <c>?token=</c> once in a
    /// browser (it is then kept in an HttpOnly cookie). Without it: 401.
    /// </summary>
    public string Token { get; set; } = "";

    /// <summary>How far back the charts look.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan ChartWindow { get; set; } = PipelineSeries.DefaultWindow;
}

/// <summary>
/// The operators' dashboard: one page with the pipeline's state (<c>/</c>), the same as JSON (<c>/api/status</c>),
/// Prometheus gauges (<c>/metrics</c>) and the output folder's galleries and reports (<c>/out/…</c>, read-only).
/// A small Kestrel app of its own, so the worker and the <c>dashboard</c> command can both run it.
/// </summary>
public sealed class DashboardServer(
    PipelineStatus status, IOptions<DashboardOptions> options, IOptions<StorageOptions> storage, RatingEndpoints? ratings = null,
    PipelineSeries? series = null, ILogger<DashboardServer>? logger = null)
    : IAsyncDisposable
{
    public const string TokenCookie = "harvester_dashboard_token";

    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };

    private WebApplication? _app;

    /// <summary>The addresses actually listened on (a port of 0 in the configuration becomes the one chosen).</summary>
    public IReadOnlyList<string> Addresses { get; private set; } = [];

    public async Task StartAsync(CancellationToken ct)
    {
        var o = options.Value;
        var log = logger ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        // Kestrel's own logs stay out of the app's: a failure to listen is reported once, by the caller.
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(o.Urls);
        var app = builder.Build();

        var exposed = BeyondLoopback(o.Urls);
        var token = o.Token.Trim();
        if (exposed.Count > 0)
        {
            if (token.Length == 0)
            {
                Log.DashboardExposed(log, string.Join(", ", exposed));
            }
            else if (exposed.Any(u => u.StartsWith("http:", StringComparison.OrdinalIgnoreCase)))
            {
                Log.DashboardTokenInClear(log, string.Join(", ", exposed));
            }
        }

        if (token.Length > 0)
        {
            app.Use(async (context, next) =>
            {
                if (Authorized(context, token, out var fromQuery))
                {
                    if (fromQuery)
                    {
                        // A browser opened ?token=… once: later requests (links, refreshes, /out files) carry the cookie.
                        context.Response.Cookies.Append(TokenCookie, token, new CookieOptions
                        {
                            HttpOnly = true,
                            SameSite = SameSiteMode.Strict,
                            Secure = context.Request.IsHttps,
                            Path = "/",
                        });
                    }

                    await next(context);
                    return;
                }

                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"harvester\"";
                await context.Response.WriteAsync("401: this dashboard needs its access token (Dashboard:Token): send 'Authorization: Bearer <token>' or open /?token=<token> once.\n", context.RequestAborted);
            });
        }

        // Handlers take the request's CancellationToken (not HttpContext), so they bind as result-returning endpoints.
        app.MapGet("/", async (CancellationToken aborted) =>
            Results.Content(DashboardPage.Html(await status.ReadAsync(aborted), series is null ? null : await series.ReadAsync(o.ChartWindow, aborted), o.Refresh), "text/html; charset=utf-8"));
        if (series is not null)
        {
            app.MapGet("/api/series", async (CancellationToken aborted) => Results.Json(await series.ReadAsync(o.ChartWindow, aborted), JsonOptions));
        }

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
            throw new HarvesterException($"The dashboard cannot listen on {o.Urls}: {e.Message} Set Dashboard:Urls to a free address.", e);
        }

        _app = app;
        Addresses = [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses];
    }

    /// <summary>The token from the Authorization header, the cookie or ?token=, compared in constant time.</summary>
    private static bool Authorized(HttpContext context, string token, out bool fromQuery)
    {
        fromQuery = false;
        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && Same(header[7..].Trim(), token))
        {
            return true;
        }

        if (context.Request.Cookies.TryGetValue(TokenCookie, out var cookie) && Same(cookie, token))
        {
            return true;
        }

        fromQuery = context.Request.Query.TryGetValue("token", out var query) && Same(query.ToString(), token);
        return fromQuery;
    }

    private static bool Same(string given, string token) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(token));

    /// <summary>
    /// The configured URLs that listen beyond loopback: a wildcard (*, +, 0.0.0.0, [::]), a non-loopback address or a
    /// host name other than localhost.
    /// </summary>
    public static IReadOnlyList<string> BeyondLoopback(string urls)
    {
        var exposed = new List<string>();
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var rest = url.Contains("://", StringComparison.Ordinal) ? url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..] : url;
            var host = rest.StartsWith('[') ? rest[1..Math.Max(1, rest.IndexOf(']', StringComparison.Ordinal))] : rest.Split(':', '/')[0];
            var loopback = host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                           || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip));
            if (!loopback)
            {
                exposed.Add(url);
            }
        }

        return exposed;
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
