using System.Globalization;
using System.Text.Json;
using Microsoft.Playwright;

namespace Harvester.Crawl;

/// <summary>
/// What one read of a list of photo elements (or JSON photo items) gave: the photos, and for the ones not taken, why.
/// A list that shows elements but yields no photo says which of the two it was: no URL at all, or URLs all skipped.
/// </summary>
internal sealed record PhotoRead(List<FoundPhoto> Photos, int Elements, int WithoutUrl, List<(string Value, string Reason)> Skipped, string? FirstWithoutUrl)
{
    public static PhotoRead Empty => new([], 0, 0, [], null);

    public PhotoRead Add(PhotoRead other) => new(
        [.. Photos, .. other.Photos], Elements + other.Elements, WithoutUrl + other.WithoutUrl, [.. Skipped, .. other.Skipped], FirstWithoutUrl ?? other.FirstWithoutUrl);

    /// <summary>Why no photo was taken from elements that <paramref name="key"/> matched.</summary>
    public string Explain(string siteName, string key, string spec, SiteDefinition site, string pageUrl)
    {
        var where = $"adapter {siteName}: {key} ('{spec}') matched {Elements} element{(Elements == 1 ? "" : "s")} on {pageUrl}";
        var attributes = $"PhotoUrlAttributes [{string.Join(", ", site.PhotoUrlAttributes)}]";
        if (WithoutUrl == Elements)
        {
            return $"{where}, but none has a URL in {attributes}" + (FirstWithoutUrl is null ? "" : $" (first: {FirstWithoutUrl})");
        }

        var reasons = string.Join("; ", Skipped.GroupBy(s => s.Reason).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} by {g.Key}"));
        var example = Skipped.Count > 0 ? $", e.g. {Skipped[0].Value}" : "";
        var without = WithoutUrl > 0 ? $"{WithoutUrl} without a URL in {attributes}; " : "";
        return $"{where}, but every URL read from them was skipped: {without}{Skipped.Count} skipped ({reasons}){example}";
    }
}

/// <summary>Reads links, photos and reviews from a page's markup or from JSON items.</summary>
internal static class PageReaders
{
    /// <summary>The value a photo element keeps its URL in: an attribute, an inline style's url(…), or a computed style's.</summary>
    private const string PhotoValueJs = """
        (e, attrs) => {
          const cssUrl = v => { if (!v) return null; const m = /url\(\s*(['"]?)(.*?)\1\s*\)/.exec(v); return m ? m[2] : null; };
          for (const at of attrs) {
            let v = null;
            if (at === 'style') v = cssUrl(e.getAttribute('style'));
            else if (at.startsWith('css:')) v = cssUrl(getComputedStyle(e).getPropertyValue(at.slice(4)));
            else v = e.getAttribute(at);
            if (v && !v.trim().toLowerCase().startsWith('data:')) return { value: v, attr: at };
          }
          return { value: null, attr: null };
        }
        """;

    public static async Task<IReadOnlyList<FoundLink>> ReadLinksAsync(ILocator items, string linkSelector, string idAttribute, string rankAttribute)
    {
        var raw = await items.EvaluateAllAsync<JsonElement>(
            """
            (els, a) => els.map(e => {
              const link = a.link ? (e.matches(a.link) ? e : e.querySelector(a.link)) : (e.closest('a') || e.querySelector('a'));
              const href = link ? (link.href || link.getAttribute('href')) : null;
              return { href, id: a.id ? e.getAttribute(a.id) : null, rank: a.rank ? e.getAttribute(a.rank) : null };
            })
            """,
            new { link = linkSelector, id = idAttribute, rank = rankAttribute });
        var list = new List<FoundLink>();
        foreach (var e in raw.EnumerateArray())
        {
            var href = e.GetProperty("href").GetString();
            if (!string.IsNullOrEmpty(href))
            {
                list.Add(new FoundLink(href, e.GetProperty("id").GetString(), ParseRank(e.GetProperty("rank").GetString())));
            }
        }

        return list;
    }

    /// <summary>Links from JSON items: the Url field resolved against the page, or the Id field into <paramref name="urlTemplate"/>.</summary>
    public static IReadOnlyList<FoundLink> LinksFromJson(IEnumerable<JsonElement> items, JsonList list, Uri pageUrl, Uri baseUrl, string urlTemplate)
    {
        var url = list.Url.Length > 0 ? JsonPath.Parse(list.Url) : null;
        var id = list.Id.Length > 0 ? JsonPath.Parse(list.Id) : null;
        var rank = list.Rank.Length > 0 ? JsonPath.Parse(list.Rank) : null;
        var links = new List<FoundLink>();
        foreach (var item in items)
        {
            var itemId = id?.FirstText(item);
            var href = url?.FirstText(item);
            Uri? target = null;
            if (!string.IsNullOrEmpty(href))
            {
                Uri.TryCreate(pageUrl, href, out target);
            }
            else if (!string.IsNullOrEmpty(itemId) && urlTemplate.Length > 0)
            {
                target = SiteNavigator.Expand(urlTemplate, baseUrl, id: itemId);
            }

            if (target is not null)
            {
                links.Add(new FoundLink(target.AbsoluteUri, itemId, ParseRank(rank?.FirstText(item))));
            }
        }

        return links;
    }

    public static async Task<PhotoRead> ReadPhotosAsync(ILocator photos, SiteDefinition site, Uri pageUrl, string? reviewId)
    {
        var raw = await photos.EvaluateAllAsync<JsonElement>(
            $$"""
            (els, a) => {
              const photoValue = {{PhotoValueJs}};
              return els.map(e => {
                const v = photoValue(e, a.attrs);
                const typed = a.type ? e.closest('[' + a.type + ']') : null;
                return { value: v.value, attr: v.attr, type: typed ? typed.getAttribute(a.type) : null, html: v.value ? null : e.outerHTML.slice(0, 240) };
              });
            }
            """,
            new { attrs = site.PhotoUrlAttributes, type = site.PhotoTypeAttribute });
        var read = PhotoRead.Empty;
        foreach (var e in raw.EnumerateArray())
        {
            read = read.Add(Take(e.GetProperty("value").GetString(), e.GetProperty("attr").GetString(), e.GetProperty("type").GetString(), e.GetProperty("html").GetString(), site, pageUrl, reviewId));
        }

        return read;
    }

    /// <summary>Photos from JSON items: the Url field (and the Type field) of each.</summary>
    public static PhotoRead PhotosFromJson(IEnumerable<JsonElement> items, JsonList list, SiteDefinition site, Uri pageUrl)
    {
        var url = JsonPath.Parse(list.Url);
        var type = list.Type.Length > 0 ? JsonPath.Parse(list.Type) : null;
        var read = PhotoRead.Empty;
        foreach (var item in items)
        {
            var text = item.GetRawText();
            read = read.Add(Take(url.FirstText(item), "json", type?.FirstText(item), text.Length > 240 ? text[..240] : text, site, pageUrl, null));
        }

        return read;
    }

    /// <summary>Reviews in the markup, each with its photos (PhotoItem inside the review), in one round trip.</summary>
    public static async Task<(List<ReviewInfo> Reviews, PhotoRead Photos)> ReadReviewsAsync(ILocator items, SiteDefinition site, Uri pageUrl, string fallbackIdPrefix)
    {
        var text = SiteNavigator.SplitRead(site.ReviewText);
        var rating = SiteNavigator.SplitRead(site.ReviewRating);
        var raw = await items.EvaluateAllAsync<JsonElement>(
            $$"""
            (els, a) => {
              const photoValue = {{PhotoValueJs}};
              const read = (e, [sel, attr]) => {
                if (!sel) return null;
                let el = null;
                try { el = e.querySelector(sel); } catch { return null; }
                if (!el) return null;
                return attr ? el.getAttribute(attr) : el.innerText;
              };
              return els.map(e => ({
                id: a.id ? e.getAttribute(a.id) : null,
                text: read(e, a.text),
                rating: read(e, a.rating),
                photos: a.photo ? [...e.querySelectorAll(a.photo)].map(p => {
                  const v = photoValue(p, a.attrs);
                  return { value: v.value, attr: v.attr, html: v.value ? null : p.outerHTML.slice(0, 240) };
                }) : [],
              }));
            }
            """,
            new
            {
                id = site.ReviewIdAttribute,
                text = new[] { text.Selector, text.Attribute },
                rating = new[] { rating.Selector, rating.Attribute },
                photo = site.PhotoItem,
                attrs = site.PhotoUrlAttributes,
            });
        var reviews = new List<ReviewInfo>();
        var photos = PhotoRead.Empty;
        var index = 0;
        foreach (var e in raw.EnumerateArray())
        {
            var id = e.GetProperty("id").GetString() is { Length: > 0 } given ? given : $"{fallbackIdPrefix}-{index.ToString(CultureInfo.InvariantCulture)}";
            index++;
            reviews.Add(new ReviewInfo(id, e.GetProperty("text").GetString()?.Trim(), SiteNavigator.ParseDouble(e.GetProperty("rating").GetString())));
            foreach (var p in e.GetProperty("photos").EnumerateArray())
            {
                photos = photos.Add(Take(p.GetProperty("value").GetString(), p.GetProperty("attr").GetString(), null, p.GetProperty("html").GetString(), site, pageUrl, id));
            }
        }

        return (reviews, photos);
    }

    /// <summary>Reviews from JSON items: Id, Text, Rating and the Photos field's URLs.</summary>
    public static (List<ReviewInfo> Reviews, PhotoRead Photos) ReviewsFromJson(IEnumerable<JsonElement> items, JsonList list, SiteDefinition site, Uri pageUrl)
    {
        var id = JsonPath.Parse(list.Id);
        var text = list.Text.Length > 0 ? JsonPath.Parse(list.Text) : null;
        var rating = list.Rating.Length > 0 ? JsonPath.Parse(list.Rating) : null;
        var photoUrls = JsonPath.Parse(list.Photos);
        var reviews = new List<ReviewInfo>();
        var photos = PhotoRead.Empty;
        foreach (var item in items)
        {
            if (id.FirstText(item) is not { Length: > 0 } reviewId)
            {
                continue;
            }

            reviews.Add(new ReviewInfo(reviewId, text?.FirstText(item)?.Trim(), SiteNavigator.ParseDouble(rating?.FirstText(item))));
            foreach (var url in photoUrls.Texts(item))
            {
                photos = photos.Add(Take(url, "json", null, null, site, pageUrl, reviewId));
            }
        }

        return (reviews, photos);
    }

    private static PhotoRead Take(string? value, string? attribute, string? type, string? html, SiteDefinition site, Uri pageUrl, string? reviewId)
    {
        if (value is null)
        {
            return new PhotoRead([], 1, 1, [], html);
        }

        var candidate = attribute is "srcset" or "data-srcset" ? PhotoUrls.LargestFromSrcset(value) : value;
        if (candidate is not null && site.PhotoUrlPattern.Length > 0)
        {
            var matched = PhotoUrls.ApplyPattern(candidate, site.PhotoUrlPattern);
            if (matched is null)
            {
                return new PhotoRead([], 1, 0, [(value, $"PhotoUrlPattern '{site.PhotoUrlPattern}' (no match)")], null);
            }

            candidate = matched;
        }

        var (url, skipped) = candidate is null ? (null, "an empty srcset") : PhotoUrls.Resolve(candidate, pageUrl, site);
        return url is null
            ? new PhotoRead([], 1, 0, [(value, skipped!)], null)
            : new PhotoRead([new FoundPhoto(url, type, reviewId)], 1, 0, [], null);
    }

    private static int? ParseRank(string? s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : null;
}
