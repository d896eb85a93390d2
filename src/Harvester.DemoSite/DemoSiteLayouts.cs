using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Harvester.DemoSite;

/// <summary>
/// The HTML of the Paged and Next layouts (<see cref="DemoLayout"/>): the same content as the classic pages, built on
/// the other patterns real sites use, so that a crawler configured for them proves its vocabulary, not its fit to one
/// page structure.
/// </summary>
internal static class DemoSiteLayouts
{
    private const string Style = """
        body{margin:0;font-family:'Noto Sans CJK KR',sans-serif;font-size:14px;color:#222}
        header{display:flex;gap:8px;padding:10px;border-bottom:1px solid #e5e5e5}
        a{color:#1a73e8;text-decoration:none}
        """;

    // ---------------- Paged map ----------------

    /// <summary>
    /// The search page: the query runs only when the button is clicked (Enter does nothing; there is no form), results
    /// come 7 a page over XHR and replace the list in place, numbered page buttons and 다음 below.
    /// </summary>
    public static string PagedSearch() => Page("지도 검색", """
        <header>
          <img class="brand" src="/static/logo.png" alt="" width="80" height="24">
          <input id="q" type="text" placeholder="장소 검색" autocomplete="off">
          <button type="button" class="search-btn">검색</button>
        </header>
        <main>
          <ol id="results" class="results"></ol>
          <p class="empty" hidden>검색 결과가 없습니다</p>
          <nav class="pager" aria-label="페이지"></nav>
        </main>
        <script>
        const input = document.getElementById('q');
        const results = document.getElementById('results');
        const empty = document.querySelector('.empty');
        const pager = document.querySelector('.pager');
        let query = '', page = 1, pages = 0, generation = 0;
        async function load(p) {
          const mine = ++generation;
          results.innerHTML = '<li class="loading">불러오는 중…</li>';
          pager.innerHTML = '';
          const response = await fetch('/paged/api/search?q=' + encodeURIComponent(query) + '&page=' + p);
          const data = await response.json();
          if (mine !== generation) return;
          page = data.page; pages = data.pages;
          results.innerHTML = '';
          for (const item of data.items) {
            const li = document.createElement('li');
            li.className = 'result';
            li.dataset.id = item.id;
            li.innerHTML = '<a class="name"></a> <span class="cat"></span>';
            li.querySelector('a').href = item.href;
            li.querySelector('a').textContent = item.name;
            li.querySelector('.cat').textContent = item.category;
            results.append(li);
          }
          empty.hidden = data.total > 0;
          for (let i = 1; i <= pages; i++) {
            const b = document.createElement('button');
            b.type = 'button'; b.className = 'pg'; b.dataset.page = i; b.textContent = i;
            if (i === page) b.setAttribute('aria-current', 'page');
            pager.append(b);
          }
          if (pages > 0) {
            const next = document.createElement('button');
            next.type = 'button'; next.className = 'next'; next.textContent = '다음';
            next.disabled = page >= pages;
            pager.append(next);
          }
        }
        document.querySelector('.search-btn').addEventListener('click', () => {
          query = input.value.trim();
          if (query) load(1);
        });
        pager.addEventListener('click', e => {
          const b = e.target.closest('button');
          if (!b || b.disabled) return;
          load(b.classList.contains('next') ? page + 1 : +b.dataset.page);
        });
        </script>
        """);

    /// <summary>
    /// A place: details, then a gallery of CSS background-image thumbnails filled over XHR 6 at a time, grown by a
    /// 사진 더보기 button that disappears when every photo is shown.
    /// </summary>
    public static string PagedPlace(PlaceSpec place) => Page(place.Name, $$"""
        <header><a href="/paged/">← 검색</a></header>
        <article class="place" data-id="{{place.Id}}">
          <h2 class="title">{{Html(place.Name)}}</h2>
          <dl class="info"><dt>분류</dt><dd class="cat">{{Html(place.Category)}}</dd><dt>주소</dt><dd class="addr">{{Html(place.Address)}}</dd></dl>
          <div id="map" data-lat="{{place.Lat.ToString(CultureInfo.InvariantCulture)}}" data-lng="{{place.Lng.ToString(CultureInfo.InvariantCulture)}}" style="background-image:url('/tiles/12/3494/1582.png');width:256px;height:96px"></div>
          <section class="photos">
            <h3>사진</h3>
            <div class="gallery"></div>
            <p class="no-photo" hidden>등록된 사진이 없습니다</p>
            <button type="button" class="more" hidden>사진 더보기</button>
          </section>
        </article>
        <script>
        const placeId = {{Js(place.Id)}};
        const gallery = document.querySelector('.gallery');
        const more = document.querySelector('.more');
        const none = document.querySelector('.no-photo');
        let offset = 0, total = null;
        async function load() {
          more.disabled = true;
          const response = await fetch('/paged/api/place/' + placeId + '/photos?offset=' + offset + '&limit={{DemoSiteContent.PagedPhotosPerClick}}');
          const data = await response.json();
          total = data.total;
          for (const item of data.items) {
            const cell = document.createElement('div');
            cell.className = 'cell';
            cell.dataset.kind = item.type;
            const ph = document.createElement('div');
            ph.className = 'ph';
            ph.style.backgroundImage = "url('" + item.thumb + "')";
            cell.append(ph);
            gallery.append(cell);
          }
          offset += data.items.length;
          none.hidden = total !== 0;
          more.hidden = offset >= total;
          more.disabled = false;
          if (offset >= total && total > 0) {
            // The gallery ends with a video tile: a background-image, but an icon, not a photo.
            const video = document.createElement('div');
            video.className = 'cell video';
            video.innerHTML = '<div class="ph" style="background-image:url(/static/icon-play.svg)"></div>';
            gallery.append(video);
          }
        }
        more.addEventListener('click', load);
        load();
        </script>
        """, ".gallery{display:flex;flex-wrap:wrap;gap:4px}.cell{width:160px;height:160px}.ph{width:100%;height:100%;background-size:cover;background-position:center}");

    // ---------------- Next shop ----------------

    /// <summary>
    /// A category: its first products in __NEXT_DATA__, rendered by script as cards that are not links (a click sets
    /// location), more products over a JSON API when the sentinel scrolls into view.
    /// </summary>
    public static string NextCategory(ShopCategorySpec category, object pageProps) => Page(category.Name, $$"""
        <div id="__next">
          <header><h1 class="category-title">{{Html(category.Name)}}</h1><span class="sort">인기순</span></header>
          <div class="grid"></div>
          <div class="sentinel" style="height:1px"></div>
          <p class="loading">불러오는 중…</p>
        </div>
        <script id="__NEXT_DATA__" type="application/json">{{JsonInScript(new { props = new { pageProps }, page = "/next/category/[slug]", query = new { slug = category.Slug } })}}</script>
        <script>
        const state = JSON.parse(document.getElementById('__NEXT_DATA__').textContent).props.pageProps;
        const grid = document.querySelector('.grid');
        const sentinel = document.querySelector('.sentinel');
        const loadingText = document.querySelector('.loading');
        let cursor = state.nextCursor, loading = false;
        function render(products) {
          for (const p of products) {
            const card = document.createElement('div');
            card.className = 'card';
            card.setAttribute('role', 'link');
            card.dataset.key = p.id;
            card.innerHTML = '<span class="rank"></span> <span class="title"></span>';
            card.querySelector('.rank').textContent = p.rank;
            card.querySelector('.title').textContent = p.name;
            card.addEventListener('click', () => { location.href = p.url; });
            grid.append(card);
          }
        }
        function sentinelVisible() { return sentinel.getBoundingClientRect().top <= window.innerHeight + 100; }
        async function more() {
          if (loading || !cursor) return;
          loading = true;
          const response = await fetch('/next/api/products?category=' + encodeURIComponent(state.category.slug) + '&cursor=' + cursor);
          const data = await response.json();
          render(data.products);
          cursor = data.nextCursor;
          loading = false;
          if (!cursor) loadingText.remove();
          else if (sentinelVisible()) more();
        }
        render(state.products);
        if (!cursor) loadingText.remove();
        new IntersectionObserver(entries => { if (entries.some(e => e.isIntersecting)) more(); }).observe(sentinel);
        window.addEventListener('scroll', () => { if (sentinelVisible()) more(); });
        </script>
        """, ".grid{display:grid;grid-template-columns:repeat(2,300px);gap:8px}.card{height:280px;border:1px solid #eee;cursor:pointer}");

    /// <summary>A product: its title, then reviews loaded over XHR 4 at a time, grown by a 리뷰 더보기 button.</summary>
    public static string NextProduct(ProductSpec product) => Page(product.Name, $$"""
        <main>
          <h1 data-testid="product-title">{{Html(product.Name)}}</h1>
          <section class="reviews">
            <h2>리뷰 <span class="count">{{product.Reviews.Count}}</span></h2>
            <div class="review-list"></div>
            <button type="button" class="more-reviews" hidden>리뷰 더보기</button>
          </section>
        </main>
        <script>
        const productId = {{Js(product.Id)}};
        const list = document.querySelector('.review-list');
        const more = document.querySelector('.more-reviews');
        let page = 0;
        async function load() {
          more.disabled = true;
          const response = await fetch('/next/api/reviews?product=' + productId + '&page=' + (page + 1));
          const data = await response.json();
          page = data.page;
          for (const r of data.reviews) {
            const article = document.createElement('article');
            article.className = 'rv';
            article.dataset.rid = r.id;
            article.innerHTML = '<div class="stars"></div><p class="body"></p><div class="imgs"></div>';
            article.querySelector('.stars').setAttribute('aria-label', r.stars + '점');
            article.querySelector('.body').textContent = r.body;
            for (const image of r.images) {
              const img = document.createElement('img');
              img.className = 'rv-img';
              img.loading = 'lazy';
              img.src = image.thumb;
              img.srcset = image.url + '?w=320 320w, ' + image.url + '?w=720 720w';
              img.sizes = '160px';
              article.querySelector('.imgs').append(img);
            }
            list.append(article);
          }
          more.hidden = !data.hasNext;
          more.disabled = false;
        }
        more.addEventListener('click', load);
        load();
        </script>
        """);

    private static string Page(string title, string body, string style = "") => $"""
        <!doctype html>
        <html lang="ko"><head><meta charset="utf-8"><title>{Html(title)}</title>
        <style>{Style}{style}</style></head>
        <body>
        {body}
        </body></html>
        """;

    private static string Html(string text) => WebUtility.HtmlEncode(text);

    private static string Js(string? value) => JsonSerializer.Serialize(value);

    /// <summary>JSON safe inside a script element ("&lt;/script" cannot end it early).</summary>
    private static string JsonInScript(object value) => JsonSerializer.Serialize(value, JsonOptions).Replace("</", "<\\/", StringComparison.Ordinal);

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
