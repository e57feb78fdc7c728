using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Wildberries.Host.Http;

namespace Wildberries.Bench.Http;

/// <summary>
/// Parsing a checkout body: the host's strict options (unknown fields refused with their path) against the
/// serializer's defaults, which would silently accept a client-sent price. Strictness must cost little.
/// </summary>
public class JsonParsingBenchmarks
{
    private static readonly JsonSerializerOptions Defaults = new(JsonSerializerDefaults.Web);
    private readonly byte[] _body = Encoding.UTF8.GetBytes("{\"customerId\":\"customer-1234567\",\"lines\":[{\"sku\":42,\"qty\":1},{\"sku\":4242,\"qty\":2},{\"sku\":424242,\"qty\":1}],\"warehouses\":[3,1,2],\"paymentMethod\":\"card\"}");

    [Benchmark(Baseline = true, Description = "strict: unknown fields refused, numbers only as numbers")]
    public int Strict() => Json.Parse<CheckoutBody>(_body).Value!.Lines.Length;

    [Benchmark(Description = "web defaults: unknown fields ignored")]
    public int Lenient() => JsonSerializer.Deserialize<CheckoutBody>(_body, Defaults)!.Lines.Length;
}
