using System.Globalization;
using System.Text;

namespace Wildberries.PeakSale;

/// <summary>The results as a markdown table with ratios to the engine, and as an SVG bar chart.</summary>
public static class Report
{
    public static string Markdown(IReadOnlyList<SaleResult> results, FlashSaleOptions sale, string command)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(sale);
        var engine = results[0];
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"# Peak-sale benchmark, {DateTime.UtcNow:yyyy-MM-dd}");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Command: `{command}`. Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; every system on this machine, loopback only, one run.");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Sale: {sale.Visits:N0} customers, {sale.Concurrency} at a time; {sale.Skus:N0} SKUs over {sale.Warehouses} warehouses; a hot set of {sale.HotSkus} SKUs (Zipf) with {sale.HotStockPerWarehouse} units per warehouse that sells out; carts of 1 to 5 lines; {sale.NeverPay:P0} never pay, {sale.PaymentFails:P0} fail, the rest pay; seed {sale.Seed}.");
        s.AppendLine();
        s.AppendLine("| system | checkouts/s | p50 ms | p99 ms | orders | sold out | oversold rows | books balance | engine is |");
        s.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            var balanced = r.ReservedMismatches == 0 && r.CommittedMismatches == 0 && r.LostOrders == 0 ? "yes" : $"NO ({r.ReservedMismatches}/{r.CommittedMismatches}/{r.LostOrders})";
            var ratio = ReferenceEquals(r, engine) ? "-" : $"{engine.CheckoutsPerSecond / r.CheckoutsPerSecond:F1}x faster";
            s.AppendLine(CultureInfo.InvariantCulture, $"| {r.System} | {r.CheckoutsPerSecond:N0} | {r.P50Ms:F2} | {r.P99Ms:F2} | {r.Orders:N0} | {r.ShortCheckouts:N0} | {r.Oversold} | {balanced} | {ratio} |");
        }
        s.AppendLine();
        s.AppendLine("A checkout is measured from request to durable answer; every paying customer's payment is applied in the same run. \"Books balance\": reserved and committed equal the pending and paid orders on every row, and every acknowledged order is there.");
        return s.ToString();
    }

    public static string Svg(IReadOnlyList<SaleResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        const int Width = 900, Row = 34, Left = 330, Top = 40;
        var max = results.Max(r => r.CheckoutsPerSecond);
        var height = Top + (results.Count * Row) + 30;
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"13\">");
        s.AppendLine("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        s.AppendLine("<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Durable checkouts per second in one flash sale (log scale)</text>");
        var logMax = Math.Log10(max);
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            var y = Top + (i * Row);
            var w = Math.Max(2, (Width - Left - 120) * Math.Log10(Math.Max(10, r.CheckoutsPerSecond)) / logMax);
            s.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left - 8}\" y=\"{y + 18}\" text-anchor=\"end\">{System.Net.WebUtility.HtmlEncode(r.System)}</text>");
            s.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{y + 4}\" width=\"{w:F0}\" height=\"{Row - 10}\" fill=\"{(i == 0 ? "#7b2cbf" : "#9aa5b1")}\"/>");
            s.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left + w + 6:F0}\" y=\"{y + 18}\">{r.CheckoutsPerSecond:N0}/s</text>");
        }
        s.AppendLine("</svg>");
        return s.ToString();
    }
}
