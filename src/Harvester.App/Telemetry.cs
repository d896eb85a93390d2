using System.ComponentModel.DataAnnotations;
using Harvester.Core;
using Harvester.Core.Telemetry;
using Harvester.Data.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Harvester.App;

public enum OtlpProtocol
{
    Grpc,
    HttpProtobuf,
}

/// <summary>
/// The "Telemetry" section: where OpenTelemetry exports metrics, traces and logs over OTLP. Nothing is exported (and
/// OpenTelemetry is not even started) unless an endpoint is configured here or in the standard
/// OTEL_EXPORTER_OTLP_ENDPOINT environment variable.
/// </summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>The collector's base address, e.g. http://127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318 (HTTP).</summary>
    public string OtlpEndpoint { get; set; } = "";

    /// <summary>Grpc (port 4317 by convention) or HttpProtobuf (4318; signals go to /v1/traces, /v1/metrics, /v1/logs).</summary>
    public OtlpProtocol OtlpProtocol { get; set; } = OtlpProtocol.Grpc;

    /// <summary>How often metrics are pushed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan MetricExportInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Also export log records (they keep going to the console).</summary>
    public bool ExportLogs { get; set; } = true;

    public static string? EnvironmentEndpoint => Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } e ? e : null;
}

internal static class TelemetrySetup
{
    /// <summary>
    /// OpenTelemetry with Harvester's own meter and spans (<see cref="HarvesterTelemetry"/>), Npgsql commands, outgoing
    /// HTTP (photo downloads, model downloads) and the .NET runtime, exported over OTLP when an endpoint is configured.
    /// </summary>
    public static void AddHarvesterTelemetry(this IServiceCollection services, IConfiguration configuration, string command)
    {
        services.AddOptions<TelemetryOptions>().BindSection(TelemetryOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var configured = options.OtlpEndpoint.Trim();
        if (configured.Length == 0 && TelemetryOptions.EnvironmentEndpoint is null)
        {
            return;
        }

        if (configured.Length > 0 && !Uri.TryCreate(configured, UriKind.Absolute, out _))
        {
            throw new HarvesterException($"Telemetry:OtlpEndpoint '{configured}' is not an absolute URL (e.g. http://127.0.0.1:4317).");
        }

        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r
                .AddService("harvester", serviceVersion: HarvesterTelemetry.Version, serviceInstanceId: ProcessIdentity.Current)
                .AddAttributes([new KeyValuePair<string, object>("harvester.command", command)]))
            .WithMetrics(m => m
                .AddMeter(HarvesterTelemetry.Name)
                .AddMeter("Npgsql")
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation())
            .WithTracing(t => t
                .AddSource(HarvesterTelemetry.Name)
                .AddNpgsql()
                .AddHttpClientInstrumentation());
        if (options.ExportLogs)
        {
            otel.WithLogging();
        }

        if (configured.Length > 0)
        {
            otel.UseOtlpExporter(options.OtlpProtocol == OtlpProtocol.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf, new Uri(configured));
        }
        else
        {
            // The OTEL_EXPORTER_OTLP_* variables, read by the exporter itself.
            otel.UseOtlpExporter();
        }

        services.Configure<MetricReaderOptions>(r => r.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)options.MetricExportInterval.TotalMilliseconds);
    }
}
