using System.Diagnostics;
using Harvester.Core;
using Harvester.Crawl;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Harvester.App.Tests;

/// <summary>What a new user meets first: where setup puts things, and how configuration files layer.</summary>
public sealed class FreshMachineTests
{
    [Fact]
    public void A_list_in_a_config_file_replaces_the_appsettings_list_instead_of_merging_by_position()
    {
        var dir = Directory.CreateTempSubdirectory("harvester-config-").FullName;
        try
        {
            var file = Path.Combine(dir, "site.json");
            File.WriteAllText(file, """
                { "Crawler": { "Sites": { "demo-map": {
                    "PhotoUrlAttributes": ["data-bg", "style"],
                    "SkipUrlPatterns": ["^data:"] } } } }
                """);
            using var host = HarvesterHost.CreateBuilder(file).Build();
            var site = host.Services.GetRequiredService<IOptions<CrawlerOptions>>().Value.Sites["demo-map"];

            Assert.Equal(["data-bg", "style"], site.PhotoUrlAttributes);
            Assert.Equal(["^data:"], site.SkipUrlPatterns);
            Assert.Equal(["type", "w", "h"], site.ThumbnailParameters); // untouched keys keep appsettings.json's values
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Setup_puts_the_detector_models_under_HARVESTER_HOME_where_the_app_looks_for_them()
    {
        var repo = RepositoryRoot();
        var home = Directory.CreateTempSubdirectory("harvester-home-").FullName;
        try
        {
            var start = new ProcessStartInfo(Path.Combine(repo, "scripts", "setup.sh")) { RedirectStandardError = true, RedirectStandardOutput = true };
            start.Environment["HARVESTER_HOME"] = home;
            start.Environment.Remove("HARVESTER_MODELS_DIR");
            using var setup = Process.Start(start)!;
            var stderr = setup.StandardError.ReadToEndAsync();
            await setup.StandardOutput.ReadToEndAsync();
            await setup.WaitForExitAsync();
            Assert.True(setup.ExitCode == 0, await stderr);

            var modelsRoot = new StorageOptions { Root = home }.ResolveModelsRoot();
            var expected = File.ReadAllLines(Path.Combine(repo, "scripts", "models.lock"))
                .Where(l => l.Length > 0 && !l.StartsWith('#'))
                .Select(l => l.Split(' ')[^1])
                .ToList();
            Assert.NotEmpty(expected);
            Assert.All(expected, name => Assert.True(File.Exists(Path.Combine(modelsRoot, name)), $"{name} is not in {modelsRoot}"));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    private static string RepositoryRoot() => Harvester.Testing.RepoRoot.Path;
}
