using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Harvester.Cluster;

public sealed record KSweepPoint(int K, double Inertia, double Silhouette);

/// <summary>How assignments moved since the previous run of the same model and scope.</summary>
public sealed record DriftReport(long PreviousRunId, int Common, int Moved, int Added, int Removed, double AdjustedRandIndex);

/// <summary>Whether a run held every vector in memory or fitted a sample and assigned the rest while streaming.</summary>
public sealed record MemoryUse(string Mode, int RowsInMemory, int BudgetRows);

public sealed record PcaInfo(int Dimensions, double ExplainedVarianceRatio);

/// <summary>
/// How a clustering run was asked for, as stored in clustering_runs.parameters. k-means runs fill the k-means fields,
/// similarity-group runs the similarity ones.
/// </summary>
public sealed record RunParameters
{
    public const string KMeans = "kmeans";
    public const string Similarity = "similarity";

    public required string Method { get; init; }

    /// <summary>The requested k; null means chosen by the sweep (stored as "auto").</summary>
    [JsonConverter(typeof(AutoOrIntConverter))]
    public int? K { get; init; }

    public string? Algorithm { get; init; }
    public int? Seed { get; init; }
    public int? MaxIterations { get; init; }
    public double? Tolerance { get; init; }
    public int? PcaDimensions { get; init; }
    public bool? Normalize { get; init; }
    public int? MiniBatchSize { get; init; }
    public int? MemoryBudgetMegabytes { get; init; }
    public double? Threshold { get; init; }
    public int? Neighbours { get; init; }
    public bool? AsDuplicates { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, RunJson.Options);

    public static RunParameters Parse(string json) => JsonSerializer.Deserialize<RunParameters>(json, RunJson.Options) ?? new RunParameters { Method = "" };

    /// <summary>Writes null as "auto", reads "auto" (or an absent value) as null.</summary>
    private sealed class AutoOrIntConverter : JsonConverter<int?>
    {
        public override int? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Number ? reader.GetInt32() : null;

        public override void Write(Utf8JsonWriter writer, int? value, JsonSerializerOptions options)
        {
            if (value is { } k)
            {
                writer.WriteNumberValue(k);
            }
            else
            {
                writer.WriteStringValue("auto");
            }
        }
    }
}

/// <summary>What a clustering run measured, as stored in clustering_runs.metrics.</summary>
public sealed record RunMetrics
{
    public int Images { get; init; }
    public double? Inertia { get; init; }
    public double? Silhouette { get; init; }
    public int? SilhouetteSample { get; init; }
    public double? DaviesBouldin { get; init; }
    public int? Iterations { get; init; }
    public bool? Converged { get; init; }
    public int[] Sizes { get; init; } = [];
    public string? KChosenBy { get; init; }
    public int? ElbowK { get; init; }
    public IReadOnlyList<KSweepPoint> Sweep { get; init; } = [];
    public long? WarmStartFrom { get; init; }
    public DriftReport? Drift { get; init; }
    public MemoryUse? Memory { get; init; }
    public PcaInfo? Pca { get; init; }
    public double? Seconds { get; init; }

    // Similarity-group runs.
    public int? Groups { get; init; }
    public int? GroupedImages { get; init; }
    public int? Pairs { get; init; }
    public int? LargestGroup { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, RunJson.Options);

    public static RunMetrics Parse(string json) => JsonSerializer.Deserialize<RunMetrics>(json, RunJson.Options) ?? new RunMetrics();

    /// <summary>The scalar figures that were measured, in a fixed order, for tables and reports.</summary>
    public IEnumerable<(string Name, string Value)> Figures()
    {
        static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
        var inv = CultureInfo.InvariantCulture;
        yield return ("images", Images.ToString(inv));
        (string, string?)[] rest =
        [
            ("inertia", Inertia is { } i ? F(i) : null),
            ("silhouette", Silhouette is { } s ? F(s) : null),
            ("silhouetteSample", SilhouetteSample?.ToString(inv)),
            ("daviesBouldin", DaviesBouldin is { } d ? F(d) : null),
            ("iterations", Iterations?.ToString(inv)),
            ("converged", Converged?.ToString()?.ToLowerInvariant()),
            ("kChosenBy", KChosenBy),
            ("elbowK", ElbowK?.ToString(inv)),
            ("warmStartFrom", WarmStartFrom?.ToString(inv)),
            ("groups", Groups?.ToString(inv)),
            ("groupedImages", GroupedImages?.ToString(inv)),
        ];
        foreach (var (name, value) in rest)
        {
            if (value is not null)
            {
                yield return (name, value);
            }
        }
    }
}

internal static class RunJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
