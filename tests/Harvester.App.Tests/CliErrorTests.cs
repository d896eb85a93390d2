using Harvester.Testing;

namespace Harvester.App.Tests;

/// <summary>Bad input to the real executable: one line naming what is wrong, a non-zero exit, no stack trace.</summary>
public sealed class CliErrorTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private readonly string _home = Directory.CreateTempSubdirectory("harvester-cli-").FullName;

    public static TheoryData<string, string[], string, string> Cases => new()
    {
        { "malformed --config", ["db", "status", "--config", "{bad}"], "", "is not valid JSON" },
        { "bad TimeSpan value", ["db", "status"], "Harvester__Crawler__RequestTimeout=abc", "Crawler:RequestTimeout" },
        { "negative --batch", ["curate", "--batch", "-5"], "", "--batch must be at least 1" },
        { "zero --k", ["similar", "--image-id", "1", "--k", "0"], "", "--k must be at least 1" },
        { "missing --config file", ["db", "status", "--config", "{missing}"], "", "does not exist" },
        { "unknown worker stage", ["worker"], "Harvester__Worker__Stages__0=bogus", "Worker:Stages" },
        {
            "schedule naming an unknown site", ["worker"],
            "Harvester__Crawler__Schedules__0__Name=nightly;Harvester__Crawler__Schedules__0__Cron=0 3 * * *;Harvester__Crawler__Schedules__0__Job__Site=nowhere;Harvester__Crawler__Schedules__0__Job__Queries__0=망원동 카페",
            "Crawler:Schedules:0:Job:Site 'nowhere' is not a site under Crawler:Sites"
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_user_error_is_one_line_naming_the_cause_with_a_non_zero_exit(string what, string[] args, string env, string expected)
    {
        var bad = Path.Combine(_home, "bad.json");
        await File.WriteAllTextAsync(bad, "{ \"Crawler\": { bad json");
        args = [.. args.Select(a => a.Replace("{bad}", bad, StringComparison.Ordinal).Replace("{missing}", Path.Combine(_home, "nope.json"), StringComparison.Ordinal))];
        var environment = env.Length == 0 ? null : env.Split(';').ToDictionary(v => v.Split('=')[0], v => v.Split('=')[1]);

        await using var p = await HarvesterProcess.RunAsync(_home, environment, Timeout, args);

        var errors = p.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.Contains(" info: ", StringComparison.Ordinal)).ToList();
        Assert.True(p.ExitCode != 0, $"{what}: exit code 0");
        var line = Assert.Single(errors);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain(" at Harvester", p.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", p.StandardError, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_home, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
