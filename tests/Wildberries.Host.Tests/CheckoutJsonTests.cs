using System.Text;
using System.Text.Json;
using Wildberries.Host.Http;

namespace Wildberries.Host.Tests;

/// <summary>The checkout's hand reader accepts only what the generated code accepts, with the same result.</summary>
public class CheckoutJsonTests
{
    // Read by hand: the common shape.
    [Theory]
    [InlineData("""{"customerId":"c1","lines":[{"sku":1,"qty":2}]}""")]
    [InlineData("""{ "lines" : [ {"qty":1, "sku":9223372036854775807}, {"sku":-5,"qty":-0} ] , "customerId" : "a\u00e9\"b" } """)]
    [InlineData("""{"customerId":"","lines":[]}""")]
    [InlineData("""{"c\u0075stomerId":"c","lines":[{"sku":1,"qty":2147483647}]}""")]
    public void The_common_shape_is_read_by_hand_as_the_generated_code_reads_it(string body)
    {
        Assert.True(CheckoutJson.TryRead(Encoding.UTF8.GetBytes(body), out var fast));
        AssertSame(Generated(body), fast);
    }

    // Left to the generated code: it reads them (another spelling, optional fields) or refuses them.
    [Theory]
    [InlineData("""{"CustomerId":"c","lines":[{"sku":1,"qty":2}]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1,"qty":2}],"warehouses":[1]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1,"qty":2}],"paymentMethod":"card"}""")]
    [InlineData("""{"customerId":"c","customerId":"d","lines":[]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1,"sku":2,"qty":2}]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1,"qty":2,"price":1}]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1}]}""")]
    [InlineData("""{"customerId":"c"}""")]
    [InlineData("""{"lines":[]}""")]
    [InlineData("""{"customerId":null,"lines":[]}""")]
    [InlineData("""{"customerId":"c","lines":null}""")]
    [InlineData("""{"customerId":"c","lines":[null]}""")]
    [InlineData("""{"customerId":1,"lines":[]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":"1","qty":2}]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1.5,"qty":2}]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1e2,"qty":2}]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1,"qty":2147483648}]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":9223372036854775808,"qty":1}]}""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1,"qty":2},]}""")]
    [InlineData("""{"customerId":"c",/* no */"lines":[]}""")]
    [InlineData("""{"customerId":"c","lines":[]} x""")]
    [InlineData("""{"customerId":"c","lines":[]}{}""")]
    [InlineData("""[{"customerId":"c","lines":[]}]""")]
    [InlineData("""{"customerId":"c","lines":[{"sku":1,"qty":2}""")]
    [InlineData("")]
    public void Anything_else_is_left_to_the_generated_code(string body) =>
        Assert.False(CheckoutJson.TryRead(Encoding.UTF8.GetBytes(body), out _));

    [Fact]
    public void A_cart_longer_than_the_hand_reader_takes_is_left_to_the_generated_code()
    {
        var lines = string.Join(",", Enumerable.Range(1, CheckoutJson.LinesMax + 1).Select(i => $$"""{"sku":{{i}},"qty":1}"""));
        Assert.False(CheckoutJson.TryRead(Encoding.UTF8.GetBytes($$"""{"customerId":"c","lines":[{{lines}}]}"""), out _));
        lines = string.Join(",", Enumerable.Range(1, CheckoutJson.LinesMax).Select(i => $$"""{"sku":{{i}},"qty":1}"""));
        Assert.True(CheckoutJson.TryRead(Encoding.UTF8.GetBytes($$"""{"customerId":"c","lines":[{{lines}}]}"""), out var fast));
        Assert.Equal(CheckoutJson.LinesMax, fast!.Lines.Length);
    }

    /// <summary>Random mutations of a good body: whenever the hand reader accepts one, the generated code reads the same.</summary>
    [Fact]
    public void Random_mutations_are_never_read_differently()
    {
        var seed = Wildberries.Testing.TestSeed.Get(line => TestContext.Current.TestOutputHelper?.WriteLine(line), "WB_TEST_SEED");
        var random = new Random(seed);
        var good = Encoding.UTF8.GetBytes("""{"customerId":"c17","lines":[{"sku":12,"qty":1},{"sku":345,"qty":2}]}""");
        const string Alphabet = "{}[]\",:0123456789-.eE skuqtycustomerIdlines\\n";
        for (var i = 0; i < 20_000; i++)
        {
            var body = (byte[])good.Clone();
            for (var m = random.Next(1, 4); m > 0; m--) body[random.Next(body.Length)] = (byte)Alphabet[random.Next(Alphabet.Length)];
            if (!CheckoutJson.TryRead(body, out var fast)) continue;
            var text = Encoding.UTF8.GetString(body);
            AssertSame(Generated(text), fast);
        }
    }

    private static CheckoutBody? Generated(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, ApiJson.Default.CheckoutBody);
        }
        catch (JsonException ex)
        {
            Assert.Fail($"The generated code refuses what the hand reader read: {body}: {ex.Message}");
            return null;
        }
    }

    private static void AssertSame(CheckoutBody? expected, CheckoutBody? actual)
    {
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal(expected.CustomerId, actual.CustomerId);
        Assert.Equal(expected.Lines, actual.Lines);
        Assert.Equal(expected.Warehouses, actual.Warehouses);
        Assert.Equal(expected.PaymentMethod, actual.PaymentMethod);
    }
}
