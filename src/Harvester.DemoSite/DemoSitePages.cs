using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Harvester.DemoSite;

/// <summary>The demo site's HTML: the structure of a naver-map style map app and an ohouse style shop.</summary>
internal static class DemoSitePages
{
    private const string Placeholder = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";

    private const string BaseStyle = """
        body{margin:0;font-family:'Noto Sans CJK KR',sans-serif;font-size:14px;color:#222}
        a{color:#03c75a;text-decoration:none}
        .chrome{display:flex;align-items:center;gap:8px;padding:8px;border-bottom:1px solid #e5e5e5}
        .chrome img{display:block}
        """;

    public static string Index() => Page("Harvester demo site", """
        <h1>Harvester demo site</h1>
        <ul>
          <li><a href="/map">지도 (map app)</a>: <a href="/map/search/망원동 카페">/map/search/망원동 카페</a></li>
          <li><a href="/store">스토어 (shop)</a></li>
          <li><a href="/paged/">지도, paged layout</a>: button search, numbered pages, CSS-background gallery with 더보기</li>
          <li><a href="/next/category/furniture">스토어, next layout</a>: __NEXT_DATA__, infinite scroll over JSON, reviews over XHR</li>
          <li><a href="/__truth">/__truth</a> (what the site contains, as JSON; <code>?layout=paged|next</code> for those URLs)</li>
        </ul>
        """);

    public static string Map(string? initialQuery) => $$"""
        <!doctype html>
        <html lang="ko"><head><meta charset="utf-8"><title>지도</title>
        <style>
        {{BaseStyle}}
        html,body{height:100%}
        body{display:flex;flex-direction:column}
        main{flex:1;display:flex;min-height:0}
        #search-input{width:320px;padding:6px}
        #searchIframe{width:400px;border:0;border-right:1px solid #e5e5e5;height:100%}
        #entryIframe{flex:1;border:0;height:100%}
        </style></head>
        <body>
        <header class="chrome">
          <img class="brand-logo" src="/static/logo.png" alt="지도" width="80" height="24">
          <input id="search-input" type="search" placeholder="장소, 버스, 지하철, 주소 검색" autocomplete="off">
          <button id="search-button" type="button">검색</button>
        </header>
        <main>
          <iframe id="searchIframe" name="searchIframe" title="검색 결과" src="about:blank"></iframe>
          <iframe id="entryIframe" name="entryIframe" title="장소 정보" src="about:blank"></iframe>
        </main>
        <script>
        const input = document.getElementById('search-input');
        function search(q) {
          q = (q || '').trim();
          if (!q) return;
          document.getElementById('searchIframe').src = '/pcmap/list?query=' + encodeURIComponent(q);
          const path = '/map/search/' + encodeURIComponent(q);
          if (location.pathname !== path) history.pushState(null, '', path);
        }
        document.getElementById('search-button').addEventListener('click', () => search(input.value));
        input.addEventListener('keydown', e => { if (e.key === 'Enter') search(input.value); });
        const initial = {{Js(initialQuery)}};
        if (initial) { input.value = initial; search(initial); }
        </script>
        </body></html>
        """;

    public static string List(string query) => $$"""
        <!doctype html>
        <html lang="ko"><head><meta charset="utf-8"><title>{{Html(query)}} : 검색결과</title>
        <style>
        {{BaseStyle}}
        #place-list{list-style:none;margin:0;padding:0}
        .place-item{height:84px;padding:12px 16px;border-bottom:1px solid #eee;box-sizing:border-box}
        .place-link{font-size:16px;font-weight:bold;color:#0068c3}
        .place-category{margin-left:6px;color:#8f8f8f;font-size:12px}
        .list-loading,.list-end,.no-results{padding:16px;text-align:center;color:#8f8f8f}
        </style></head>
        <body>
        <div id="list-scroll" style="overflow:auto;height:600px">
          <ul id="place-list"></ul>
          <div id="list-status" class="list-loading">불러오는 중…</div>
        </div>
        <script>
        const query = {{Js(query)}};
        const scroller = document.getElementById('list-scroll');
        const list = document.getElementById('place-list');
        const status = document.getElementById('list-status');
        let page = 0, loading = false, done = false;
        async function more() {
          if (loading || done) return;
          loading = true;
          try {
            const response = await fetch('/api/pcmap/list?query=' + encodeURIComponent(query) + '&page=' + (page + 1));
            if (!response.ok) throw new Error('HTTP ' + response.status);
            const data = await response.json();
            page = data.page;
            for (const item of data.items) {
              const li = document.createElement('li');
              li.className = 'place-item';
              li.dataset.placeId = item.id;
              const a = document.createElement('a');
              a.className = 'place-link';
              a.href = item.href;
              a.target = 'entryIframe';
              a.textContent = item.name;
              const category = document.createElement('span');
              category.className = 'place-category';
              category.textContent = item.category;
              const address = document.createElement('div');
              address.className = 'place-address';
              address.textContent = item.address;
              li.append(a, category, address);
              list.append(li);
            }
            if (data.total === 0) {
              done = true;
              status.className = 'no-results';
              status.textContent = '검색결과가 없습니다';
            } else if (!data.hasMore) {
              done = true;
              status.className = 'list-end';
              status.textContent = '마지막 검색결과입니다';
            }
          } catch (e) {
            status.textContent = '잠시 후 다시 시도해주세요';
          } finally {
            loading = false;
          }
          // A short first page must not leave the user unable to scroll for more.
          if (!done && scroller.scrollHeight <= scroller.clientHeight) more();
        }
        scroller.addEventListener('scroll', () => {
          if (scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 40) more();
        });
        more();
        </script>
        </body></html>
        """;

    public static string PlaceHome(PlaceSpec place, string prefix) => PlacePage(place, prefix, "home", $"""
        <section class="place-home">
          <div class="place-hours">영업 중 · 22:00에 영업 종료</div>
          <div class="place-phone">02-{(3000 + (place.Rank * 37 % 6000)).ToString(CultureInfo.InvariantCulture)}-{(1000 + (place.Rank * 53 % 9000)).ToString(CultureInfo.InvariantCulture)}</div>
        </section>
        """);

    public static string PlaceReviews(PlaceSpec place, string prefix) => PlacePage(place, prefix, "review", """
        <section class="place-reviews">
          <div class="visitor-review">커피가 맛있고 분위기가 좋아요.</div>
          <div class="visitor-review">창가 자리가 예뻐요. 주말엔 웨이팅이 있어요.</div>
        </section>
        """);

    public static string PlacePhotos(PlaceSpec place, string prefix, string filter)
    {
        var chips = new StringBuilder();
        foreach (var (key, label) in new[] { ("all", "전체"), ("interior", "내부"), ("exterior", "외부"), ("menu", "메뉴"), ("food", "음식") })
        {
            chips.Append(CultureInfo.InvariantCulture,
                $"""<a class="photo-chip" role="button" data-filter="{key}" href="{prefix}/place/{place.Id}/photo?filter={key}" aria-pressed="{(key == filter ? "true" : "false")}">{label}</a>""");
        }

        var body = $$"""
            <div class="photo-chips">{{chips}}</div>
            <div class="place-extras">
              <img class="sprite" src="/static/sprite.png" alt="" width="96" height="24">
              <img class="icon" src="/static/icon-camera.svg" alt="사진" width="20" height="20">
              <img class="icon" src="/static/icon-share.svg" alt="공유" width="20" height="20">
              <img class="map-tile" src="/tiles/12/3494/1582.png" alt="지도" width="128" height="128">
            </div>
            <div id="photo-grid"></div>
            <div id="grid-status" class="grid-loading">사진을 불러오는 중…</div>
            <div id="grid-sentinel" style="height:1px"></div>
            <script>
            const placeId = {{Js(place.Id)}};
            const placeholder = {{Js(Placeholder)}};
            const grid = document.getElementById('photo-grid');
            const status = document.getElementById('grid-status');
            const sentinel = document.getElementById('grid-sentinel');
            let filter = {{Js(filter)}}, offset = 0, total = null, loading = false, generation = 0;
            const lazy = new IntersectionObserver(entries => {
              for (const entry of entries) {
                if (!entry.isIntersecting) continue;
                const img = entry.target;
                img.src = img.dataset.src;
                lazy.unobserve(img);
              }
            }, { rootMargin: '100px' });
            function sentinelVisible() {
              return sentinel.getBoundingClientRect().top <= window.innerHeight + 200;
            }
            async function more() {
              if (loading || (total !== null && offset >= total)) return;
              loading = true;
              const mine = generation;
              try {
                const response = await fetch('/api/pcmap/place/' + placeId + '/photos?filter=' + filter + '&offset=' + offset + '&limit=12');
                const data = await response.json();
                if (mine !== generation) return;
                total = data.total;
                for (const item of data.items) {
                  const cell = document.createElement('div');
                  cell.className = 'photo-item';
                  cell.dataset.photoType = item.type;
                  const img = document.createElement('img');
                  img.className = 'photo-thumb';
                  img.src = placeholder;
                  img.dataset.src = item.thumb;
                  img.setAttribute('srcset', item.thumb2x + ' 2x');
                  img.alt = '';
                  img.width = 180;
                  img.height = 180;
                  cell.append(img);
                  grid.append(cell);
                  lazy.observe(img);
                }
                offset += data.items.length;
                if (total === 0) {
                  status.className = 'no-photos';
                  status.textContent = '등록된 사진이 없습니다';
                } else if (offset >= total) {
                  status.className = 'grid-end';
                  status.textContent = '';
                }
              } finally {
                if (mine === generation) loading = false;
              }
              if (mine === generation && offset < total && sentinelVisible()) more();
            }
            new IntersectionObserver(entries => { if (entries.some(e => e.isIntersecting)) more(); }).observe(sentinel);
            window.addEventListener('scroll', () => { if (sentinelVisible()) more(); });
            document.querySelectorAll('.photo-chip').forEach(chip => chip.addEventListener('click', e => {
              e.preventDefault();
              filter = chip.dataset.filter;
              document.querySelectorAll('.photo-chip').forEach(c => c.setAttribute('aria-pressed', c === chip ? 'true' : 'false'));
              history.replaceState(null, '', '?filter=' + filter);
              generation++;
              grid.replaceChildren();
              offset = 0; total = null; loading = false;
              status.className = 'grid-loading';
              status.textContent = '사진을 불러오는 중…';
              more();
            }));
            more();
            </script>
            """;
        return PlacePage(place, prefix, "photo", body, """
            #photo-grid{display:flex;flex-wrap:wrap;gap:4px;padding:4px}
            .photo-item{width:180px;height:180px;background:#f2f2f2}
            .photo-thumb{width:180px;height:180px;object-fit:cover;display:block}
            .photo-chip{display:inline-block;margin:4px;padding:4px 10px;border:1px solid #ddd;border-radius:14px;color:#222}
            .photo-chip[aria-pressed=true]{background:#03c75a;color:#fff}
            .place-extras img{vertical-align:middle;margin:2px}
            """);
    }

    public static string Store(IReadOnlyList<ShopCategorySpec> categories)
    {
        var links = new StringBuilder();
        foreach (var c in categories)
        {
            links.Append(CultureInfo.InvariantCulture, $"""<li><a class="category-link" href="/store/category/{c.Slug}">{Html(c.Name)}</a></li>""");
        }

        return Page("스토어", $"""
            <header class="chrome"><img class="brand-logo" src="/static/logo.png" alt="스토어" width="80" height="24"><h1>스토어</h1></header>
            <nav><ul class="categories">{links}</ul></nav>
            """);
    }

    public static string Category(ShopCategorySpec category, int page)
    {
        var items = new StringBuilder();
        foreach (var p in category.Products.Skip((page - 1) * DemoSiteContent.ProductsPerPage).Take(DemoSiteContent.ProductsPerPage))
        {
            items.Append(CultureInfo.InvariantCulture, $"""

                <article class="product-item" data-product-id="{p.Id}" data-rank="{p.Rank}">
                  <span class="product-rank">{p.Rank}</span>
                  <a class="product-link" href="/productions/{p.Id}/selling">{Html(p.Name)}</a>
                  <span class="product-reviews">리뷰 {p.Reviews.Count}</span>
                </article>
                """);
        }

        var next = page * DemoSiteContent.ProductsPerPage < category.Products.Count
            ? $"""<a class="next-page" href="?order=popular&amp;page={(page + 1).ToString(CultureInfo.InvariantCulture)}">다음</a>"""
            : "";
        return Page($"{category.Name} 인기순", $"""
            <header class="chrome"><a href="/store">스토어</a><h1 class="category-name">{Html(category.Name)}</h1><span class="order">인기순</span></header>
            <section class="product-list">{items}</section>
            <nav class="pagination">{next}</nav>
            """);
    }

    public static string Product(ProductSpec product, int page)
    {
        var reviews = new StringBuilder();
        foreach (var r in product.Reviews.Skip((page - 1) * DemoSiteContent.ReviewsPerPage).Take(DemoSiteContent.ReviewsPerPage))
        {
            var photos = string.Concat(r.Photos.Select(p =>
                $"""<img class="review-photo" src="/cdn/uploads/{p.Id}.jpg?w=360&amp;h=360&amp;c=c" alt="" width="180" height="180">"""));
            reviews.Append(CultureInfo.InvariantCulture, $"""

                <div class="review-item" data-review-id="{r.Id}">
                  <span class="review-rating">{r.Rating}</span>
                  <p class="review-text">{Html(r.Text)}</p>
                  {photos}
                </div>
                """);
        }

        var next = page * DemoSiteContent.ReviewsPerPage < product.Reviews.Count
            ? $"""<a class="review-next" href="/productions/{product.Id}/selling?review_page={(page + 1).ToString(CultureInfo.InvariantCulture)}">다음 리뷰</a>"""
            : "";
        return Page(product.Name, $"""
            <header class="chrome"><a href="/store/category/{product.CategorySlug}">{Html(DemoSiteContent.ShopCategoryName(product.CategorySlug))}</a></header>
            <h1 class="product-name">{Html(product.Name)}</h1>
            <section id="reviews"><h2>리뷰 {product.Reviews.Count}</h2>{reviews}
            <nav class="review-pagination">{next}</nav></section>
            """);
    }

    public static string Robots() => """
        User-agent: *
        Disallow: /private/

        """;

    public static string Svg(string name) => $"""
        <svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 20 20"><title>{Html(name)}</title><circle cx="10" cy="10" r="8" fill="#03c75a"/></svg>
        """;

    private static string PlacePage(PlaceSpec place, string prefix, string tab, string body, string style = "")
    {
        string Tab(string key, string label) =>
            $"""<a role="tab" class="tab" href="{prefix}/place/{place.Id}/{key}" aria-selected="{(key == tab ? "true" : "false")}">{label}</a>""";

        return Page(place.Name, $"""
            <header class="place-header">
              <h1 class="place-name">{Html(place.Name)}</h1>
              <span class="place-category">{Html(place.Category)}</span>
              <span class="place-address">{Html(place.Address)}</span>
              <div id="place-meta" data-place-id="{place.Id}" data-lat="{place.Lat.ToString(CultureInfo.InvariantCulture)}" data-lng="{place.Lng.ToString(CultureInfo.InvariantCulture)}"></div>
            </header>
            <nav class="place-tabs" role="tablist">{Tab("home", "홈")}{Tab("photo", "사진")}{Tab("review", "리뷰")}</nav>
            {body}
            """, style + ".place-header{padding:12px}.tab{display:inline-block;padding:8px 14px}.tab[aria-selected=true]{border-bottom:2px solid #03c75a}");
    }

    private static string Page(string title, string body, string style = "") => $"""
        <!doctype html>
        <html lang="ko"><head><meta charset="utf-8"><title>{Html(title)}</title>
        <style>{BaseStyle}{style}</style></head>
        <body>
        {body}
        </body></html>
        """;

    private static string Html(string text) => WebUtility.HtmlEncode(text);

    private static string Js(string? value) => JsonSerializer.Serialize(value);
}
