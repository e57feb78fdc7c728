using System.Text.Json;
using Microsoft.Playwright;

namespace Wildberries.Host.Tests;

/// <summary>
/// A person's view: headless Chromium (Debian's package, no browser download) opens the sandbox payment page,
/// clicks Pay, and the order becomes PAID.
/// </summary>
public class BrowserTests
{
    /// <summary>Where Debian installs Chromium; .ci/run installs it.</summary>
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task Clicking_Pay_on_the_sandbox_page_makes_the_order_PAID()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium package (.ci/run does).");
        await using var server = await TestServer.StartAsync();
        await server.SeedAsync(5, 1_234_00, (1, 3));
        var created = JsonDocument.Parse(await (await server.CheckoutAsync("browser", new { customerId = "alice", lines = new[] { new { sku = 5, qty = 1 } } })).Content.ReadAsStringAsync()).RootElement;
        var paymentUrl = created.GetProperty("paymentUrl").GetString()!;

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // As root in a sandboxless container, and without the background traffic this closed network refuses.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(paymentUrl);
        Assert.Equal("1,234.00 RUB", await page.InnerTextAsync("#amount"));
        Assert.Equal("PENDING_PAYMENT", await page.InnerTextAsync("#status"));

        await page.ClickAsync("#pay");
        await page.WaitForSelectorAsync("#result");
        Assert.Equal("PAID", await page.InnerTextAsync("#status"));
        Assert.Equal("ok", await page.InnerTextAsync("#result"));
    }
}
