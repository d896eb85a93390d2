namespace Harvester.Migrations;

/// <summary>SQL files under Sql/, compiled into this assembly: migrations whose body is easier to read as SQL than as C#.</summary>
internal static class SqlResource
{
    public static string Read(string migrationId)
    {
        var name = $"Harvester.Migrations.Sql.{migrationId}.sql";
        using var stream = typeof(SqlResource).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The embedded SQL {name} is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
