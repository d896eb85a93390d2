using Harvester.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Harvester.Data.Tests;

public sealed class StartupErrorTests
{
    [Fact]
    public async Task Invalid_configuration_fails_at_start_naming_the_key()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["PostgreSQL:Port"] = "70000", ["PostgreSQL:Database"] = "Not A Name" });
        builder.Services.AddHarvesterData(builder.Configuration);
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        var message = string.Join(" ", e.Failures);
        Assert.Contains("Port", message);
        Assert.Contains("PostgreSQL:Database", message);
    }

    [Fact]
    public async Task An_unreachable_configured_server_is_one_clear_error()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // nothing listens there now
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Harvester"] = $"Host=127.0.0.1;Port={port};Database=harvester;Username=x;Timeout=3",
        }).Build();
        await using var db = new HarvesterDatabase(configuration, Options.Create(new PostgreSqlOptions()), Options.Create(new StorageOptions()), NullLoggerFactory.Instance);
        var e = await Assert.ThrowsAsync<HarvesterException>(() => db.StartAsync(migrate: true, CancellationToken.None));
        Assert.Contains($"Cannot reach PostgreSQL at 127.0.0.1:{port}", e.Message);
        Assert.Contains("ConnectionStrings:Harvester", e.Message);
        Assert.Null(db.Cluster); // a configured server never starts an embedded one
    }
}
