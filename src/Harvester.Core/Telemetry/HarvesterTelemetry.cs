using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;

namespace Harvester.Core.Telemetry;

/// <summary>
/// The one <see cref="ActivitySource"/> and <see cref="Meter"/> of Harvester, both named "Harvester". They live in
/// Core so that every stage records into the same instruments with the same tags, and OpenTelemetry (configured by the
/// app) subscribes to them by that one name. Without a listener, spans are not created and measurements cost a branch.
/// </summary>
public static class HarvesterTelemetry
{
    public const string Name = "Harvester";

    /// <summary>Tag keys, following OpenTelemetry's naming style.</summary>
    public const string StageTag = "harvester.stage";
    public const string OutcomeTag = "harvester.outcome";
    public const string DirectionTag = "harvester.direction";
    public const string ErrorTypeTag = "error.type";

    public static string Version { get; } =
        typeof(HarvesterTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static ActivitySource Source { get; } = new(Name, Version);

    public static Meter Meter { get; } = new(Name, Version);

    /// <summary>Items a stage finished (claimed and completed, given up, or visited), by stage and outcome.</summary>
    public static Counter<long> Items { get; } = Meter.CreateCounter<long>("harvester.stage.items", "{item}", "Items a stage finished, by stage and outcome.");

    /// <summary>How long one pass (claim, work, commit) of a stage took.</summary>
    public static Histogram<double> PassDuration { get; } = Meter.CreateHistogram<double>("harvester.stage.pass.duration", "s", "Duration of one stage pass: claim, work and commit of a batch.");

    /// <summary>How long one item took where a stage times items one by one (a page visit, a download).</summary>
    public static Histogram<double> ItemDuration { get; } = Meter.CreateHistogram<double>("harvester.stage.item.duration", "s", "Duration of one item of a stage, where items are timed one by one (page visits, downloads).");

    /// <summary>Bytes a stage read or wrote (blob store reads and writes, downloads).</summary>
    public static Counter<long> Bytes { get; } = Meter.CreateCounter<long>("harvester.stage.bytes", "By", "Bytes read or written by a stage.");

    /// <summary>Failed passes and failed items, by stage and error type.</summary>
    public static Counter<long> Errors { get; } = Meter.CreateCounter<long>("harvester.stage.errors", "{error}", "Errors of a stage: failed passes and failed items, by error type.");

    private static readonly AsyncLocal<string?> CurrentStage = new();

    /// <summary>The stage whose pass the calling code runs in, if any (set by <see cref="EnterStage"/>).</summary>
    public static string? Stage => CurrentStage.Value;

    /// <summary>
    /// Marks the calling flow (and the tasks it starts) as working for <paramref name="stage"/>, so shared code such as
    /// the blob store can attribute its bytes; dispose to leave.
    /// </summary>
    public static StageScope EnterStage(string stage)
    {
        var previous = CurrentStage.Value;
        CurrentStage.Value = stage;
        return new StageScope(previous);
    }

    public readonly struct StageScope(string? previous) : IDisposable
    {
        public void Dispose() => CurrentStage.Value = previous;
    }

    /// <summary>A span for one batch (one pass) of <paramref name="stage"/>.</summary>
    public static Activity? StartBatch(string stage)
    {
        var a = Source.StartActivity("stage.pass " + stage, ActivityKind.Internal);
        a?.SetTag(StageTag, stage);
        return a;
    }

    /// <summary>A span for one browser page visit of the crawl stage (<paramref name="kind"/>: search, place, category, product).</summary>
    public static Activity? StartPageVisit(string kind, Uri url)
    {
        var a = Source.StartActivity("crawl.page " + kind, ActivityKind.Client);
        a?.SetTag(StageTag, "crawl");
        a?.SetTag("harvester.page.kind", kind);
        a?.SetTag("url.full", url.AbsoluteUri);
        a?.SetTag("server.address", url.Host);
        return a;
    }

    /// <summary>A span for one photo download of the crawl stage.</summary>
    public static Activity? StartDownload(Uri url)
    {
        var a = Source.StartActivity("crawl.download", ActivityKind.Client);
        a?.SetTag(StageTag, "crawl");
        a?.SetTag("url.full", url.AbsoluteUri);
        a?.SetTag("server.address", url.Host);
        return a;
    }

    /// <summary>Records a finished pass: its items, its duration and, when it failed, its error.</summary>
    public static void RecordPass(string stage, int items, TimeSpan elapsed, Exception? error = null)
    {
        var tag = new KeyValuePair<string, object?>(StageTag, stage);
        if (items > 0)
        {
            Items.Add(items, tag);
        }

        PassDuration.Record(elapsed.TotalSeconds, tag);
        if (error is not null)
        {
            Errors.Add(1, tag, new KeyValuePair<string, object?>(ErrorTypeTag, error.GetType().Name));
        }
    }

    /// <summary>
    /// Records one item timed on its own (a page visit, a download): its duration, its outcome and, when it failed,
    /// its error type. <paramref name="span"/> gets the outcome too, and an error status when it failed.
    /// </summary>
    public static void RecordItem(string stage, string outcome, TimeSpan elapsed, Activity? span, string? errorType = null)
    {
        var stageTag = new KeyValuePair<string, object?>(StageTag, stage);
        var outcomeTag = new KeyValuePair<string, object?>(OutcomeTag, outcome);
        Items.Add(1, stageTag, outcomeTag);
        ItemDuration.Record(elapsed.TotalSeconds, stageTag, outcomeTag);
        span?.SetTag(OutcomeTag, outcome);
        if (errorType is not null)
        {
            Errors.Add(1, stageTag, new KeyValuePair<string, object?>(ErrorTypeTag, errorType));
            span?.SetTag(ErrorTypeTag, errorType);
            span?.SetStatus(ActivityStatusCode.Error);
        }
    }

    /// <summary>Records bytes read or written for the current stage (or "none" outside a stage's pass).</summary>
    public static void RecordBytes(long bytes, string direction)
    {
        if (bytes > 0 && Bytes.Enabled)
        {
            Bytes.Add(bytes, new KeyValuePair<string, object?>(StageTag, Stage ?? "none"), new KeyValuePair<string, object?>(DirectionTag, direction));
        }
    }
}
