using System.ComponentModel.DataAnnotations;

namespace Harvester.Core;

/// <summary>Where Harvester keeps its state: the embedded database, blobs, models and outputs.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>State directory. Empty: $HARVESTER_HOME, else ~/.local/share/harvester.</summary>
    public string Root { get; set; } = "";

    /// <summary>Content-addressed image store. Empty: &lt;Root&gt;/blobs.</summary>
    public string BlobRoot { get; set; } = "";

    /// <summary>Galleries, contact sheets, exports. Empty: &lt;Root&gt;/out.</summary>
    public string OutputRoot { get; set; } = "";

    /// <summary>ONNX models. Empty: &lt;Root&gt;/models.</summary>
    public string ModelsRoot { get; set; } = "";

    public string ResolveRoot()
    {
        if (!string.IsNullOrWhiteSpace(Root))
        {
            return Path.GetFullPath(Root);
        }

        var home = Environment.GetEnvironmentVariable("HARVESTER_HOME");
        if (!string.IsNullOrWhiteSpace(home))
        {
            return Path.GetFullPath(home);
        }

        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "harvester");
    }

    public string ResolveBlobRoot() => Resolve(BlobRoot, "blobs");

    public string ResolveOutputRoot() => Resolve(OutputRoot, "out");

    public string ResolveModelsRoot() => Resolve(ModelsRoot, "models");

    private string Resolve(string configured, string child) =>
        string.IsNullOrWhiteSpace(configured) ? Path.Combine(ResolveRoot(), child) : Path.GetFullPath(configured);
}

/// <summary>The embedded PostgreSQL cluster, used when no ConnectionStrings:Harvester is configured.</summary>
public sealed class PostgreSqlOptions
{
    public const string Section = "PostgreSQL";

    /// <summary>Directory holding initdb, pg_ctl and postgres. Empty: pg_config --bindir, then /usr/lib/postgresql/*/bin.</summary>
    public string BinDir { get; set; } = "";

    /// <summary>Cluster data directory. Empty: &lt;Storage:Root&gt;/postgres/data.</summary>
    public string DataDir { get; set; } = "";

    [Required]
    [RegularExpression("^[a-z_][a-z0-9_]{0,62}$", ErrorMessage = "PostgreSQL:Database must be a lower-case SQL identifier.")]
    public string Database { get; set; } = "harvester";

    /// <summary>Port the cluster uses (names its Unix socket; TCP only when ListenAddress is set). 0: pick a free one once and keep it.</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>Empty: Unix socket only. "127.0.0.1": also accept TCP on loopback.</summary>
    public string ListenAddress { get; set; } = "";

    /// <summary>PostgreSQL refuses to run as root; when Harvester runs as root the cluster runs as this user.</summary>
    [Required]
    public string SystemUser { get; set; } = "postgres";

    [Range(typeof(TimeSpan), "00:00:05", "00:10:00")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Off only for throwaway clusters (tests): trades crash safety for speed.</summary>
    public bool Fsync { get; set; } = true;

    /// <summary>Stop the embedded cluster when the last Harvester process using it exits.</summary>
    public bool StopOnExit { get; set; } = true;
}
