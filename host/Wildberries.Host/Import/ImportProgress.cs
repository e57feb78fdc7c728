using System.Diagnostics;
using System.Globalization;

namespace Wildberries.Host.Import;

/// <summary>
/// Progress on stderr: a bar redrawn in place when stderr is a terminal (rate, percentage, ETA), plain periodic
/// lines otherwise (a log or a CI job must not fill with carriage returns).
/// </summary>
internal sealed class ImportProgress(TextWriter err, bool bar)
{
    /// <summary>A redraw five times a second: smooth to the eye, negligible next to the work.</summary>
    private static readonly TimeSpan BarInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>A line every 5 seconds: a long import shows it is moving without flooding a log.</summary>
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(5);

    private const int BarWidth = 30;

    private readonly Stopwatch _phase = new();
    private TimeSpan _next;
    private bool _drawn;
    private string _name = "";

    /// <summary>Starts a phase (such as "validating" or "importing"), timed from now.</summary>
    public void Start(string name)
    {
        Finish();
        _name = name;
        _phase.Restart();
        _next = bar ? BarInterval : LineInterval;
    }

    /// <summary>Reports <paramref name="done"/> of <paramref name="total"/> (in percent terms) and <paramref name="rows"/> rows so far; cheap when nothing is due.</summary>
    public void Report(long done, long total, long rows)
    {
        var elapsed = _phase.Elapsed;
        if (elapsed < _next) return;
        _next = elapsed + (bar ? BarInterval : LineInterval);
        var fraction = total <= 0 ? 0 : Math.Clamp((double)done / total, 0, 1);
        var rate = rows / Math.Max(elapsed.TotalSeconds, 1e-3);
        var eta = fraction > 0 ? TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - fraction) / fraction) : TimeSpan.Zero;
        var text = string.Create(CultureInfo.InvariantCulture, $"{_name}: {fraction * 100,5:F1}%  {rows:N0} rows  {rate:N0} rows/s  ETA {eta:h\\:mm\\:ss}");
        if (bar)
        {
            var filled = (int)(fraction * BarWidth);
            err.Write($"\r[{new string('#', filled)}{new string('.', BarWidth - filled)}] {text}   ");
            _drawn = true;
        }
        else
        {
            err.WriteLine(text);
        }
        err.Flush();
    }

    /// <summary>Ends the bar's line, so the next output starts on a line of its own.</summary>
    public void Finish()
    {
        if (!_drawn) return;
        err.WriteLine();
        _drawn = false;
    }
}
