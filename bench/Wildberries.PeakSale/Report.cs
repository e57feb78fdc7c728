using System.Globalization;
using System.Text;

namespace Wildberries.PeakSale;

/// <summary>One system at one concurrency: its runs, summarised by the median and the spread.</summary>
public sealed record SweepPoint(int Concurrency, IReadOnlyList<SaleResult> Runs)
{
    public string System => Runs[0].System;

    public double Throughput => Median(Runs.Select(r => r.CheckoutsPerSecond));

    public double Min => Runs.Min(r => r.CheckoutsPerSecond);

    public double Max => Runs.Max(r => r.CheckoutsPerSecond);

    public double P50Ms => Median(Runs.Select(r => r.P50Ms));

    public double P99Ms => Median(Runs.Select(r => r.P99Ms));

    public bool Balanced => Runs.All(r => r.Oversold == 0 && r.ReservedMismatches == 0 && r.CommittedMismatches == 0 && r.LostOrders == 0);

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

/// <summary>The sweep as markdown tables with ratios to the engine, and SVG line charts against concurrency.</summary>
public static class Report
{
    private static readonly string[] Colours = ["#7b2cbf", "#e76f51", "#2a9d8f", "#8ab17d", "#264653", "#e9c46a", "#9aa5b1", "#f4a261"];

    public static string Markdown(IReadOnlyList<SweepPoint> points, FlashSaleOptions sale, int warmUpVisits, int runs, string command)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(sale);
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"# Peak-sale benchmark, {DateTime.UtcNow:yyyy-MM-dd}");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Command: `{command}`. Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; every system and the load generator on this machine, loopback only.");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Sale: {sale.Visits:N0} customers; {sale.Skus:N0} SKUs over {sale.Warehouses} warehouses; a hot set of {sale.HotSkus} SKUs (Zipf) with {sale.HotStockPerWarehouse} units per warehouse that sells out; carts of 1 to 5 lines; {sale.NeverPay:P0} never pay, {sale.PaymentFails:P0} fail, the rest pay; seed {sale.Seed}. Each point: a fresh system, {warmUpVisits:N0} unmeasured warm-up visits, then the measured sale; {runs} run(s) per point, median shown with the spread (min-max).");
        s.AppendLine();
        s.AppendLine("| customers | system | checkouts/s (median) | spread | p50 ms | p99 ms | orders | sold out | books balance | engine is |");
        s.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var p in points)
        {
            var engine = points.First(e => e.Concurrency == p.Concurrency);
            var r = p.Runs[0];
            var ratio = ReferenceEquals(p, engine) ? "-" : $"{engine.Throughput / p.Throughput:F1}x faster";
            s.AppendLine(CultureInfo.InvariantCulture,
                $"| {p.Concurrency:N0} | {p.System} | {p.Throughput:N0} | {p.Min:N0}-{p.Max:N0} | {p.P50Ms:F2} | {p.P99Ms:F2} | {r.Orders:N0} | {r.ShortCheckouts:N0} | {(p.Balanced ? "yes" : "NO")} | {ratio} |");
        }
        s.AppendLine();
        s.AppendLine("A checkout is measured from request to durable answer; every paying customer's payment is applied in the same run. \"Books balance\": in every run nothing is oversold, reserved and committed equal the pending and paid orders on every row, and every acknowledged order is there.");
        return s.ToString();
    }

    /// <summary>A log-log line chart: one line per system, <paramref name="value"/> against concurrency.</summary>
    public static string Svg(IReadOnlyList<SweepPoint> points, Func<SweepPoint, double> value, string title, string unit)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(value);
        const int Width = 1010, Height = 460, Left = 80, Right = 360, Top = 40, Bottom = 50;
        var levels = points.Select(p => p.Concurrency).Distinct().Order().ToArray();
        var systems = points.Select(p => p.System).Distinct().ToArray();
        var values = points.Select(value).Where(v => v > 0).ToArray();
        var lo = Math.Floor(Math.Log10(values.Min()));
        var hi = Math.Ceiling(Math.Log10(values.Max()));
        if (hi <= lo) hi = lo + 1;
        double X(int c) => levels.Length == 1 ? Left + ((Width - Left - Right) / 2.0) : Left + ((Width - Left - Right) * Math.Log(c / (double)levels[0]) / Math.Log(levels[^1] / (double)levels[0]));
        double Y(double v) => Height - Bottom - ((Height - Top - Bottom) * (Math.Log10(Math.Max(v, Math.Pow(10, lo))) - lo) / (hi - lo));

        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        s.AppendLine("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        s.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{System.Net.WebUtility.HtmlEncode(title)}</text>");
        for (var d = lo; d <= hi; d++)
        {
            var y = Y(Math.Pow(10, d));
            s.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{y:F1}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>");
            s.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{Math.Pow(10, d):N0}</text>");
        }
        foreach (var c in levels)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{X(c):F1}\" y=\"{Height - Bottom + 18}\" text-anchor=\"middle\">{c:N0}</text>");
        }
        s.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 10}\" text-anchor=\"middle\">customers at a time</text>");
        for (var i = 0; i < systems.Length; i++)
        {
            var colour = Colours[i % Colours.Length];
            var line = points.Where(p => p.System == systems[i]).OrderBy(p => p.Concurrency).ToArray();
            var path = string.Join(' ', line.Select(p => string.Create(CultureInfo.InvariantCulture, $"{X(p.Concurrency):F1},{Y(value(p)):F1}")));
            s.AppendLine(CultureInfo.InvariantCulture, $"<polyline points=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>");
            foreach (var p in line)
            {
                s.AppendLine(CultureInfo.InvariantCulture, $"<circle cx=\"{X(p.Concurrency):F1}\" cy=\"{Y(value(p)):F1}\" r=\"3\" fill=\"{colour}\"><title>{System.Net.WebUtility.HtmlEncode(p.System)} at {p.Concurrency}: {value(p):N1}{unit}</title></circle>");
            }
            var ly = Top + 10 + (i * 20);
            s.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{Width - Right + 15}\" y=\"{ly - 9}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>");
            s.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right + 32}\" y=\"{ly + 1}\">{System.Net.WebUtility.HtmlEncode(systems[i])}</text>");
        }
        s.AppendLine("</svg>");
        return s.ToString();
    }
}
