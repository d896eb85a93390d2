using System.Text.Json;
using Harvester.Core;
using Harvester.Data.Stages;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Harvester.App;

/// <summary>What a command's failure says to the user, and its exit code.</summary>
internal static class CliErrors
{
    public const int UserError = 2;
    public const int DatabaseUnavailable = 3;
    public const int Unexpected = 1;
    public const int Cancelled = 130;

    public static (string Message, int ExitCode) Describe(Exception e)
    {
        switch (e)
        {
            case HarvesterException h:
                return (h.Message, UserError);
            case OptionsValidationException o:
                return ("invalid configuration: " + string.Join("; ", o.Failures), UserError);
            case OperationCanceledException:
                return ("cancelled", Cancelled);
            case InvalidOperationException when e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal):
                // The binder names the value, the key and the type: "… 'abc' at 'Crawler:RequestTimeout' to type 'System.TimeSpan'."
                return ("invalid configuration: " + FirstLine(e.Message), UserError);
            case InvalidDataException or FormatException or JsonException when IsConfigurationFile(e):
                return ("invalid configuration file: " + FirstLine(e.Message), UserError);
            case PostgresException pg when !TransientDatabaseErrors.Is(pg):
                return ($"PostgreSQL {pg.SqlState}: {pg.MessageText}", UserError);
        }

        if (TransientDatabaseErrors.Is(e) || e is NpgsqlException)
        {
            return ("database unavailable: " + TransientDatabaseErrors.Describe(e), DatabaseUnavailable);
        }

        return e switch
        {
            UnauthorizedAccessException or DirectoryNotFoundException or PathTooLongException or FileNotFoundException => (FirstLine(e.Message), UserError),
            IOException io when io.GetType() == typeof(IOException) => (FirstLine(e.Message), UserError),
            _ => ($"unexpected {e.GetType().Name}: {FirstLine(e.Message)} (run again with --verbose for details)", Unexpected),
        };
    }

    private static bool IsConfigurationFile(Exception e) =>
        e.Message.Contains("JSON", StringComparison.OrdinalIgnoreCase) || e.StackTrace?.Contains("Microsoft.Extensions.Configuration", StringComparison.Ordinal) == true;

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();
}
