using Harvester.Core;

namespace Harvester.Crawl;

/// <summary>What a user asks for: a site, queries (or neighbourhoods × categories from a template), caps and politeness.</summary>
public sealed record CrawlJobSpec
{
    public required string Site { get; init; }
    public string? Name { get; init; }
    /// <summary>Explicit queries: search terms on a map site, category slugs on a shop.</summary>
    public IReadOnlyList<string> Queries { get; init; } = [];
    public IReadOnlyList<string> Neighbourhoods { get; init; } = [];
    public IReadOnlyList<string> Categories { get; init; } = [];
    public string Template { get; init; } = "{neighbourhood} {category}";
    public int PlacesPerQuery { get; init; } = 20;
    public int PhotosPerPlace { get; init; } = 10;
    public int ProductsPerCategory { get; init; } = 20;
    public int ReviewsPerProduct { get; init; } = 20;
    /// <summary>Photo type filter where the site offers one (interior, exterior, menu, food); empty: all.</summary>
    public string? PhotoType { get; init; }
    public bool? RespectRobotsTxt { get; init; }
    /// <summary>Curation profile for this job's images.</summary>
    public string Profile { get; init; } = "default";
    /// <summary>Overrides the site definition's base URL (the demo site's address is only known at run time).</summary>
    public string? BaseUrl { get; init; }

    public sealed record ExpandedQuery(string Query, string? Neighbourhood, string? Category);

    /// <summary>Explicit queries plus the template over neighbourhoods × categories, without repeats.</summary>
    public IReadOnlyList<ExpandedQuery> Expand()
    {
        var result = Queries.Select(q => new ExpandedQuery(q.Trim(), null, null)).ToList();
        if (Neighbourhoods.Count > 0 && Categories.Count > 0)
        {
            foreach (var n in Neighbourhoods)
            {
                foreach (var c in Categories)
                {
                    result.Add(new ExpandedQuery(Template.Replace("{neighbourhood}", n.Trim(), StringComparison.Ordinal).Replace("{category}", c.Trim(), StringComparison.Ordinal), n.Trim(), c.Trim()));
                }
            }
        }
        else if (Categories.Count > 0 && Queries.Count == 0 && Neighbourhoods.Count == 0)
        {
            result.AddRange(Categories.Select(c => new ExpandedQuery(c.Trim(), null, c.Trim())));
        }

        return result.DistinctBy(q => q.Query).ToList();
    }

    /// <summary>Rejects a job before anything is crawled; the message names the parameter.</summary>
    public void Validate(CrawlerOptions options)
    {
        var errors = new List<string>();
        if (!options.Sites.TryGetValue(Site, out var site))
        {
            errors.Add($"unknown site '{Site}' (configured: {string.Join(", ", options.Sites.Keys.Order())})");
        }

        var queries = Expand();
        if (queries.Count == 0)
        {
            errors.Add("no queries: give --query, or --neighbourhoods with --categories (or --categories alone for a shop)");
        }

        if (queries.Any(q => string.IsNullOrWhiteSpace(q.Query)))
        {
            errors.Add("an empty query");
        }

        if (Neighbourhoods.Count > 0 && Categories.Count > 0 && (!Template.Contains("{neighbourhood}", StringComparison.Ordinal) || !Template.Contains("{category}", StringComparison.Ordinal)))
        {
            errors.Add($"template '{Template}' must contain {{neighbourhood}} and {{category}}");
        }

        void Cap(int v, string name)
        {
            if (v is < 1 or > 100_000)
            {
                errors.Add($"{name} must be between 1 and 100000 (got {v})");
            }
        }

        Cap(PlacesPerQuery, "places per query");
        Cap(PhotosPerPlace, "photos per place");
        Cap(ProductsPerCategory, "products per category");
        Cap(ReviewsPerProduct, "reviews per product");
        var baseUrl = BaseUrl ?? site?.BaseUrl ?? "";
        if (site is not null && (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var b) || (b.Scheme != Uri.UriSchemeHttp && b.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"site '{Site}' has no usable base URL ('{baseUrl}'); set Crawler:Sites:{Site}:BaseUrl or pass --base-url");
        }

        if (!string.IsNullOrEmpty(PhotoType) && site is not null && string.IsNullOrEmpty(site.PhotoTypeChip))
        {
            errors.Add($"site '{Site}' offers no photo-type filter (Crawler:Sites:{Site}:PhotoTypeChip is empty), so --photo-type cannot be honoured");
        }

        if (errors.Count > 0)
        {
            throw new HarvesterException("Invalid crawl job: " + string.Join("; ", errors) + ".");
        }
    }
}
