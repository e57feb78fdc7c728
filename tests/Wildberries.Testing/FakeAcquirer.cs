using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Wildberries.Testing;

/// <summary>
/// A fake payment provider (acquirer) for <c>--payment-provider-url</c>: a real Kestrel app on a loopback port of its
/// own, answering <c>POST /api/sessions</c> with what <c>sessions</c> returns for the request and its body.
/// </summary>
public static class FakeAcquirer
{
    /// <summary>Starts it; <c>Url</c> is the value for <c>--payment-provider-url</c>.</summary>
    public static async Task<(WebApplication App, string Url)> StartAsync(Func<HttpContext, byte[], Task<IResult>> sessions)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var acquirer = builder.Build();
        acquirer.MapPost("/api/sessions", async (HttpContext http) =>
        {
            using var buffer = new MemoryStream();
            await http.Request.Body.CopyToAsync(buffer);
            return await sessions(http, buffer.ToArray());
        });
        await acquirer.StartAsync();
        return (acquirer, acquirer.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/api/");
    }
}
