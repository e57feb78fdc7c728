using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Wildberries.Host.Tests;

/// <summary>The OpenAPI document is a contract clients can generate from: it lints clean and every operation is described.</summary>
public class OpenApiContractTests
{
    /// <summary>
    /// Pinned: a new Redocly release may add rules; upgrading is a change of its own. The 1.x line runs on Node.js 18.17+
    /// (Debian 12's own nodejs); 2.x needs Node.js 20.19+ (the document passes 2.77.0 as well).
    /// </summary>
    public const string RedoclyCli = "@redocly/cli@1.34.20";

    private static async Task<(TestServer Server, string Json)> DocumentAsync()
    {
        var server = await TestServer.StartAsync();
        return (server, await server.Storefront.GetStringAsync("/openapi/v1.json"));
    }

    [Fact]
    public async Task The_document_passes_Redocly_recommended_rules_with_no_errors_or_warnings()
    {
        string json;
        await using (var started = await TestServer.StartAsync())
        {
            json = await started.Storefront.GetStringAsync("/openapi/v1.json");
        }
        var directory = Directory.CreateTempSubdirectory("wb-openapi-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "openapi.json"), json);
            // The configuration (recommended rules, one rule off) and the waivers for three exact locations, beside the document.
            foreach (var file in new[] { "redocly.yaml", ".redocly.lint-ignore.yaml" })
            {
                File.Copy(Path.Combine(AppContext.BaseDirectory, "OpenApi", file), Path.Combine(directory, file));
            }
            var (exit, stdout, stderr) = await RunAsync(directory, "npx", "--yes", RedoclyCli, "lint", "openapi.json", "--config", "redocly.yaml", "--format=json");
            JsonElement report;
            try
            {
                report = JsonDocument.Parse(stdout).RootElement;
            }
            catch (JsonException)
            {
                Assert.Fail($"Redocly did not print a JSON report (exit {exit}).\nstdout:\n{stdout}\nstderr:\n{stderr}");
                return;
            }
            var totals = report.GetProperty("totals");
            var problems = string.Join("\n", report.GetProperty("problems").EnumerateArray().Select(p =>
                $"{p.GetProperty("severity").GetString()} {p.GetProperty("ruleId").GetString()}: {p.GetProperty("message").GetString()} at "
                + string.Join(", ", p.GetProperty("location").EnumerateArray().Select(l => l.GetProperty("pointer").GetString()))));
            Assert.True(totals.GetProperty("errors").GetInt32() == 0 && totals.GetProperty("warnings").GetInt32() == 0,
                $"Redocly {RedoclyCli} lint: {totals}\n{problems}");
            Assert.Equal(0, exit);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Every_mapped_endpoint_has_an_operation_id_summary_tag_roles_and_named_schemas()
    {
        var (server, json) = await DocumentAsync();
        await using var running = server;
        var document = JsonDocument.Parse(json).RootElement;
        var tags = document.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToHashSet();
        var operations = new List<(string Method, string Path, JsonElement Operation)>();
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var method in path.Value.EnumerateObject().Where(m => m.Name is "get" or "put" or "post" or "delete" or "patch"))
            {
                operations.Add((method.Name.ToUpperInvariant(), path.Name, method.Value));
            }
        }

        // Every endpoint the server maps (except those excluded on purpose: the document itself) is in the document.
        var mapped = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (m, "/" + e.RoutePattern.RawText!.TrimStart('/'))))
            .ToHashSet();
        Assert.NotEmpty(mapped);
        Assert.Empty(mapped.Except(operations.Select(o => (o.Method, o.Path))));

        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (method, path, operation) in operations)
        {
            var name = $"{method} {path}";
            Assert.True(operation.TryGetProperty("operationId", out var id) && ids.Add(id.GetString()!), $"{name}: no operationId, or one used twice (.WithName)");
            Assert.True(operation.TryGetProperty("summary", out var summary) && summary.GetString()!.Length > 0, $"{name}: no summary (.WithSummary)");
            Assert.True(operation.TryGetProperty("tags", out var opTags) && opTags.GetArrayLength() > 0 && opTags.EnumerateArray().All(t => tags.Contains(t.GetString())),
                $"{name}: no tag, or one the document does not describe (.WithTags; OpenApiContract.Tags)");
            Assert.True(operation.TryGetProperty("security", out var security), $"{name}: no security requirement (.RequiresAccess)");
            Assert.True(operation.TryGetProperty("x-roles", out var roles) && roles.GetArrayLength() > 0, $"{name}: no x-roles (.RequiresAccess)");
            var roleNames = roles.EnumerateArray().Select(r => r.GetString()).ToArray();
            var responses = operation.GetProperty("responses");
            var statuses = responses.EnumerateObject().Select(r => r.Name).ToHashSet();
            if (security.GetArrayLength() == 0)
            {
                Assert.Equal(["anonymous"], roleNames);
            }
            else
            {
                // A keyed or signed operation refuses a missing credential with a documented 401.
                Assert.DoesNotContain("anonymous", roleNames);
                Assert.Contains("401", statuses);
            }
            if (security.EnumerateArray().Any(s => s.TryGetProperty("bearer", out var scopes) && scopes.GetArrayLength() == 1 && roleNames.Length == 1)) Assert.Contains("403", statuses);
            // Everything but the probes is rate limited.
            if (!path.StartsWith("/health/", StringComparison.Ordinal)) Assert.Contains("429", statuses);

            // Named schemas only: a body is a reference to a component (or an array of them), text, or bytes.
            var bodies = responses.EnumerateObject().Select(r => (r.Name, r.Value)).ToList();
            if (operation.TryGetProperty("requestBody", out var request)) bodies.Add(("request", request));
            foreach (var (status, body) in bodies)
            {
                // A success without a described body is a handler answering something unnamed (an anonymous object
                // gets no schema at all) or a missing .Produces<T>().
                if (status.StartsWith('2') && status != "204") Assert.True(body.TryGetProperty("content", out _), $"{name} {status}: no body schema (.Produces<T>, a record in Contracts.cs)");
                if (!body.TryGetProperty("content", out var content)) continue;
                foreach (var media in content.EnumerateObject())
                {
                    var schema = media.Value.GetProperty("schema");
                    Assert.True(IsNamed(schema), $"{name} {status} {media.Name}: an anonymous schema {schema}");
                    if (status.StartsWith('4') || status.StartsWith('5'))
                    {
                        Assert.Equal(("application/problem+json", "#/components/schemas/Problem"), (media.Name, schema.GetProperty("$ref").GetString()));
                    }
                }
            }
        }
    }

    private static bool IsNamed(JsonElement schema) =>
        schema.TryGetProperty("$ref", out _)
        || (schema.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            && (type.GetString() == "string" || (type.GetString() == "array" && IsNamed(schema.GetProperty("items")))));

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string directory, string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception ex)
        {
            Assert.Fail($"'{program}' could not be started ({ex.Message}): the OpenAPI lint needs Node.js and npm (scripts/install-deps.sh installs them).");
            throw;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            // The first run downloads the pinned CLI from the npm registry.
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{program} {string.Join(' ', arguments)} did not finish in 5 minutes.\n{await stderr}");
            }
            return (process.ExitCode, await stdout, await stderr);
        }
    }
}
