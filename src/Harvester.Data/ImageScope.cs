using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Harvester.Core;

namespace Harvester.Data;

/// <summary>
/// Which images a clustering run or an export covers: accepted images, optionally narrowed to a site, a place/product category, a
/// neighbourhood or a crawl job. Written as "site=demo,category=cafe" on the command line and stored as JSON on the run.
/// </summary>
public sealed record ImageScope
{
    public static readonly ImageScope All = new();

    [JsonPropertyName("site")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Site { get; init; }

    [JsonPropertyName("category")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Category { get; init; }

    [JsonPropertyName("neighbourhood")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Neighbourhood { get; init; }

    [JsonPropertyName("job")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? JobId { get; init; }

    public static ImageScope Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return All;
        }

        var scope = All;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == part.Length - 1)
            {
                throw new HarvesterException($"Scope part '{part}' is not key=value; use e.g. --scope site=demo,category=cafe,neighbourhood=Mangwon,job=3.");
            }

            var key = part[..eq].Trim().ToLowerInvariant();
            var value = part[(eq + 1)..].Trim();
            scope = key switch
            {
                "site" => scope with { Site = value },
                "category" => scope with { Category = value },
                "neighbourhood" or "neighborhood" => scope with { Neighbourhood = value },
                "job" => long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                    ? scope with { JobId = id }
                    : throw new HarvesterException($"Scope job '{value}' is not a crawl job id."),
                _ => throw new HarvesterException($"Unknown scope key '{key}': use site, category, neighbourhood or job."),
            };
        }

        return scope;
    }

    public string ToJson() => JsonSerializer.Serialize(this);

    public override string ToString()
    {
        var parts = new List<string>();
        if (Site is not null)
        {
            parts.Add("site=" + Site);
        }

        if (Category is not null)
        {
            parts.Add("category=" + Category);
        }

        if (Neighbourhood is not null)
        {
            parts.Add("neighbourhood=" + Neighbourhood);
        }

        if (JobId is not null)
        {
            parts.Add("job=" + JobId.Value.ToString(CultureInfo.InvariantCulture));
        }

        return parts.Count == 0 ? "all" : string.Join(',', parts);
    }

    /// <summary>SQL predicate on an images row aliased <paramref name="alias"/>; values become parameters appended to <paramref name="parameters"/>.</summary>
    public string Predicate(string alias, List<object> parameters)
    {
        var clauses = new List<string> { $"{alias}.status = 'accepted'" };
        string Next(object value)
        {
            parameters.Add(value);
            return "$" + parameters.Count.ToString(CultureInfo.InvariantCulture);
        }

        if (Site is not null)
        {
            clauses.Add($"EXISTS (SELECT 1 FROM image_sightings s JOIN sites t ON t.id = s.site_id WHERE s.image_id = {alias}.id AND t.key = {Next(Site)})");
        }

        if (Category is not null)
        {
            var p = Next(Category);
            clauses.Add($"(EXISTS (SELECT 1 FROM places p WHERE p.id = {alias}.place_id AND p.category = {p}) OR EXISTS (SELECT 1 FROM products q WHERE q.id = {alias}.product_id AND q.category = {p}))");
        }

        if (Neighbourhood is not null)
        {
            clauses.Add($"EXISTS (SELECT 1 FROM places p WHERE p.id = {alias}.place_id AND p.neighbourhood = {Next(Neighbourhood)})");
        }

        if (JobId is not null)
        {
            var p = Next(JobId.Value);
            clauses.Add($"({alias}.job_id = {p} OR EXISTS (SELECT 1 FROM image_sightings s WHERE s.image_id = {alias}.id AND s.job_id = {p}))");
        }

        return string.Join(" AND ", clauses);
    }
}
