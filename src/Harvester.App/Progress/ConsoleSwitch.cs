using System.Collections.Concurrent;
using System.Text;

namespace Harvester.App.Progress;

/// <summary>
/// Console.Out and Console.Error behind a switch, installed before any host is built: the console logger keeps the
/// writer it finds at construction, so only a writer installed first can send its lines above a live progress bar
/// instead of through it. Normally it passes everything straight on.
/// </summary>
internal static class ConsoleSwitch
{
    private static SwitchWriter? _out;
    private static SwitchWriter? _error;

    /// <summary>The real stderr, for the bar itself.</summary>
    public static TextWriter RealError { get; private set; } = Console.Error;

    public static void Install()
    {
        if (_out is not null)
        {
            return;
        }

        RealError = Console.Error;
        _out = new SwitchWriter(Console.Out);
        _error = new SwitchWriter(Console.Error);
        Console.SetOut(_out);
        Console.SetError(_error);
    }

    /// <summary>From now until <see cref="Restore"/>, whole lines written to the console are queued instead.</summary>
    public static void Divert(ConcurrentQueue<string> queue)
    {
        _out?.Divert(queue);
        _error?.Divert(queue);
    }

    public static void Restore()
    {
        _out?.Divert(null);
        _error?.Divert(null);
    }

    private sealed class SwitchWriter(TextWriter inner) : TextWriter
    {
        private readonly StringBuilder _line = new();
        private ConcurrentQueue<string>? _queue;

        public override Encoding Encoding => inner.Encoding;

        public void Divert(ConcurrentQueue<string>? queue)
        {
            lock (_line)
            {
                if (queue is null && _line.Length > 0)
                {
                    _queue?.Enqueue(_line.ToString());
                    _line.Clear();
                }

                _queue = queue;
            }
        }

        public override void Write(char value)
        {
            lock (_line)
            {
                if (_queue is null)
                {
                    inner.Write(value);
                    return;
                }

                _line.Append(value);
                if (value == '\n')
                {
                    _queue.Enqueue(_line.ToString());
                    _line.Clear();
                }
            }
        }

        public override void Write(string? value)
        {
            lock (_line)
            {
                if (_queue is null)
                {
                    inner.Write(value);
                    return;
                }

                foreach (var c in value ?? "")
                {
                    Write(c);
                }
            }
        }

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

        public override void WriteLine(string? value) => Write((value ?? "") + NewLine);

        public override void Flush()
        {
            lock (_line)
            {
                if (_queue is null)
                {
                    inner.Flush();
                }
            }
        }

        public override Task FlushAsync() => Task.Run(Flush);

        public override Task WriteAsync(string? value) => Task.Run(() => Write(value));

        public override Task WriteAsync(char value) => Task.Run(() => Write(value));

        public override Task WriteLineAsync(string? value) => Task.Run(() => WriteLine(value));
    }
}
