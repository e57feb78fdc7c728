using System.Text.Json;

namespace Wildberries.Host.Tests;

public class OpenApiTests
{
    [Fact]
    public async Task The_OpenAPI_document_describes_the_API()
    {
        await using var server = await TestServer.StartAsync();
        var document = JsonDocument.Parse(await server.Anonymous.GetStringAsync("/openapi/v1.json")).RootElement;
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        foreach (var path in new[] { "/v1/checkout", "/v1/orders/{orderId}", "/v1/payments/callback", "/v1/admin/stock", "/v1/catalog/availability" })
        {
            Assert.Contains(path, paths);
        }
        var checkout = document.GetProperty("paths").GetProperty("/v1/checkout").GetProperty("post");
        Assert.True(checkout.GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(checkout.GetProperty("responses").TryGetProperty("409", out _));
    }
}
