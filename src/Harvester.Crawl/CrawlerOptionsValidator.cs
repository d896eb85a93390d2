using System.Collections;
using System.Reflection;
using System.Text.RegularExpressions;
using Harvester.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Harvester.Crawl;

/// <summary>
/// Checks the Crawler section when the app starts, so a definition that cannot work is refused before anything is
/// crawled, with the key's full name: keys that are not settings (typos), selectors that do not parse, regexes that do
/// not compile, templates without their placeholder, steps and JSON lists that refer to what is not there, flows missing
/// a key they need, and schedules with a bad cron or an unknown site.
/// </summary>
public sealed class CrawlerOptionsValidator(IConfiguration configuration) : IValidateOptions<CrawlerOptions>
{
    private const string Section = CrawlerOptions.Section;

    public ValidateOptionsResult Validate(string? name, CrawlerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        UnknownKeys(configuration.GetSection(Section), typeof(CrawlerOptions), Section, errors);
        foreach (var (siteName, site) in options.Sites)
        {
            ValidateSite($"{Section}:Sites:{siteName}", site, errors);
        }

        // Node refuses to start on a NODE_OPTIONS entry that is not an option, and the crawl would only fail at its
        // first browser launch; say so now, naming the key.
        if (options.DriverNodeOptions.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(o => !o.StartsWith("--", StringComparison.Ordinal)) is { } notAnOption)
        {
            errors.Add($"{Section}:DriverNodeOptions has '{notAnOption}', which is not a Node.js option (options start with --, e.g. --max-semi-space-size=4)");
        }

        ValidateSchedules(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Every problem of one site definition, each naming its key under <paramref name="prefix"/>.</summary>
    public static void ValidateSite(string prefix, SiteDefinition site, List<string> errors)
    {
        void Error(string key, string problem) => errors.Add($"{prefix}:{key} {problem}");

        void Selector(string key, string value)
        {
            if (value.Length > 0 && SelectorSyntax.Check(value) is { } problem)
            {
                Error(key, $"is not a valid selector ('{value}'): {problem}");
            }
        }

        void Read(string key, string value)
        {
            if (value.Length > 0 && SelectorSyntax.CheckRead(value) is { } problem)
            {
                Error(key, $"is not a valid \"selector\" or \"selector@attribute\" ('{value}'): {problem}");
            }
        }

        void Attribute(string key, string value)
        {
            if (value.Length > 0 && !Regex.IsMatch(value, @"^[A-Za-z_:][\w:.-]*$"))
            {
                Error(key, $"is not an attribute name ('{value}')");
            }
        }

        void Pattern(string key, string value, bool needsId = false)
        {
            if (value.Length == 0)
            {
                return;
            }

            try
            {
                var regex = new Regex(value, RegexOptions.CultureInvariant, PhotoUrls.PatternTimeout);
                if (needsId && !regex.GetGroupNames().Contains("id"))
                {
                    Error(key, $"has no group named id ('{value}'); write it as (?<id>…)");
                }
            }
            catch (ArgumentException e)
            {
                Error(key, $"is not a valid regex ('{value}'): {e.Message}");
            }
        }

        void Template(string key, string value, string placeholder)
        {
            if (value.Length > 0 && !value.Contains(placeholder, StringComparison.Ordinal))
            {
                Error(key, $"must contain {placeholder} ('{value}')");
            }
        }

        void Required(string key, string value, string why)
        {
            if (value.Length == 0)
            {
                Error(key, $"is empty, but {why}");
            }
        }

        if (site.BaseUrl.Length > 0 && site.BaseUrl != "{demo}"
            && (!Uri.TryCreate(site.BaseUrl, UriKind.Absolute, out var b) || (b.Scheme != Uri.UriSchemeHttp && b.Scheme != Uri.UriSchemeHttps)))
        {
            Error(nameof(site.BaseUrl), $"is not an http(s) URL ('{site.BaseUrl}')");
        }

        foreach (var (key, value) in new[]
        {
            (nameof(site.SearchInput), site.SearchInput), (nameof(site.SearchSubmit), site.SearchSubmit), (nameof(site.ResultsFrame), site.ResultsFrame),
            (nameof(site.ResultItem), site.ResultItem), (nameof(site.ResultLink), site.ResultLink), (nameof(site.ResultsScrollContainer), site.ResultsScrollContainer),
            (nameof(site.ResultsNextPage), site.ResultsNextPage), (nameof(site.ResultsLoadMore), site.ResultsLoadMore), (nameof(site.ResultsEnd), site.ResultsEnd),
            (nameof(site.NoResults), site.NoResults), (nameof(site.PhotoTab), site.PhotoTab), (nameof(site.PhotoTypeChip), site.PhotoTypeChip.Replace("{type}", "x", StringComparison.Ordinal)),
            (nameof(site.PhotoScrollContainer), site.PhotoScrollContainer), (nameof(site.PhotoLoadMore), site.PhotoLoadMore), (nameof(site.PhotoEmpty), site.PhotoEmpty),
            (nameof(site.ProductItem), site.ProductItem), (nameof(site.ProductLink), site.ProductLink), (nameof(site.ProductsScrollContainer), site.ProductsScrollContainer),
            (nameof(site.ProductsNextPage), site.ProductsNextPage), (nameof(site.ProductsLoadMore), site.ProductsLoadMore), (nameof(site.ReviewItem), site.ReviewItem),
            (nameof(site.ReviewsNextPage), site.ReviewsNextPage), (nameof(site.ReviewsLoadMore), site.ReviewsLoadMore), (nameof(site.PhotoItem), site.PhotoItem),
        })
        {
            Selector(key, value);
        }

        foreach (var (key, value) in new[]
        {
            (nameof(site.PlaceName), site.PlaceName), (nameof(site.PlaceCategory), site.PlaceCategory), (nameof(site.PlaceAddress), site.PlaceAddress),
            (nameof(site.PlaceLatitude), site.PlaceLatitude), (nameof(site.PlaceLongitude), site.PlaceLongitude), (nameof(site.ProductName), site.ProductName),
            (nameof(site.ReviewText), site.ReviewText), (nameof(site.ReviewRating), site.ReviewRating),
        })
        {
            Read(key, value);
        }

        foreach (var (key, value) in new[]
        {
            (nameof(site.ResultIdAttribute), site.ResultIdAttribute), (nameof(site.ProductIdAttribute), site.ProductIdAttribute),
            (nameof(site.ProductRankAttribute), site.ProductRankAttribute), (nameof(site.ReviewIdAttribute), site.ReviewIdAttribute),
            (nameof(site.PhotoTypeAttribute), site.PhotoTypeAttribute),
        })
        {
            Attribute(key, value);
        }

        for (var i = 0; i < site.PhotoUrlAttributes.Count; i++)
        {
            var a = site.PhotoUrlAttributes[i];
            var valid = a.StartsWith("css:", StringComparison.Ordinal)
                ? Regex.IsMatch(a[4..], "^-?[a-z][a-z-]*$")
                : a == "style" || Regex.IsMatch(a, @"^[A-Za-z_][\w:.-]*$");
            if (!valid)
            {
                Error($"{nameof(site.PhotoUrlAttributes)}:{i}", $"'{a}' is not an attribute name, \"style\" or \"css:<property>\"");
            }
        }

        Pattern(nameof(site.PlaceIdPattern), site.PlaceIdPattern, needsId: true);
        Pattern(nameof(site.ProductIdPattern), site.ProductIdPattern, needsId: true);
        Pattern(nameof(site.PhotoUrlPattern), site.PhotoUrlPattern);
        for (var i = 0; i < site.SkipUrlPatterns.Count; i++)
        {
            Pattern($"{nameof(site.SkipUrlPatterns)}:{i}", site.SkipUrlPatterns[i]);
        }

        Template(nameof(site.SearchUrl), site.SearchUrl, "{query}");
        Template(nameof(site.CategoryUrl), site.CategoryUrl, "{category}");
        Template(nameof(site.PlaceUrlTemplate), site.PlaceUrlTemplate, "{id}");
        Template(nameof(site.ProductUrlTemplate), site.ProductUrlTemplate, "{id}");
        Template(nameof(site.PhotoTypeChip), site.PhotoTypeChip, "{type}");

        foreach (var (key, steps) in new[]
        {
            (nameof(site.SearchSteps), site.SearchSteps), (nameof(site.PlaceSteps), site.PlaceSteps), (nameof(site.PhotoSteps), site.PhotoSteps),
            (nameof(site.CategorySteps), site.CategorySteps), (nameof(site.ProductSteps), site.ProductSteps),
        })
        {
            for (var i = 0; i < steps.Count; i++)
            {
                var step = steps[i];
                var stepKey = $"{key}:{i}";
                if (step.Selector.Length == 0)
                {
                    Error($"{stepKey}:Selector", $"is empty, but a {step.Action} step needs the control it acts on");
                }
                else
                {
                    Selector($"{stepKey}:Selector", step.Selector);
                }

                if (step.Count.Length > 0)
                {
                    if (!SiteNavigator.ItemSelectorKeys.Contains(step.Count))
                    {
                        Error($"{stepKey}:Count", $"names '{step.Count}', which is not one of this definition's item selectors ({string.Join(", ", SiteNavigator.ItemSelectorKeys)})");
                    }
                    else if (SiteNavigator.ItemSelector(site, step.Count).Length == 0)
                    {
                        Error($"{stepKey}:Count", $"refers to {step.Count}, which is empty in this definition");
                    }
                }
                else if (step.Action == StepAction.ClickUntilCountStable)
                {
                    Error($"{stepKey}:Count", "is empty, but a ClickUntilCountStable step needs the item selector whose count must stop growing (e.g. PhotoItem)");
                }
            }
        }

        var results = JsonList(nameof(site.ResultsJson), site.ResultsJson, errors, prefix, link: true);
        var photos = JsonList(nameof(site.PhotoJson), site.PhotoJson, errors, prefix, photo: true);
        var products = JsonList(nameof(site.ProductsJson), site.ProductsJson, errors, prefix, link: true);
        var reviews = JsonList(nameof(site.ReviewsJson), site.ReviewsJson, errors, prefix, review: true);
        if (site.Kind == SiteKind.Map)
        {
            if (site.SearchUrl.Length == 0)
            {
                Required(nameof(site.SearchPageUrl), site.SearchPageUrl, "a map site needs SearchUrl, or SearchPageUrl with SearchInput");
                Required(nameof(site.SearchInput), site.SearchInput, "a map site without SearchUrl types its query into it");
            }

            if (!results)
            {
                Required(nameof(site.ResultItem), site.ResultItem, "a map site reads its results from it (or from ResultsJson)");
            }
            else if (site.ResultsJson.Url.Length == 0 && site.PlaceUrlTemplate.Length == 0)
            {
                Error($"{nameof(site.ResultsJson)}:Url", "is empty: results read from JSON need Url, or Id with PlaceUrlTemplate");
            }

            Required(nameof(site.PlaceIdPattern), site.PlaceIdPattern, "a map site finds the place id in the place URL with it");
            if (!photos)
            {
                Required(nameof(site.PhotoItem), site.PhotoItem, "a map site reads its photo grid from it (or from PhotoJson)");
            }
        }
        else
        {
            Required(nameof(site.CategoryUrl), site.CategoryUrl, "a shop starts from its category pages");
            if (!products)
            {
                Required(nameof(site.ProductItem), site.ProductItem, "a shop reads its products from it (or from ProductsJson)");
            }
            else if (site.ProductsJson.Url.Length == 0 && site.ProductUrlTemplate.Length == 0)
            {
                Error($"{nameof(site.ProductsJson)}:Url", "is empty: products read from JSON need Url, or Id with ProductUrlTemplate");
            }

            Required(nameof(site.ProductIdPattern), site.ProductIdPattern, "a shop finds the product id in the product URL with it");
            if (!reviews)
            {
                Required(nameof(site.ReviewItem), site.ReviewItem, "a shop reads its reviews from it (or from ReviewsJson)");
                Required(nameof(site.PhotoItem), site.PhotoItem, "a shop reads each review's photos from it (or from ReviewsJson:Photos)");
            }
        }
    }

    /// <summary>Checks a JSON list; true when it is configured (and so replaces the markup list).</summary>
    private static bool JsonList(string key, JsonList list, List<string> errors, string prefix, bool link = false, bool photo = false, bool review = false)
    {
        if (!list.IsSet)
        {
            return false;
        }

        void Error(string field, string problem) => errors.Add($"{prefix}:{key}:{field} {problem}");

        if (list.Script.Length == 0 && list.Response.Length == 0)
        {
            Error("Script", "and Response are both empty: say where the JSON is (a <script> selector, a response URL regex, or both)");
        }

        if (list.Script.Length > 0 && SelectorSyntax.Check(list.Script) is { } problem)
        {
            Error("Script", $"is not a valid selector ('{list.Script}'): {problem}");
        }

        if (list.Response.Length > 0)
        {
            try
            {
                _ = new Regex(list.Response, RegexOptions.CultureInvariant, PhotoUrls.PatternTimeout);
            }
            catch (ArgumentException e)
            {
                Error("Response", $"is not a valid regex ('{list.Response}'): {e.Message}");
            }
        }

        if (list.Items.Length == 0)
        {
            Error("Items", "is empty: the path to the list's items, e.g. $.items[*]");
        }

        foreach (var (field, value) in new[]
        {
            ("Items", list.Items), ("Url", list.Url), ("Id", list.Id), ("Type", list.Type), ("Rank", list.Rank), ("Text", list.Text), ("Rating", list.Rating), ("Photos", list.Photos),
        })
        {
            if (value.Length > 0 && !JsonPath.TryParse(value, out _, out var pathError))
            {
                Error(field, $"is not a valid path ('{value}'): {pathError}");
            }
        }

        if (link && list.Url.Length == 0 && list.Id.Length == 0)
        {
            Error("Url", "and Id are both empty: links need one of them");
        }

        if (photo && list.Url.Length == 0)
        {
            Error("Url", "is empty: the path to each photo's URL");
        }

        if (review)
        {
            if (list.Id.Length == 0)
            {
                Error("Id", "is empty: reviews are kept by their id");
            }

            if (list.Photos.Length == 0)
            {
                Error("Photos", "is empty: the path to each review's photo URLs, e.g. images[*].url");
            }
        }

        return true;
    }

    private static void ValidateSchedules(CrawlerOptions options, List<string> errors)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Schedules.Count; i++)
        {
            var s = options.Schedules[i];
            var key = $"{Section}:Schedules:{i}";
            if (s.Name.Length == 0)
            {
                errors.Add($"{key}:Name is empty; a schedule's ticks are recorded under its name");
            }
            else if (!names.Add(s.Name))
            {
                errors.Add($"{key}:Name '{s.Name}' is used by another schedule; names must be unique");
            }

            if (!Cronos.CronExpression.TryParse(s.Cron, out _))
            {
                errors.Add($"{key}:Cron '{s.Cron}' is not a 5-field cron expression (minute hour day month weekday, UTC), e.g. \"0 3 * * *\"");
            }

            if (s.Job is null)
            {
                errors.Add($"{key}:Job is missing: the crawl to run (Site, Queries or Neighbourhoods and Categories, caps)");
                continue;
            }

            if (string.IsNullOrEmpty(s.Job.Site) || !options.Sites.ContainsKey(s.Job.Site))
            {
                errors.Add($"{key}:Job:Site '{s.Job.Site}' is not a site under {Section}:Sites (configured: {string.Join(", ", options.Sites.Keys.Order())})");
                continue;
            }

            try
            {
                s.Job.Validate(options);
            }
            catch (HarvesterException e)
            {
                // A worker would fail on it at the tick; say so now (a demo site's job needs Job:BaseUrl).
                errors.Add($"{key}:Job: {e.Message}");
            }
        }
    }

    /// <summary>Keys under <paramref name="section"/> that bind to nothing on <paramref name="type"/>: a typo is an error, not a silent default.</summary>
    public static void UnknownKeys(IConfigurationSection section, Type type, string path, List<string> errors)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite || IsCollection(p.PropertyType)).ToList();
        foreach (var child in section.GetChildren())
        {
            var property = properties.FirstOrDefault(p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null)
            {
                var near = properties.Select(p => p.Name).OrderBy(n => Distance(n.ToUpperInvariant(), child.Key.ToUpperInvariant())).First();
                var hint = Distance(near.ToUpperInvariant(), child.Key.ToUpperInvariant()) <= 3 ? $" (did you mean {near}?)" : "";
                errors.Add($"{path}:{child.Key} is not a setting{hint}");
                continue;
            }

            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>))
            {
                var value = t.GetGenericArguments()[1];
                if (IsComplex(value))
                {
                    foreach (var entry in child.GetChildren())
                    {
                        UnknownKeys(entry, value, $"{path}:{child.Key}:{entry.Key}", errors);
                    }
                }
            }
            else if (t != typeof(string) && typeof(IEnumerable).IsAssignableFrom(t))
            {
                var element = t.IsArray ? t.GetElementType()! : t.GetGenericArguments().FirstOrDefault();
                if (element is not null && IsComplex(element))
                {
                    foreach (var entry in child.GetChildren())
                    {
                        UnknownKeys(entry, element, $"{path}:{child.Key}:{entry.Key}", errors);
                    }
                }
            }
            else if (IsComplex(t))
            {
                UnknownKeys(child, t, $"{path}:{child.Key}", errors);
            }
        }
    }

    private static bool IsCollection(Type t) => t != typeof(string) && typeof(IEnumerable).IsAssignableFrom(t);

    private static bool IsComplex(Type t) =>
        !t.IsPrimitive && !t.IsEnum && t != typeof(string) && t != typeof(decimal) && t != typeof(TimeSpan) && t != typeof(DateTime)
        && t != typeof(DateTimeOffset) && t != typeof(Uri) && Nullable.GetUnderlyingType(t) is null && !typeof(IEnumerable).IsAssignableFrom(t);

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
        }

        return d[a.Length, b.Length];
    }
}
