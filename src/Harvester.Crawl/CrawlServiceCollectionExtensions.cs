using Harvester.Core;
using Harvester.Core.Stages;
using Harvester.Data.Stages;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace Harvester.Crawl;

public static class CrawlServiceCollectionExtensions
{
    public static IServiceCollection AddHarvesterCrawl(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CrawlerOptions>().BindSection(CrawlerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<CrawlerOptions>>(new CrawlerOptionsValidator(configuration));
        services.AddSingleton<BrowserHost>();
        services.AddSingleton<HostThrottle>();
        services.AddSingleton<FrontierStore>();
        services.AddSingleton<CrawlStore>();
        services.AddSingleton<CrawlJobStore>();
        services.AddSingleton<SiteNavigator>();
        services.AddSingleton<MapFlow>();
        services.AddSingleton<ShopFlow>();
        services.AddSingleton<PhotoDownloader>();
        services.AddSingleton<CrawlService>();
        services.AddSingleton<CrawlScheduler>();
        services.AddSingleton<CrawlCheck>();
        services.AddHttpClient(PhotoDownloader.ClientName, (sp, client) =>
            {
                var o = sp.GetRequiredService<IOptions<CrawlerOptions>>().Value;
                client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", o.UserAgent);
                client.Timeout = Timeout.InfiniteTimeSpan; // the resilience pipeline times each attempt
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = true,
                MaxAutomaticRedirections = 5,
                AutomaticDecompression = System.Net.DecompressionMethods.All,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                MaxConnectionsPerServer = 64,
            })
            .AddResilienceHandler("crawler", (builder, context) =>
            {
                var o = context.ServiceProvider.GetRequiredService<IOptions<CrawlerOptions>>().Value;
                builder.AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = Math.Max(1, o.HttpRetries),
                    ShouldHandle = o.HttpRetries == 0 ? _ => PredicateResult.False() : new HttpRetryStrategyOptions().ShouldHandle,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = o.RetryBaseDelay,
                    ShouldRetryAfterHeader = true,
                    MaxDelay = TimeSpan.FromSeconds(30),
                });
                builder.AddTimeout(o.RequestTimeout);
            });
        services.TryAddSingleton(TimeProvider.System);
        services.AddStage<CrawlStage>(CrawlStage.Stage);

        return services;
    }
}
