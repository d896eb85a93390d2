using System.Globalization;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace Harvester.Crawl;

/// <summary>
/// The shop flow of the declarative adapter: category → ranked products → product page → reviews with their photos,
/// using only a <see cref="SiteDefinition"/>.
/// </summary>
public sealed class ShopFlow(SiteNavigator navigator, IOptions<CrawlerOptions> options)
{
    private CrawlerOptions Options => options.Value;

    /// <summary>A category's products in the site's ranking, up to <paramref name="cap"/>.</summary>
    public async Task<IReadOnlyList<FoundLink>> CategoryAsync(IPage page, SiteScope scope, string category, int cap, CancellationToken ct)
    {
        var site = scope.Site;
        using var responses = JsonResponses.Start(page, site.ProductsJson);
        await navigator.GotoAsync(page.MainFrame, SiteNavigator.Expand(site.CategoryUrl, scope.BaseUrl, category: category), scope, nameof(site.CategoryUrl), ct);
        var frame = page.MainFrame;
        await navigator.RunStepsAsync(frame, scope, nameof(site.CategorySteps), site.CategorySteps, ct);
        var items = site.ProductItem.Length > 0 ? frame.Locator(site.ProductItem) : null;
        var list = new ListSpec(site.ProductsJson.IsSet ? nameof(site.ProductsJson) : nameof(site.ProductItem), items, responses)
        {
            NextPage = site.ProductsNextPage,
            NextPageKey = nameof(site.ProductsNextPage),
            LoadMore = site.ProductsLoadMore,
            LoadMoreKey = nameof(site.ProductsLoadMore),
            ScrollContainer = site.ProductsScrollContainer,
        };
        await navigator.WaitForFirstAsync(frame, scope, list, site.ProductItem, site.ProductsJson, "", "");
        var links = await navigator.CollectAsync(frame, scope, list, async _ =>
        {
            if (site.ProductsJson.IsSet)
            {
                var json = await JsonItems.ReadAsync(frame, site.ProductsJson, responses);
                return PageReaders.LinksFromJson(json, site.ProductsJson, new Uri(frame.Url), scope.BaseUrl, site.ProductUrlTemplate);
            }

            return await PageReaders.ReadLinksAsync(items!, site.ProductLink, site.ProductIdAttribute, site.ProductRankAttribute);
        }, l => l.Url, cap, ct);

        var products = links.OrderBy(l => l.Rank ?? int.MaxValue).Take(cap)
            .Select(l => l with { ExternalId = l.ExternalId ?? SiteNavigator.MatchId(site.ProductIdPattern, l.Url) }).ToList();
        scope.Trace?.Matched(list.Key, site.ProductsJson.IsSet ? site.ProductsJson.Items : site.ProductItem, products.Count,
            [.. products.Take(3).Select(p => p.Url)], $"products read (cap {cap})");
        return products;
    }

    /// <summary>A product page: its name, then its reviews (up to <paramref name="reviewCap"/>) with their photos.</summary>
    public async Task<(ProductInfo Product, IReadOnlyList<ReviewInfo> Reviews, IReadOnlyList<FoundPhoto> Photos)> ProductAsync(
        IPage page, SiteScope scope, Uri url, FrontierContext context, int reviewCap, CancellationToken ct)
    {
        var site = scope.Site;
        using var responses = JsonResponses.Start(page, site.ReviewsJson);
        await navigator.GotoAsync(page.MainFrame, url, scope, "product", ct);
        var frame = page.MainFrame;
        var id = SiteNavigator.MatchId(site.ProductIdPattern, page.Url) ?? SiteNavigator.MatchId(site.ProductIdPattern, url.ToString())
            ?? throw new CrawlPageException($"adapter {scope.Name}: ProductIdPattern '{site.ProductIdPattern}' found no product id in {page.Url}", true);
        await navigator.RunStepsAsync(frame, scope, nameof(site.ProductSteps), site.ProductSteps, ct);
        var name = (await SiteNavigator.ReadFieldsAsync(frame, site.ProductName))[0]?.Trim();
        if (site.ProductName.Length > 0)
        {
            scope.Trace?.Matched(nameof(site.ProductName), site.ProductName, name is null ? 0 : 1, name is null ? [] : [name]);
        }

        var product = new ProductInfo(id, name ?? "", context.Category, context.Rank, page.Url);
        var items = site.ReviewItem.Length > 0 ? frame.Locator(site.ReviewItem) : null;
        var list = new ListSpec(site.ReviewsJson.IsSet ? nameof(site.ReviewsJson) : nameof(site.ReviewItem), items, responses)
        {
            NextPage = site.ReviewsNextPage,
            NextPageKey = nameof(site.ReviewsNextPage),
            LoadMore = site.ReviewsLoadMore,
            LoadMoreKey = nameof(site.ReviewsLoadMore),
        };

        // A product without reviews shows none: a short wait for the first, then an empty list is an answer.
        try
        {
            await navigator.WaitForFirstAsync(frame, scope, list, site.ReviewItem, site.ReviewsJson, "", "", Options.ScrollIdleTimeout);
        }
        catch (CrawlPageException)
        {
            scope.Trace?.Note(list.Key, "no reviews showed");
            return (product, [], []);
        }

        var photosByReview = new Dictionary<string, List<FoundPhoto>>(StringComparer.Ordinal);
        var last = PhotoRead.Empty;
        var reviews = await navigator.CollectAsync<ReviewInfo>(frame, scope, list, async pageIndex =>
        {
            var pageUrl = new Uri(page.Url);
            var (read, photos) = site.ReviewsJson.IsSet
                ? PageReaders.ReviewsFromJson(await JsonItems.ReadAsync(frame, site.ReviewsJson, responses), site.ReviewsJson, site, pageUrl)
                : await PageReaders.ReadReviewsAsync(items!, site, pageUrl, $"{id}-p{pageIndex.ToString(CultureInfo.InvariantCulture)}");
            last = photos;
            foreach (var group in photos.Photos.GroupBy(p => p.ReviewId!))
            {
                photosByReview.TryAdd(group.Key, [.. group]);
            }

            return read;
        }, r => r.ExternalId, reviewCap, ct);

        var kept = reviews.Take(reviewCap).ToList();
        var photosOfKept = kept.SelectMany(r => photosByReview.GetValueOrDefault(r.ExternalId) ?? []).DistinctBy(p => (p.Url.AbsoluteUri, p.ReviewId)).ToList();
        scope.Trace?.Matched(list.Key, site.ReviewsJson.IsSet ? site.ReviewsJson.Items : site.ReviewItem, kept.Count,
            [.. kept.Take(3).Select(r => r.ExternalId)], $"reviews read (cap {reviewCap})");
        MapFlow.TracePhotos(scope, site.ReviewsJson.IsSet ? $"{nameof(site.ReviewsJson)}.Photos" : nameof(site.PhotoItem),
            site.ReviewsJson.IsSet ? site.ReviewsJson.Photos : site.PhotoItem, last, photosOfKept, $"taken from the {kept.Count} reviews kept");
        if (kept.Count > 0 && photosOfKept.Count == 0 && last.Elements > 0)
        {
            // Reviews show photo elements, yet no URL came from any of them: a definition problem, said as such.
            throw new CrawlPageException(last.Explain(scope.Name, nameof(site.PhotoItem), site.ReviewsJson.IsSet ? site.ReviewsJson.Photos : site.PhotoItem, site, page.Url), false);
        }

        return (product, kept, photosOfKept);
    }
}
