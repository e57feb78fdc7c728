using Wildberries.Engine.Replication;

namespace Wildberries.Engine.Tests.Replication;

/// <summary>
/// The command logs of every shard in memory, shared by the nodes of a test (a primary and its standbys), with the
/// contract of <see cref="ICommandLog"/> kept exactly (atomic appends, the fence check over the unread range) and
/// faults a test can switch: the whole log unreachable, records removed to make a gap.
/// </summary>
internal sealed class InMemoryCommandLogs
{
    private readonly Dictionary<int, List<CommandLogRecord>> _shards = [];
    private volatile bool _unavailable;

    /// <summary>While true every call of every node's log throws <see cref="CommandLogUnavailableException"/>.</summary>
    public bool Unavailable
    {
        get => _unavailable;
        set
        {
            _unavailable = value;
            lock (_shards) Monitor.PulseAll(_shards);
        }
    }

    /// <summary>While true appends throw <see cref="CommandLogUnavailableException"/> (reads still work): a write path cut.</summary>
    public bool AppendsFail { get; set; }

    /// <summary>The factory a node's <see cref="ReplicationOptions.CommandLog"/> takes.</summary>
    public ICommandLog Open(int shard) => new Log(this, shard);

    /// <summary>A copy of a shard's records.</summary>
    public CommandLogRecord[] Records(int shard)
    {
        lock (_shards) return [.. Shard(shard)];
    }

    /// <summary>Removes the entry with <paramref name="lsn"/> from a shard's log (a topic that lost data).</summary>
    public void RemoveEntry(int shard, long lsn)
    {
        lock (_shards) Shard(shard).RemoveAll(r => r.Kind == CommandLogRecordKind.Entry && r.Lsn == lsn);
    }

    private List<CommandLogRecord> Shard(int shard)
    {
        if (!_shards.TryGetValue(shard, out var list)) _shards[shard] = list = [];
        return list;
    }

    private void ThrowIfUnavailable()
    {
        if (_unavailable) throw new CommandLogUnavailableException("the in-memory command log is switched off");
    }

    private sealed class Log(InMemoryCommandLogs owner, int shard) : ICommandLog
    {
        public long EndPosition(TimeSpan timeout)
        {
            owner.ThrowIfUnavailable();
            lock (owner._shards) return owner.Shard(shard).Count == 0 ? 0 : owner.Shard(shard)[^1].Position + 1;
        }

        public CommandLogBatch Read(long from, TimeSpan wait, CancellationToken cancellation)
        {
            owner.ThrowIfUnavailable();
            lock (owner._shards)
            {
                var records = owner.Shard(shard);
                var found = records.Where(r => r.Position >= from).Take(1000).ToArray();
                if (found.Length == 0 && wait > TimeSpan.Zero)
                {
                    Monitor.Wait(owner._shards, wait);
                    found = [.. records.Where(r => r.Position >= from).Take(1000)];
                }
                return new CommandLogBatch(found, found.Length == 0 ? from : found[^1].Position + 1);
            }
        }

        public CommandLogAppend Append(IReadOnlyList<CommandLogWrite> writes, int epoch, long verifiedFrom, TimeSpan timeout)
        {
            owner.ThrowIfUnavailable();
            if (owner.AppendsFail) throw new CommandLogUnavailableException("appends to the in-memory command log are switched off");
            lock (owner._shards)
            {
                var records = owner.Shard(shard);
                var first = records.Count == 0 ? 0 : records[^1].Position + 1;
                foreach (var w in writes)
                {
                    var position = records.Count == 0 ? 0 : records[^1].Position + 1;
                    records.Add(new CommandLogRecord(position, w.IsMarker ? CommandLogRecordKind.EpochMarker : CommandLogRecordKind.Entry, epoch, w.Lsn, w.Entry.ToArray()));
                }
                Monitor.PulseAll(owner._shards);
                // Like Kafka here: the batch is in the log, but a newer epoch before it means it does not count.
                var newer = records.FirstOrDefault(r => r.Position >= verifiedFrom && r.Position < first && r.Epoch > epoch);
                if (newer.Epoch > epoch) throw new CommandLogFencedException(newer.Epoch, newer.Position);
                return new CommandLogAppend(first, records[^1].Position + 1);
            }
        }

        public void Dispose()
        {
        }
    }
}
