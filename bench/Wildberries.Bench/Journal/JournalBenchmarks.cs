using BenchmarkDotNet.Attributes;
using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Bench.Journal;

/// <summary>
/// The FASTER journal on this machine's disk: appending a batch of checkouts and committing once (group commit)
/// against committing after every entry, per entry. The per-entry commit is the losing variant that explains the
/// pipeline's endOfBatch commit.
/// </summary>
[InvocationCount(1)]
#pragma warning disable CA1001 // The journal lives for one iteration: IterationCleanup disposes it.
public class JournalBenchmarks
{
    private string _directory = "";
    private FasterJournal _journal = null!;
    private long _lsn;
    private Command _checkout;

    [Params(1, 100, 1_000)]
    public int BatchSize { get; set; }

    [IterationSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("wb-journal-bench-").FullName;
        _journal = new FasterJournal(_directory, new JournalOptions { Directory = _directory });
        foreach (var _ in _journal.ReadAfter(0))
        {
        }
        _lsn = 0;
        _checkout = Command.Checkout("idem-7f3a9c1e-42", "customer-1234567", [new CheckoutLine(42, 1), new CheckoutLine(4242, 2)]);
    }

    [IterationCleanup]
    public void Cleanup()
    {
        _journal.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = 10_000, Description = "append 10,000 entries, commit every BatchSize")]
    public long AppendAndCommit()
    {
        for (var i = 0; i < 10_000; i++)
        {
            var c = _checkout;
            c.Lsn = ++_lsn;
            c.TimestampMs = 1_700_000_000_000;
            _journal.Append(c);
            if (_lsn % BatchSize == 0) _journal.Commit();
        }
        _journal.Commit();
        return _journal.LastLsn;
    }
}
#pragma warning restore CA1001
