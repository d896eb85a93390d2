namespace Harvester.Core;

/// <summary>
/// A failure the user can act on: the message names the cause and the fix. The CLI prints it without a stack trace.
/// </summary>
public sealed class HarvesterException : Exception
{
    public HarvesterException(string message) : base(message) { }

    public HarvesterException(string message, Exception inner) : base(message, inner) { }

    public HarvesterException() { }
}
